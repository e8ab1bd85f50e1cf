// Issue 8's faults on the relay / agent / wire side, each reproduced with real processes: the relay and the
// local endpoint (the relay embedded on 127.0.0.1) in front of a real gateway agent and a real stdio server
// (e2e/support/slow-server.mjs), the gateway-bridge too where a fault could occur there, and SDK clients.
//  1. request state keyed by a JSON-RPC id is scoped by the client's session;
//  2. a message too large at a boundary fails only its own call, naming the size and the limit;
//  7. a client's cancellation reason reaches the server;
//  8. a client token cannot register as the agent;
//  9. "connected" only after the relay accepted the registration; a refusal is said on both sides.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { GatewayBridge } from '../src-main/cli/gateway-bridge.js';
import { Gateway, type GatewayState } from '../src-main/core/gateway.js';
import { LogHub } from '../src-main/core/logging/log-hub.js';
import { localRelayFactory } from '../src-relay/local-endpoint.js';
import type { RelayLogger } from '../src-relay/relay-log.js';
import type { RelayServer } from '../src-relay/relay-server.js';
import { legacyToken, startGatewayAt } from './support/gateway-agent.js';
import { LegacyRemote } from './support/legacy-peers.js';
import { closeOwned, onCleanup, own } from './support/owned.js';
import { linkState, SECRET, slowServer, startAgent, startRelay } from './support/relay-fixture.js';
import { until, waitForStatus } from './support/wait.js';

const text = (result: unknown) =>
  (result as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : '')).join('');

afterEach(closeOwned);

/** A place MCP clients reach the slow server through, and the log of the gateway that runs it. */
interface Place {
  url: string;
  headers: Record<string, string>;
  logs: LogHub;
}

/** A relay whose log lines are kept, to check what its operator is told. */
function relayLog(): RelayLogger & { lines: string[] } {
  const lines: string[] = [];
  const keep = (...args: unknown[]) => void lines.push(args.map(String).join(' '));
  return { lines, debug: () => undefined, info: keep, warn: keep, error: keep };
}

async function viaRelay(options: { maxFrameBytes?: number } = {}): Promise<Place & { relay: RelayServer }> {
  const relay = own(await startRelay(options));
  const agent = own(await startAgent(relay, { servers: { slow: slowServer() } }));
  await linkState(agent.gateway, 'connected');
  await waitForStatus(agent.gateway.servers, 'slow', (s) => s.state === 'running');
  // What clients are given now: a client token, not the agent's.
  const token = await relay.tokens.issue('alice', ['*'], 60, 'client');
  return {
    relay,
    url: `${relay.url.origin}/alice/slow/mcp`,
    headers: { Authorization: `Bearer ${token}` },
    logs: agent.logs,
  };
}

