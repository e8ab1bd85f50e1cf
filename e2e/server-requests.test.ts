// A local server's requests to the remote client during a tool call (2025 era): elicitation/create,
// sampling/createMessage and roots/list reach the client over the call's SSE stream through relay and agent
// (the `server_request` / `server_response` frames), and the client's answers reach the server; the caller's
// timeout and cancellation end the server's request too. Real relay, agent, stdio server and SDK client.
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RelayServer } from '../src-relay/relay-server.js';
import { askedClient } from './support/asked-client.js';
import {
  type AgentFixture,
  askingServer,
  linkState,
  startAgent,
  startRelay,
} from './support/relay-fixture.js';
import { waitForStatus } from './support/wait.js';

const text = (result: unknown) =>
  (result as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : '')).join('');

describe('server requests through relay and agent', () => {
  let relay: RelayServer;
  let agent: AgentFixture;
  let url: URL;
  let connect: (answer: (question: string) => Promise<string>) => ReturnType<typeof askedClient>;
  const clients: Client[] = [];

  beforeAll(async () => {
    relay = await startRelay({ requestTimeoutMs: 3000 });
    agent = await startAgent(relay, { servers: { asking: askingServer() } });
    await linkState(agent.gateway, 'connected');
    await waitForStatus(agent.gateway.servers, 'asking', (s) => s.state === 'running');
    url = new URL('/alice/asking/mcp', relay.url);
    const bearer = { Authorization: `Bearer ${agent.token}` };
    connect = (answer) => askedClient(url, answer, bearer);
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await agent?.close();
    await relay?.close();
  });

  it('elicitation, sampling and roots reach the client, and its answers reach the server', async () => {
    const { client, asked } = await connect((question) => Promise.resolve(`yes to "${question}"`));
    clients.push(client);
    expect(text(await client.callTool({ name: 'ask', arguments: { question: 'Deploy now?' } }))).toBe(
      'accept: yes to "Deploy now?"',
    );
    expect(text(await client.callTool({ name: 'sample', arguments: { prompt: 'relays' } }))).toBe(
      'sampled: a poem about relays',
    );
    expect(text(await client.callTool({ name: 'roots', arguments: {} }))).toBe(
      'roots: file:///home/alice/project',
    );
    expect(asked).toEqual(['Deploy now?', 'sampling: relays', 'roots']);
  });

  it("with two calls in flight a question is refused, never put to the other call's client", async () => {
    let release: () => void = () => undefined;
    const one = await connect((q) => new Promise((resolve) => (release = () => resolve(`one: ${q}`))));
    const two = await connect((q) => Promise.resolve(`two: ${q}`));
    clients.push(one.client, two.client);
    const first = one.client.callTool({ name: 'ask', arguments: { question: 'first' } });
    await expect.poll(() => one.asked).toEqual(['first']);
    // The 2025 era does not say which call a server request belongs to: with two in flight, nobody is asked.
    expect(text(await two.client.callTool({ name: 'ask', arguments: { question: 'second' } }))).toMatch(
      /^failed: (MCP error -32603: )?2 calls to "asking" are in progress/,
    );
    expect(two.asked).toEqual([]);
    release();
    expect(text(await first)).toBe('accept: one: first');
  });

  it('a client that reads a plain JSON answer cannot be asked: the server gets an error at once', async () => {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${agent.token}`,
        'Content-Type': 'application/json',
        Accept: 'application/json',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'ask', arguments: { question: 'anyone?' } },
      }),
    });
    expect(res.status).toBe(200);
    expect(text(((await res.json()) as { result: unknown }).result)).toMatch(
      /^failed: .*plain JSON answer and cannot be asked elicitation\/create/,
    );
  });

  it("the caller's timeout ends the server's request", async () => {
    let release: () => void = () => undefined;
    const { client, asked } = await connect(
      () => new Promise((resolve) => (release = () => resolve('too late'))),
    );
    clients.push(client);
    // The relay gives up after its REQUEST_TIMEOUT (3 s here) and cancels the call at the agent.
    await expect(client.callTool({ name: 'ask', arguments: { question: 'slow?' } })).rejects.toThrow(
      /did not answer within/,
    );
    expect(asked).toEqual(['slow?']);
    release();
    await expect
      .poll(async () => text(await client.callTool({ name: 'last_outcome', arguments: {} })), {
        timeout: 5000,
      })
      .toMatch(/^failed: .*timed out/);
  });

  it("the caller's cancellation ends the server's request", async () => {
    const { client, asked } = await connect(() => new Promise(() => undefined));
    clients.push(client);
    const controller = new AbortController();
    const call = client.callTool({ name: 'ask', arguments: { question: 'cancel me' } }, undefined, {
      signal: controller.signal,
    });
    await expect.poll(() => asked).toEqual(['cancel me']);
    controller.abort(new Error('the user closed the dialog'));
    await expect(call).rejects.toThrow(/closed the dialog/);
    await expect
      .poll(async () => text(await client.callTool({ name: 'last_outcome', arguments: {} })), {
        timeout: 5000,
      })
      .toMatch(/^failed: .*the user closed the dialog/);
  });
});
