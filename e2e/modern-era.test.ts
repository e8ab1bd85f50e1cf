// The 2026-07-28 era on the relay's MCP URL: SDK v2 clients (@modelcontextprotocol/client) in `auto` mode and
// pinned to 2026-07-28 list and call tools of server-everything (a 2025-era stdio server) through relay and
// agent, on the same URL an SDK v1 client uses in the 2025 era; closing a call's stream cancels it at the
// server.
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RelayServer } from '../src-relay/relay-server.js';
import { serverEverything } from './support/mcp-fixtures.js';
import { callAsk } from './support/modern-ask.js';
import {
  type AgentFixture,
  askingServer,
  linkState,
  slowServer,
  startAgent,
  startRelay,
} from './support/relay-fixture.js';
import { until, waitForStatus } from './support/wait.js';

const text = (result: object) =>
  (((result as { content?: unknown }).content ?? []) as { text?: string }[])
    .map((c) => c.text ?? '')
    .join('');

describe('the 2026-07-28 era through relay and agent', () => {
  let relay: RelayServer;
  let agent: AgentFixture;
  let url: URL;
  let headers: Record<string, string>;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    relay = await startRelay();
    agent = await startAgent(relay, {
      servers: { everything: serverEverything(), slow: slowServer(), asking: askingServer() },
    });
    await linkState(agent.gateway, 'connected');
    await waitForStatus(agent.gateway.servers, 'everything', (s) => s.state === 'running');
    await waitForStatus(agent.gateway.servers, 'slow', (s) => s.state === 'running');
    await waitForStatus(agent.gateway.servers, 'asking', (s) => s.state === 'running');
    url = new URL('/alice/everything/mcp', relay.url);
    headers = { Authorization: `Bearer ${agent.token}` };
  });
  afterAll(async () => {
    for (const close of closers) await close();
    await agent?.close();
    await relay?.close();
  });

  const connectV2 = async (
    mode: 'auto' | { pin: '2026-07-28' },
    target = url,
    capabilities: Record<string, object> = {},
  ) => {
    const client = new Client(
      { name: 'v2-client', version: '1.0.0' },
      { versionNegotiation: { mode }, capabilities },
    );
    await client.connect(new StreamableHTTPClientTransport(target, { requestInit: { headers } }));
    closers.push(() => client.close());
    return client;
  };

  for (const mode of ['auto', { pin: '2026-07-28' }] as const) {
    it(`an SDK v2 client (${JSON.stringify(mode)}) lists and calls tools in the modern era`, async () => {
      const client = await connectV2(mode);
      expect(client.getProtocolEra()).toBe('modern');
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('echo');
      expect(text(await client.callTool({ name: 'echo', arguments: { message: 'modern' } }))).toContain(
        'modern',
      );
    });
  }

  it('an SDK v1 client on the same URL keeps the 2025 era', async () => {
    const client = new ClientV1({ name: 'v1-client', version: '1.0.0' });
    await client.connect(new TransportV1(url, { requestInit: { headers } }));
    closers.push(() => client.close());
    expect(client.getServerVersion()?.name).toBeTruthy();
    const result = await client.callTool({ name: 'echo', arguments: { message: 'legacy' } });
    expect(text(result)).toContain('legacy');
  });

  it("closing a call's stream cancels the call at the server", async () => {
    const client = await connectV2({ pin: '2026-07-28' }, new URL('/alice/slow/mcp', relay.url));
    const controller = new AbortController();
    const call = client.callTool(
      { name: 'wait', arguments: { ms: 20_000, label: 'modern-abandoned' } },
      { signal: controller.signal },
    );
    const logged = (text: string) => agent.logs.recent().some((e) => e.message.includes(text));
    await expect.poll(() => logged('started: modern-abandoned'), { timeout: 10_000 }).toBe(true);
    controller.abort('the user moved on');
    await expect(call).rejects.toThrow();
    await expect.poll(() => logged('cancelled: modern-abandoned'), { timeout: 10_000 }).toBe(true);
  });

  it('a subscriptions/listen stream gets the list changes it asked for, tagged with its subscription id', async () => {
    const slow = new URL('/alice/slow/mcp', relay.url);
    const meta = {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientCapabilities': {},
    };
    const post = (method: string, params: Record<string, unknown>, signal?: AbortSignal) =>
      fetch(slow, {
        method: 'POST',
        signal,
        headers: {
          ...headers,
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
          'MCP-Protocol-Version': '2026-07-28',
          'Mcp-Method': method,
          ...(typeof params['name'] === 'string' ? { 'Mcp-Name': params['name'] } : {}),
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: { ...params, _meta: meta } }),
      });
    const controller = new AbortController();
    const listen = await post(
      'subscriptions/listen',
      { notifications: { toolsListChanged: true } },
      controller.signal,
    );
    expect(listen.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = listen.body!.pipeThrough(new TextDecoderStream()).getReader();
    let received = '';
    const frames = () =>
      received
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map(
          (line) =>
            JSON.parse(line.slice(6)) as { method?: string; params?: { _meta?: Record<string, unknown> } },
        );
    const readUntil = async (count: number) => {
      while (frames().length < count) received += (await reader.read()).value ?? '';
    };
    await readUntil(1);
    expect(frames()[0]?.method).toBe('notifications/subscriptions/acknowledged');
    const id = frames()[0]?.params?._meta?.['io.modelcontextprotocol/subscriptionId'];
    expect(id).toEqual(expect.any(String));
    const announce = await post('tools/call', { name: 'announce', arguments: {} });
    expect(announce.status).toBe(200);
    await readUntil(2);
    // The log message the tool also sent is not a list change: only the tools change reaches this stream.
    expect(frames()[1]).toMatchObject({
      method: 'notifications/tools/list_changed',
      params: { _meta: { 'io.modelcontextprotocol/subscriptionId': id } },
    });
    const open = relay.openStreams();
    controller.abort();
    await until(() => relay.openStreams() === open - 1, 5000, 'the listen stream to close at the relay');
  });

  it("a legacy server's elicitation reaches a modern client as input-required, and the answer reaches the server", async () => {
    const asking = new URL('/alice/asking/mcp', relay.url);
    const client = await connectV2({ pin: '2026-07-28' }, asking, { elicitation: {}, roots: {} });
    const asked: string[] = [];
    client.setRequestHandler('elicitation/create', (request) => {
      const message = 'message' in request.params ? request.params.message : '';
      asked.push(message);
      return { action: 'accept', content: { answer: `modern yes to ${message}` } };
    });
    client.setRequestHandler('roots/list', () => ({ roots: [{ uri: 'file:///srv/modern' }] }));
    expect(text(await client.callTool({ name: 'ask', arguments: { question: 'Ship it?' } }))).toBe(
      'accept: modern yes to Ship it?',
    );
    expect(text(await client.callTool({ name: 'roots', arguments: {} }))).toBe('roots: file:///srv/modern');
    expect(asked).toEqual(['Ship it?']);
    // A client without the sampling capability is never asked: the call is refused with -32021 (2026-07-28,
    // MissingRequiredClientCapability; the conformance suite's server-stateless scenario checks it).
    await expect(client.callTool({ name: 'sample', arguments: { prompt: 'x' } })).rejects.toMatchObject({
      code: -32021,
    });
  });

  it('a requestState that was altered is refused (-32602, HTTP 400)', async () => {
    const asking = new URL('/alice/asking/mcp', relay.url);
    const call = (extra: Record<string, unknown>) => callAsk(asking, headers, { question: 'tamper?' }, extra);
    const first = (await (await call({})).json()) as {
      result: { resultType: string; requestState: string; inputRequests: Record<string, { method: string }> };
    };
    expect(first.result.resultType).toBe('input_required');
    expect(Object.values(first.result.inputRequests)[0]?.method).toBe('elicitation/create');
    const key = Object.keys(first.result.inputRequests)[0]!;
    const answer = { [key]: { action: 'accept', content: { answer: 'forged' } } };
    const tampered = await call({ requestState: `${first.result.requestState}x`, inputResponses: answer });
    expect(tampered.status).toBe(400);
    expect(((await tampered.json()) as { error: { code: number } }).error.code).toBe(-32602);
    // The genuine state still completes the call.
    const genuine = await call({ requestState: first.result.requestState, inputResponses: answer });
    const done = (await genuine.json()) as { result: { resultType: string } };
    expect(done.result).toMatchObject({ resultType: 'complete' });
    expect(text(done.result)).toBe('accept: forged');
  });
});
