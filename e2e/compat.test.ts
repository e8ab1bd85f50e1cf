// Wire compatibility with the existing Python system (../shared/COMPAT.md), both ways:
// (a) OUR agent driven by a stand-in for the existing remote that speaks exactly its frames;
// (b) a stand-in for the existing agent (register and result, nothing else) served through OUR relay.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RelayServer } from '../src-relay/relay-server.js';
import { startConformanceServer } from './support/conformance-server.js';
import { type GatewayAgent, legacyToken, startGatewayAt } from './support/gateway-agent.js';
import { LegacyAgent, LegacyRemote, type LegacyRemoteConnection } from './support/legacy-peers.js';
import { serverEverything } from './support/mcp-fixtures.js';
import { askingServer, connectClient, linkState, SECRET, startRelay } from './support/relay-fixture.js';
import { until, waitForStatus } from './support/wait.js';

type Json = Record<string, unknown>;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const text = (result: unknown) =>
  (result as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : '')).join('');

describe('our agent, driven by the existing remote', () => {
  let remote: LegacyRemote;
  let agent: GatewayAgent;
  let link: LegacyRemoteConnection;
  let token: string;

  beforeAll(async () => {
    remote = await LegacyRemote.start(SECRET);
    token = await legacyToken(SECRET, { sub: 'compat-user', capabilities: ['everything'] });
    agent = await startGatewayAt({
      wsUrl: remote.url,
      token,
      servers: { everything: serverEverything() },
    });
    link = await remote.connection(0);
    await linkState(agent.gateway, 'connected');
    await waitForStatus(agent.gateway.servers, 'everything', (s) => s.state === 'running');
  });
  afterAll(async () => {
    await agent?.close();
    await remote?.close();
  });

  it('sends the token as an Authorization bearer on the upgrade, never in the query string', () => {
    expect(remote.upgrades).toHaveLength(1);
    const request = remote.upgrades[0]!;
    expect(request.headers.authorization).toBe(`Bearer ${token}`);
    const url = new URL(request.url ?? '', 'http://remote');
    expect(url.pathname).toBe('/connect');
    expect(url.search).toBe('');
    expect(request.url).not.toContain(token.slice(-20));
  });

  it('registers first with the subject of the token and the announced servers; needs no acknowledgement', async () => {
    const register = await link.register();
    expect(link.frames[0]?.json).toBe(register);
    expect(register).toMatchObject({
      type: 'register',
      subject: 'compat-user',
      capabilities: ['everything'],
    });
    // The existing remote never answers register: the agent is connected anyway, with endpoint URLs
    // derived from the remote's address.
    const state = agent.gateway.state;
    expect(state.state).toBe('connected');
    if (state.state !== 'connected') return;
    const base = remote.url.replace(/^ws/, 'http').replace(/\/connect$/, '');
    expect(state.endpoints).toEqual({ everything: `${base}/compat-user/everything/mcp` });
  });

  it('answers initialize itself, echoing the requested protocolVersion, and {} for notifications/initialized', async () => {
    const result = await link.invoke('everything', {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: '2025-03-26',
        capabilities: {},
        clientInfo: { name: 'legacy-client', version: '1.0.0' },
      },
    });
    expect(result).toMatchObject({
      jsonrpc: '2.0',
      id: 1,
      result: {
        protocolVersion: '2025-03-26',
        serverInfo: { name: expect.stringContaining('everything') as unknown },
        capabilities: { tools: expect.any(Object) as unknown },
      },
    });
    const initialized = await link.invoke('everything', {
      jsonrpc: '2.0',
      method: 'notifications/initialized',
    });
    expect(initialized).toEqual({});
  });

  it('lists and calls tools of the local server (mcp_server key)', async () => {
    const list = await link.invoke('everything', { jsonrpc: '2.0', id: 'list-1', method: 'tools/list' });
    expect(list['id']).toBe('list-1');
    const tools = (list['result'] as { tools: { name: string }[] }).tools;
    expect(tools.map((t) => t.name)).toContain('echo');

    const call = await link.invoke('everything', {
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'echo', arguments: { message: 'from the old remote' } },
    });
    expect(call).toMatchObject({ jsonrpc: '2.0', id: 2 });
    expect(text(call['result'])).toContain('from the old remote');
  });

  it('accepts the key "capability" in place of "mcp_server"', async () => {
    const call = await link.invoke(
      'everything',
      {
        jsonrpc: '2.0',
        id: 3,
        method: 'tools/call',
        params: { name: 'echo', arguments: { message: 'named by capability' } },
      },
      { key: 'capability' },
    );
    expect(call).toMatchObject({ jsonrpc: '2.0', id: 3 });
    expect(text(call['result'])).toContain('named by capability');
  });

  it('answers {"ok": false, "error"} for a server it does not serve', async () => {
    const result = await link.invoke('nope', { jsonrpc: '2.0', id: 4, method: 'tools/list' });
    expect(result).toEqual({ ok: false, error: expect.stringContaining('nope') as unknown });
  });

  it('ignores a frame type it does not know and keeps serving on the same connection', async () => {
    link.send({ type: 'hello-from-the-future', request_id: 'x', anything: [1, 2, 3] });
    link.send({ type: 'registered', subject: 'compat-user' }); // an ack this agent did not wait for
    const ping = await link.invoke('everything', { jsonrpc: '2.0', id: 5, method: 'ping' });
    expect(ping).toEqual({ jsonrpc: '2.0', id: 5, result: {} });
    expect(remote.connections).toHaveLength(1);
    expect(link.ws.readyState).toBe(link.ws.OPEN);
    expect(agent.gateway.state.state).toBe('connected');
    // Nothing was answered for the unknown frame: every result frame names an invoke we sent.
    const results = link.frames.filter((f) => f.json?.['type'] === 'result');
    expect(results.every((f) => UUID.test(f.json?.['request_id'] as string))).toBe(true);
  });
});

