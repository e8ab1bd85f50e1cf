// ResumableCalls (managed-server.ts) against the SDK's order of events for a 2025-era call whose SSE stream
// outlives it: the call times out or is cancelled (LegacyCalls sends notifications/cancelled, the stream is not
// aborted), the server still sends an event with an id on it, then closes it, and the SDK resumes it with a GET
// carrying that id. The GET goes to a real HTTP server on 127.0.0.1 through the fetch given to the SDK.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';

import { ResumableCalls } from './managed-server.js';

let server: Server | undefined;
afterEach(async () => {
  await new Promise((done) => server?.close(done) ?? done(undefined));
  server = undefined;
});

async function listen(): Promise<{ url: string; gets: string[] }> {
  const gets: string[] = [];
  server = createServer((req, res) => {
    if (req.method === 'GET') gets.push(String(req.headers['last-event-id']));
    res.writeHead(200, { 'content-type': 'text/event-stream' }).end();
  });
  await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, gets };
}

const resume = (calls: ResumableCalls, url: string, id: string) =>
  calls.fetch(url, { method: 'GET', headers: { 'last-event-id': id } }).then((r) => r.text());

describe('ResumableCalls', () => {
  it('reports a resumed stream of a call in flight, once per resumption', async () => {
    const { url, gets } = await listen();
    const calls = new ResumableCalls();
    let closed = 0;
    const watch = calls.watch(() => closed++);
    watch.token('7');
    await resume(calls, url, '7');
    expect(closed).toBe(1);
    expect(gets).toEqual(['7']);
    watch.end();
    expect(calls.size).toBe(0);
  });

  it('forgets a call once it ended, even when its stream goes on carrying event ids', async () => {
    const { url, gets } = await listen();
    const calls = new ResumableCalls();
    let closed = 0;
    for (let i = 0; i < 100; i++) {
      const watch = calls.watch(() => closed++);
      watch.token(`${i}-a`);
      watch.end(); // the call timed out or was cancelled
      watch.token(`${i}-b`); // a late event on its stream, as the SDK still reads it
      await resume(calls, url, `${i}-b`); // the server closed it; the SDK resumes it
    }
    expect(gets).toHaveLength(100);
    expect(closed).toBe(0);
    expect(calls.size).toBe(0);
  });
});
