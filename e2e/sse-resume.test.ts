// POST answers as resumable SSE streams (spec 2025-11-25, "Sending Messages to the Server", "Resumability and
// Redelivery"; SEP-1699), through a real relay and a real agent in front of the conformance fixture (an HTTP
// local server of both eras): a 2025-11-25 client that accepts SSE gets the priming event and `retry:` before
// its answer; older and JSON-only clients keep JSON; and when the local server closes its stream of a call
// mid-call (its `test_reconnection` tool), the client's stream is closed too, and the client resumes it with
// GET + Last-Event-ID and gets the result there.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SSE_RETRY_MS } from '../src-relay/sse-stream.js';
import { startConformanceServer } from './support/conformance-server.js';
import type { HttpFixture } from './support/mcp-fixtures.js';
import { type AgentFixture, linkState, startAgent, startRelay } from './support/relay-fixture.js';

type Relay = Awaited<ReturnType<typeof startRelay>>;

interface SseEvent {
  id?: string;
  retry?: number;
  data: string;
}

/** The events of a whole SSE body (a `retry:` alone is an event of its own here, with empty data). */
function events(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const event: SseEvent = { data: '' };
      for (const line of block.split('\n')) {
        const [field, ...rest] = line.split(':');
        const value = rest.join(':').replace(/^ /, '');
        if (field === 'id') event.id = value;
        else if (field === 'retry') event.retry = Number(value);
        else if (field === 'data') event.data += value;
      }
      return event;
    });
}

describe('POST answers as resumable SSE streams', () => {
  let fixture: HttpFixture;
  let relay: Relay;
  let agent: AgentFixture;
  let url: string;

  beforeAll(async () => {
    fixture = await startConformanceServer();
    relay = await startRelay({ allowUnauthMcp: true });
    agent = await startAgent(relay, { servers: { conformance: { url: fixture.url } } });
    await linkState(agent.gateway, 'connected');
    url = new URL('/alice/conformance/mcp', relay.url).href;
  }, 60_000);

  afterAll(async () => {
    await agent?.close();
    await relay?.close();
    await fixture?.close();
  });

  /** A session of `version`: its id, after initialize and notifications/initialized. */
  async function session(version: string): Promise<Record<string, string>> {
    const post = (body: object, headers: Record<string, string> = {}) =>
      fetch(url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
          ...headers,
        },
        body: JSON.stringify({ jsonrpc: '2.0', ...body }),
      });
    const init = await post({
      id: 0,
      method: 'initialize',
      params: {
        protocolVersion: version,
        capabilities: {},
        clientInfo: { name: 'sse-resume', version: '1' },
      },
    });
    expect(init.status).toBe(200);
    // initialize itself stays JSON: its version is agreed only by its answer.
    expect(init.headers.get('content-type')).toBe('application/json');
    expect(((await init.json()) as { result: { protocolVersion: string } }).result.protocolVersion).toBe(
      version,
    );
    const headers = {
      'Mcp-Session-Id': init.headers.get('mcp-session-id')!,
      'MCP-Protocol-Version': version,
    };
    expect((await post({ method: 'notifications/initialized' }, headers)).status).toBe(202);
    return headers;
  }

  const call = (
    headers: Record<string, string>,
    tool: string,
    accept = 'application/json, text/event-stream',
  ) =>
    fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: accept, ...headers },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: tool, arguments: {} },
      }),
    });

  it('answers a 2025-11-25 client that accepts both as SSE: retry, the priming event, then the answer', async () => {
    const headers = await session('2025-11-25');
    const response = await call(headers, 'test_simple_text');
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const [retry, priming, answer, ...rest] = events(await response.text());
    expect(retry).toEqual({ retry: SSE_RETRY_MS, data: '' });
    expect(priming?.id).toMatch(/^\d+$/);
    expect(priming?.data).toBe('');
    expect(Number(answer?.id)).toBeGreaterThan(Number(priming?.id));
    expect(JSON.parse(answer!.data)).toMatchObject({
      jsonrpc: '2.0',
      id: 1,
      result: { content: [{ type: 'text' }] },
    });
    expect(rest).toEqual([]);
  });

  it('keeps JSON for a 2025-11-25 client that accepts only JSON, and for a 2025-06-18 client', async () => {
    const json = await call(await session('2025-11-25'), 'test_simple_text', 'application/json');
    expect(json.headers.get('content-type')).toBe('application/json');
    expect(await json.json()).toMatchObject({ id: 1, result: { content: [{ type: 'text' }] } });
    const older = await call(await session('2025-06-18'), 'test_simple_text');
    expect(older.headers.get('content-type')).toBe('application/json');
    expect(await older.json()).toMatchObject({ id: 1, result: { content: [{ type: 'text' }] } });
  });

  it('closes the stream when the local server closes its own mid-call; GET + Last-Event-ID gets the result', async () => {
    const headers = await session('2025-11-25');
    const response = await call(headers, 'test_reconnection');
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    // The stream ends with what the client got before the local server closed its own: no result.
    const before = events(await response.text());
    expect(before.map((event) => event.data)).toEqual(['', '']);
    const lastEventId = before.at(-1)!.id!;
    expect(lastEventId).toMatch(/^\d+$/);
    const resumed = await fetch(url, {
      headers: { Accept: 'text/event-stream', 'Last-Event-ID': lastEventId, ...headers },
    });
    expect(resumed.headers.get('content-type')).toBe('text/event-stream');
    const after = events(await resumed.text()).filter((event) => event.data !== '');
    expect(after).toHaveLength(1);
    expect(Number(after[0]!.id)).toBeGreaterThan(Number(lastEventId));
    expect(JSON.parse(after[0]!.data)).toMatchObject({
      id: 1,
      result: { content: [{ type: 'text', text: 'the result after the client resumed the stream' }] },
    });
  });

  it('keeps the stream of a client that cannot resume open until the result (2025-06-18: no priming)', async () => {
    const response = await call(await session('2025-06-18'), 'test_reconnection', 'text/event-stream');
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const got = events(await response.text()).filter((event) => event.data !== '');
    expect(got).toHaveLength(1);
    expect(JSON.parse(got[0]!.data)).toMatchObject({
      id: 1,
      result: { content: [{ type: 'text', text: 'the result after the client resumed the stream' }] },
    });
  });
});