describe('our agent, with a server that asks its client, driven by the existing remote', () => {
  it('never sends it a server_request frame: the server gets an error at once', async () => {
    const remote = await LegacyRemote.start(SECRET);
    const agent = await startGatewayAt({
      wsUrl: remote.url,
      token: await legacyToken(SECRET, { sub: 'compat-user', capabilities: ['asking'] }),
      servers: { asking: askingServer() },
    });
    try {
      const link = await remote.connection(0);
      await linkState(agent.gateway, 'connected');
      await waitForStatus(agent.gateway.servers, 'asking', (s) => s.state === 'running');
      const call = await link.invoke('asking', {
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'ask', arguments: { question: 'anyone?' } },
      });
      expect(text(call['result'])).toMatch(/^failed: .*relay does not pass elicitation\/create on/);
      expect(link.frames.some((f) => f.json?.['type'] === 'server_request')).toBe(false);
    } finally {
      await agent.close();
      await remote.close();
    }
  });

  it('never sends it a stream_closed frame: a local server closing its stream mid-call just answers later', async () => {
    const fixture = await startConformanceServer();
    const remote = await LegacyRemote.start(SECRET);
    const agent = await startGatewayAt({
      wsUrl: remote.url,
      token: await legacyToken(SECRET, { sub: 'compat-user', capabilities: ['conformance'] }),
      servers: { conformance: { url: fixture.url } },
    });
    try {
      const link = await remote.connection(0);
      await linkState(agent.gateway, 'connected');
      await waitForStatus(agent.gateway.servers, 'conformance', (s) => s.state === 'running');
      const call = await link.invoke('conformance', {
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'test_reconnection', arguments: {} },
      });
      expect(text(call['result'])).toBe('the result after the client resumed the stream');
      expect(link.frames.map((f) => f.json?.['type'])).not.toContain('stream_closed');
    } finally {
      await agent.close();
      await remote.close();
      await fixture.close();
    }
  });
});