/** A gateway in a temporary folder serving the slow server, built like the CLI builds one. */
async function localGateway(withEndpoint: boolean): Promise<{ gateway: Gateway; logs: LogHub }> {
  const dir = await mkdtemp(join(tmpdir(), 'mcpgw-faults-'));
  const config = join(dir, 'mcp.json');
  await writeFile(config, JSON.stringify({ mcpServers: { slow: slowServer() } }));
  const logs = new LogHub({ level: 'debug' });
  const gateway = await Gateway.create({
    cwd: dir,
    env: { LOCAL_RELAY_PORT: '0' },
    configPath: config,
    userDirs: { config: join(dir, 'user'), log: join(dir, 'log') },
    logs,
    watch: false,
    ...(withEndpoint ? { localEndpoint: localRelayFactory(logs.logger('local-relay')) } : {}),
  });
  onCleanup(async () => {
    await gateway.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { gateway, logs };
}

async function viaLocalEndpoint(): Promise<Place> {
  const { gateway, logs } = await localGateway(true);
  await gateway.start();
  await linkState(gateway, 'connected');
  await waitForStatus(gateway.servers, 'slow', (s) => s.state === 'running');
  const state = gateway.state as Extract<GatewayState, { state: 'connected' }>;
  return {
    url: state.endpoints['slow']!,
    headers: { Authorization: `Bearer ${gateway.localToken!}` },
    logs,
  };
}

async function viaBridge(): Promise<Place> {
  const { gateway, logs } = await localGateway(false);
  await gateway.start({ connect: false });
  await waitForStatus(gateway.servers, 'slow', (s) => s.state === 'running');
  const bridge = own(
    new GatewayBridge(gateway, logs, { host: '127.0.0.1', sessionIdleMs: 60_000, requestTimeoutMs: 20_000 }),
  );
  const config = await gateway.configFile.load();
  const specs = [...config.servers.values()].flatMap((entry) => (entry.ok ? [entry.spec] : []));
  const [endpoint] = await bridge.listen(specs);
  return { url: endpoint!.url, headers: {}, logs };
}

/** An SDK client whose requests' JSON-RPC ids are recorded, as sent on the wire. */
async function client(place: Place): Promise<{ client: Client; sentIds: unknown[] }> {
  const sentIds: unknown[] = [];
  const recording: typeof fetch = async (input, init) => {
    if (typeof init?.body === 'string') {
      const body = JSON.parse(init.body) as { id?: unknown; method?: string };
      if (body.method === 'tools/call') sentIds.push(body.id);
    }
    return fetch(input, init);
  };
  const sdk = new Client({ name: 'e2e-faults', version: '1.0.0' });
  await sdk.connect(
    new StreamableHTTPClientTransport(new URL(place.url), {
      requestInit: { headers: place.headers },
      fetch: recording,
    }),
  );
  onCleanup(() => sdk.close());
  return { client: sdk, sentIds };
}

const logged = (logs: LogHub, fragment: string) => logs.recent().some((e) => e.message.includes(fragment));

const places: [string, () => Promise<Place>][] = [
  ['the relay', viaRelay],
  ['the local endpoint', viaLocalEndpoint],
  ['the gateway-bridge', viaBridge],
];

describe('item 1: request state is scoped by client session', () => {
  for (const [name, start] of places) {
    it(`${name}: two clients send id 1 to a slow tool; the first cancels; only its own call ends, with its reason (item 7)`, async () => {
      const place = await start();
      const first = await client(place);
      const second = await client(place);
      const stranger = await client(place);

      const controller = new AbortController();
      const firstCall = first.client.callTool(
        { name: 'wait', arguments: { ms: 30_000, label: 'first' } },
        undefined,
        { signal: controller.signal },
      );
      const secondCall = second.client.callTool({ name: 'wait', arguments: { ms: 3000, label: 'second' } });
      await until(
        () => logged(place.logs, 'started: first') && logged(place.logs, 'started: second'),
        10_000,
        'both calls to reach the server',
      );
      // The situation of the issue: both clients used the same JSON-RPC id.
      expect(first.sentIds).toEqual([1]);
      expect(second.sentIds).toEqual([1]);

      // A cancel for id 1 from a client with no call of its own must touch nothing.
      await stranger.client.notification({
        method: 'notifications/cancelled',
        params: { requestId: 1, reason: 'stray' },
      });
      controller.abort('user pressed stop');
      await expect(firstCall).rejects.toThrow();
      await until(
        () => logged(place.logs, 'cancelled: first (reason: user pressed stop)'),
        10_000,
        "the server to see the first client's cancellation, with its reason",
      );
      expect(text(await secondCall)).toBe('waited for second');
      expect(logged(place.logs, 'cancelled: second')).toBe(false);
    });
  }
});

describe('item 1 and 7, with the existing remote (no sessions, no acknowledgement)', () => {
  it('a verbatim notifications/cancelled still aborts the call it names, with the client’s reason', async () => {
    const remote = own(await LegacyRemote.start(SECRET));
    const agent = own(
      await startGatewayAt({
        wsUrl: remote.url,
        token: await legacyToken(SECRET, { sub: 'alice' }),
        servers: { slow: slowServer() },
      }),
    );
    await waitForStatus(agent.gateway.servers, 'slow', (s) => s.state === 'running');
    const link = await remote.connection(0);
    await link.register();
    const call = link.invoke('slow', {
      jsonrpc: '2.0',
      id: 5,
      method: 'tools/call',
      params: { name: 'wait', arguments: { ms: 30_000, label: 'legacy' } },
    });
    await until(() => logged(agent.logs, 'started: legacy'), 10_000, 'the call to reach the server');
    await link.invoke('slow', {
      jsonrpc: '2.0',
      method: 'notifications/cancelled',
      params: { requestId: 5, reason: 'user left' },
    });
    await until(
      () => logged(agent.logs, 'cancelled: legacy (reason: user left)'),
      10_000,
      'the server to see the cancellation with its reason',
    );
    expect(await call).toMatchObject({ jsonrpc: '2.0', id: 5 });
  });

  it('from a relay that acknowledged the registration, the agent obeys cancel frames only', async () => {
    const remote = own(await LegacyRemote.start(SECRET));
    const agent = own(
      await startGatewayAt({
        wsUrl: remote.url,
        token: await legacyToken(SECRET, { sub: 'alice' }),
        servers: { slow: slowServer() },
      }),
    );
    await waitForStatus(agent.gateway.servers, 'slow', (s) => s.state === 'running');
    const link = await remote.connection(0);
    await link.register();
    link.send({ type: 'registered', subject: 'alice' });
    await linkState(agent.gateway, 'connected');
    // Two clients' calls, both with JSON-RPC id 5, as a relay with sessions forwards them.
    const wait = (label: string) => ({
      jsonrpc: '2.0',
      id: 5,
      method: 'tools/call',
      params: { name: 'wait', arguments: { ms: 2500, label } },
    });
    link.send({ type: 'invoke', request_id: 'call-a', mcp_server: 'slow', payload: wait('a') });
    link.send({ type: 'invoke', request_id: 'call-b', mcp_server: 'slow', payload: wait('b') });
    await until(
      () => logged(agent.logs, 'started: a') && logged(agent.logs, 'started: b'),
      10_000,
      'both calls to reach the server',
    );
    // A verbatim cancel names an id both share: it must touch neither.
    await link.invoke('slow', {
      jsonrpc: '2.0',
      method: 'notifications/cancelled',
      params: { requestId: 5 },
    });
    link.send({ type: 'cancel', request_id: 'call-a', reason: 'stop a' });
    await until(() => logged(agent.logs, 'cancelled: a (reason: stop a)'), 10_000, 'a to be cancelled');
    expect(await link.resultOf('call-b')).toMatchObject({
      id: 5,
      result: { content: [{ text: 'waited for b' }] },
    });
    expect(logged(agent.logs, 'cancelled: b')).toBe(false);
  });
});

describe('item 2: a message too large fails only its own call', () => {
  it('a result over the relay’s frame limit: that call fails naming size and limit; the link and other calls stay', async () => {
    const place = await viaRelay({ maxFrameBytes: 1024 * 1024 });
    const agentSocket = place.relay.agents()[0]!.ws;
    const { client: sdk } = await client(place);
    const other = sdk.callTool({ name: 'wait', arguments: { ms: 1500, label: 'bystander' } });
    const big = await sdk.callTool({ name: 'big', arguments: { bytes: 2 * 1024 * 1024 } }).then(
      () => 'answered',
      (error: Error) => error.message,
    );
    expect(big).toMatch(/is 2 MiB, over the 1 MiB limit of a message between agent and relay/);
    expect(text(await other)).toBe('waited for bystander');
    // Same connection, still registered, still serving.
    expect(place.relay.agents()[0]!.ws).toBe(agentSocket);
    expect(text(await sdk.callTool({ name: 'echo', arguments: { message: 'after' } }))).toBe('after');
  });

  it('a stdio reply over the line limit: that call fails naming size and limit; the server is not restarted', async () => {
    const place = await viaRelay();
    const { client: sdk } = await client(place);
    const other = sdk.callTool({ name: 'wait', arguments: { ms: 1500, label: 'bystander' } });
    const bytes = 17 * 1024 * 1024;
    const big = await sdk.callTool({ name: 'big', arguments: { bytes } }).then(
      () => 'answered',
      (error: Error) => error.message,
    );
    expect(big).toMatch(/the server's message is 17 MiB, over the 16 MiB limit of a stdio message/);
    expect(text(await other)).toBe('waited for bystander');
    expect(logged(place.logs, 'exited unexpectedly')).toBe(false);
    expect(text(await sdk.callTool({ name: 'echo', arguments: { message: 'after' } }))).toBe('after');
  });
});

describe('item 8: the token clients get cannot impersonate the agent', () => {
  it('the relay refuses a client token on /connect (and says so); the agent stays; the token works for MCP', async () => {
    const log = relayLog();
    const relay = own(await startRelay({ log }));
    const agent = own(await startAgent(relay, { servers: { slow: slowServer() } }));
    await linkState(agent.gateway, 'connected');
    const agentSocket = relay.agents()[0]!.ws;
    const clientToken = await relay.tokens.issue('alice', ['*'], 60, 'client');

    const impostor = new WebSocket(`${relay.url.origin.replace('http', 'ws')}/connect`, {
      headers: { Authorization: `Bearer ${clientToken}` },
    });
    const refusal = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      impostor.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      impostor.once('open', () => reject(new Error('a client token opened /connect')));
      impostor.once('error', () => undefined);
    });
    impostor.terminate();
    expect(refusal.status).toBe(403);
    expect(refusal.body).toContain('/connect needs an agent token');
    expect(log.lines.some((l) => l.includes('refused an agent connection'))).toBe(true);
    expect(relay.agents()[0]!.ws).toBe(agentSocket);
    expect(agent.gateway.state.state).toBe('connected');

    const { client: sdk } = await client({
      url: `${relay.url.origin}/alice/slow/mcp`,
      headers: { Authorization: `Bearer ${clientToken}` },
      logs: agent.logs,
    });
    expect(text(await sdk.callTool({ name: 'echo', arguments: { message: 'client' } }))).toBe('client');
  });

  it('an agent given a client token by mistake stops with the relay’s reason, not a bare status', async () => {
    const relay = own(await startRelay());
    const agent = own(
      await startGatewayAt({
        wsUrl: `${relay.url.origin.replace('http', 'ws')}/connect`,
        token: await relay.tokens.issue('alice', ['*'], 60, 'client'),
        servers: { slow: slowServer() },
      }),
    );
    await linkState(agent.gateway, 'needs-login', 5000);
    const state = agent.gateway.state as Extract<GatewayState, { state: 'needs-login' }>;
    expect(state.reason).toContain('HTTP 403: a client token cannot register an agent');
    expect(relay.agents()).toHaveLength(0);
  });

  it('the relay issues client tokens to the agent token only, within its capabilities', async () => {
    const relay = own(await startRelay());
    const post = (token: string, body: object) =>
      fetch(new URL('/manage/client-token', relay.url), {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    const agentToken = await relay.tokens.issue('alice', ['slow'], 60);
    const res = await post(agentToken, {});
    expect(res.status).toBe(200);
    const issued = (await res.json()) as { token: string; role: string; capabilities: string[] };
    expect(issued).toMatchObject({ role: 'client', capabilities: ['slow'] });
    const verified = await relay.tokens.verify(issued.token);
    expect(verified.ok && verified.claims).toMatchObject({ sub: 'alice', role: 'client' });
    expect((await post(agentToken, { capabilities: ['*'] })).status).toBe(403);
    expect((await post(issued.token, {})).status).toBe(403);
  });

  it('a client token cannot be exchanged for an agent token of its subject on /manage/jwt/issue', async () => {
    const relay = own(await startRelay({ jwtFallbackEnabled: true }));
    const issue = (token: string) =>
      fetch(new URL('/manage/jwt/issue', relay.url), {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ subject: 'carol' }),
      });
    const first = (await (await issue('')).json()) as { token: string };
    const clientToken = await relay.tokens.issue('carol', ['*'], 60, 'client');
    expect((await issue(clientToken)).status).toBe(409);
    // Its holder (the agent token) still gets a new one.
    expect((await issue(first.token)).status).toBe(200);
  });

  it('the JWT_FALLBACK_ENABLED advice says what it opens and points to the built-in sign-in', async () => {
    const relay = own(await startRelay());
    const res = await fetch(new URL('/manage/jwt/issue', relay.url), { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
    const { error } = (await res.json()) as { error: string };
    expect(error).toContain('anyone who can reach the relay can mint a token for a new subject');
    expect(error).toContain('built-in sign-in');
  });
});

describe('item 9: connected only once the relay accepted the registration', () => {
  it('a refused registration never says "connected", and both sides log why with the fix', async () => {
    const log = relayLog();
    const relay = own(await startRelay({ log }));
    const agent = own(
      await startGatewayAt({
        wsUrl: `${relay.url.origin.replace('http', 'ws')}/connect`,
        token: await legacyToken(SECRET, { sub: 'alice' }),
        servers: { slow: slowServer() },
        env: { SUBJECT: 'bob' },
      }),
    );
    await linkState(agent.gateway, 'error', 5000);
    expect(agent.states.map((s) => s.state.state)).not.toContain('connected');
    const state = agent.gateway.state as Extract<GatewayState, { state: 'error' }>;
    expect(state.reason).toMatch(
      /refused the registration: subject mismatch; the token is not for subject "bob"/,
    );
    expect(state.reason).toContain('logout');
    expect(log.lines.some((l) => /refused the registration of subject "bob": subject mismatch/.test(l))).toBe(
      true,
    );
  });

  it('says "connected" after the relay’s acknowledgement, with the endpoints the relay reported', async () => {
    const relay = own(await startRelay({ publicBaseUrl: 'https://relay.example' }));
    const agent = own(await startAgent(relay, { servers: { slow: slowServer() } }));
    await linkState(agent.gateway, 'connected');
    const state = agent.gateway.state as Extract<GatewayState, { state: 'connected' }>;
    expect(state.endpoints['slow']).toBe('https://relay.example/alice/slow/mcp');
  });
});