describe('the existing agent, served through our relay', () => {
  let relay: RelayServer;
  let legacy: LegacyAgent;
  let token: string;
  const endpoint = (kind: 'mcp' | 'sse') => new URL(`/legacy/echo/${kind}`, relay.url);
  const post = (kind: 'mcp' | 'sse', body: unknown, headers: Record<string, string> = {}) =>
    fetch(endpoint(kind), {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    relay = await startRelay();
    token = await legacyToken(SECRET, { sub: 'legacy', capabilities: ['echo'] });
    legacy = await LegacyAgent.connect(`${relay.url.origin.replace('http', 'ws')}/connect`, token, {
      subject: 'legacy',
      capabilities: ['echo'],
    });
    await until(() => relay.agents().some((a) => a.subject === 'legacy'), 5000, 'the legacy agent');
  });
  afterAll(async () => {
    await legacy?.close();
    await relay?.close();
  });

  it('accepts a bare register; the agent ignores our registered frame and stays connected', async () => {
    const registered = await legacy.waitFor((f) => f['type'] === 'registered');
    expect(registered['subject']).toBe('legacy');
    const agent = relay.agents()[0]!;
    expect([...agent.capabilities]).toEqual(['echo']);
    expect(agent.features.size).toBe(0);
    expect(legacy.ws.readyState).toBe(legacy.ws.OPEN);
  });

  it('serves an SDK client over Streamable HTTP', async () => {
    const client = await connectClient(relay, 'legacy', 'echo', token);
    try {
      expect(client.getServerVersion()).toEqual({ name: 'legacy-echo', version: '0.1.7' });
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toEqual(['echo']);
      expect(text(await client.callTool({ name: 'echo', arguments: { message: 'sdk' } }))).toBe(
        'legacy: sdk',
      );
      await client.ping();
    } finally {
      await client.close();
    }
    // The relay spoke only compat frames to it: invoke with mcp_server, a uuid request_id, the payload.
    expect(legacy.invokes.length).toBeGreaterThan(0);
    for (const invoke of legacy.invokes) {
      expect(Object.keys(invoke).sort()).toEqual(['mcp_server', 'payload', 'request_id', 'type']);
      expect(invoke['mcp_server']).toBe('echo');
      expect(invoke['request_id']).toMatch(UUID);
    }
    expect(legacy.frames.some((f) => f.json?.['type'] === 'cancel')).toBe(false);
  });

  it('answers a plain POST without a session with JSON', async () => {
    const res = await post('mcp', {
      jsonrpc: '2.0',
      id: 7,
      method: 'tools/call',
      params: { name: 'echo', arguments: { message: 'plain' } },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('mcp-session-id')).toBeNull();
    const body = (await res.json()) as Json;
    expect(body).toMatchObject({ jsonrpc: '2.0', id: 7 });
    expect(text(body['result'])).toBe('legacy: plain');
  });

  it('accepts the body wrapper {"payload": …}', async () => {
    const res = await post('mcp', { payload: { jsonrpc: '2.0', id: 'w', method: 'tools/list' } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json;
    expect(body).toMatchObject({ jsonrpc: '2.0', id: 'w', result: { tools: [{ name: 'echo' }] } });
  });

  it('POST /{subject}/{server}/sse returns the result as an SSE event', async () => {
    const res = await post('sse', {
      jsonrpc: '2.0',
      id: 8,
      method: 'tools/call',
      params: { name: 'echo', arguments: { message: 'as an event' } },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = (await res.text())
      .split('\n\n')
      .filter((block) => block.includes('data:'))
      .map((block) => {
        const data = block
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).trimStart())
          .join('\n');
        return JSON.parse(data) as Json;
      });
    const answer = events.find((e) => e['id'] === 8);
    expect(answer).toMatchObject({ jsonrpc: '2.0', id: 8 });
    expect(text(answer?.['result'])).toBe('legacy: as an event');
  });
});
