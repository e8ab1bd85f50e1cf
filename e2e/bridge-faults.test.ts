// The bridge's fault acceptance points: the relay restarts or is unreachable, the agent goes away mid-call,
// the link goes half-open, tokens are wrong or for someone else, and peers send frames that are malformed
// or too big. Real relay, real agents, real sockets and local servers; every timing is measured, not slept.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import type { Gateway, GatewayState } from '../src-main/core/gateway.js';
import type { RelayServer } from '../src-relay/relay-server.js';
import { MAX_FRAME_BYTES } from '../src-shared/wire.js';
import { legacyToken, startGatewayAt } from './support/gateway-agent.js';
import { LegacyAgent, LegacyRemote } from './support/legacy-peers.js';
import { closeOwned, own } from './support/owned.js';
import {
  type AgentFixture,
  connectClient,
  linkState,
  SECRET,
  slowServer,
  startAgent,
  startRelay,
} from './support/relay-fixture.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { until, waitForStatus } from './support/wait.js';

type Json = Record<string, unknown>;
const text = (result: unknown) =>
  (result as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : '')).join('');

afterEach(closeOwned);

const wsUrlOf = (relay: RelayServer) => `${relay.url.origin.replace('http', 'ws')}/connect`;

type Agent = Pick<AgentFixture, 'gateway' | 'logs' | 'close'>;

/**
 * An agent serving only the slow server (a small stdio MCP server) for `subject`, connected to `relay`
 * directly (startAgent), or through `wsUrl` (a proxy in front of it).
 */
async function slowAgent(
  relay: RelayServer,
  options: { subject?: string; wsUrl?: string; pingIntervalMs?: number } = {},
): Promise<Agent> {
  const servers = { slow: slowServer() };
  const agent = own(
    options.wsUrl
      ? await startGatewayAt({
          wsUrl: options.wsUrl,
          token: await relay.tokens.issue(options.subject ?? 'alice', ['*'], 60),
          servers,
          pingIntervalMs: options.pingIntervalMs,
        })
      : await startAgent(relay, {
          subject: options.subject,
          servers,
          pingIntervalMs: options.pingIntervalMs,
        }),
  );
  await waitForStatus(agent.gateway.servers, 'slow', (s) => s.state === 'running');
  return agent;
}

/** Resolves with the time the gateway's link leaves `state` (now, if it is not in it). */
function leaves(gateway: Gateway, state: string, timeoutMs = 10_000): Promise<number> {
  if (gateway.state.state !== state) return Promise.resolve(Date.now());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      gateway.off('state', check);
      reject(new Error(`the link stayed ${state}`));
    }, timeoutMs);
    const check = (next: GatewayState) => {
      if (next.state === state) return;
      clearTimeout(timer);
      gateway.off('state', check);
      resolve(Date.now());
    };
    gateway.on('state', check);
  });
}

async function echoThrough(relay: RelayServer, subject: string, token: string, message: string) {
  const client = await connectClient(relay, subject, 'slow', token);
  try {
    return text(await client.callTool({ name: 'echo', arguments: { message } }));
  } finally {
    await client.close();
  }
}

async function healthz(relay: RelayServer): Promise<Json> {
  const res = await fetch(new URL('/healthz', relay.url));
  expect(res.status).toBe(200);
  return (await res.json()) as Json;
}

describe('relay restarted', () => {
  it('has the agent back and serving within 3 s', async () => {
    const first = own(await startRelay());
    const port = Number(first.url.port);
    const agent = await slowAgent(first);
    await until(() => first.agents().length === 1, 5000, 'the agent');
    expect(agent.gateway.state.state).toBe('connected');
    const token = await first.tokens.issue('alice', ['*'], 60);

    const started = Date.now();
    await first.close();
    const second = own(await startRelay({ port }));
    await until(() => second.agents().some((a) => a.subject === 'alice'), 3000, 'the agent to register');
    expect(await echoThrough(second, 'alice', token, 'after the restart')).toBe('after the restart');
    const elapsed = Date.now() - started;
    console.log(`[measured] relay restart → agent serving again: ${elapsed} ms`);
    expect(elapsed).toBeLessThan(3000);
  });
});

describe('servers change while the link is opening', () => {
  it('does not abort the handshake: one upgrade, registered with the servers as they are then', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const remote = own(await LegacyRemote.start(SECRET, { beforeAccept: () => held }));
    const agent = own(
      await startGatewayAt({
        wsUrl: remote.url,
        token: await legacyToken(SECRET, { sub: 'alice' }),
        servers: { slow: slowServer() },
      }),
    );
    await until(() => remote.upgrades.length === 1, 5000, 'the upgrade');
    // The server starts (status events) while the upgrade is held open.
    await waitForStatus(agent.gateway.servers, 'slow', (s) => s.state === 'running');
    release();
    const link = await remote.connection(0);
    expect(await link.register()).toMatchObject({ subject: 'alice', capabilities: ['slow'] });
    await linkState(agent.gateway, 'connected');
    expect(remote.upgrades).toHaveLength(1);
    expect(agent.states.filter((s) => s.state.state === 'connecting')).toHaveLength(1);
  });
});

describe('relay unreachable', () => {
  it('retries with jittered delays within [initial, max]', async () => {
    const unreachable = own(await TcpProxy.start()); // accepts, then resets every connection
    const agent = own(
      await startGatewayAt({
        wsUrl: unreachable.wsUrl,
        token: await legacyToken(SECRET, { sub: 'alice' }),
        env: { RECONNECT_INITIAL_DELAY_SECONDS: '0.1', RECONNECT_MAX_DELAY_SECONDS: '0.4' },
      }),
    );
    const delays: number[] = [];
    const onState = (state: GatewayState) => {
      if (state.state === 'connecting' && state.nextRetryAt !== undefined)
        delays.push(state.nextRetryAt - Date.now());
    };
    agent.gateway.on('state', onState);
    await until(() => delays.length >= 6, 10_000, 'six retries');
    agent.gateway.off('state', onState);
    console.log(`[measured] retry delays: ${delays.map((d) => d.toFixed(0)).join(', ')} ms`);
    for (const delay of delays) {
      expect(delay).toBeGreaterThanOrEqual(100 - 2); // the clock may tick between scheduling and reading
      expect(delay).toBeLessThanOrEqual(400);
    }
    expect(new Set(delays).size).toBeGreaterThan(1);
    // The agent really tried each time (one TCP connection per attempt), and never stopped trying.
    expect(unreachable.attempts).toBeGreaterThanOrEqual(6);
    expect(agent.gateway.state.state).toBe('connecting');
  });
});

describe('agent gone mid-call', () => {
  const dropSocket = (_agent: Agent, relay: RelayServer) => relay.agents()[0]!.ws!.terminate();
  const shutDown = (agent: Agent) => void agent.close();
  it.each([
    ['the relay drops the agent socket', dropSocket],
    ['the agent shuts down', shutDown],
  ])('gives the client an error within 1 s when %s', async (name, kill) => {
    const relay = own(await startRelay());
    const agent = await slowAgent(relay);
    await until(() => relay.agents().length === 1, 5000, 'the agent');
    const token = await relay.tokens.issue('alice', ['*'], 60);
    const client = own(await connectClient(relay, 'alice', 'slow', token));
    const call = client.callTool({ name: 'wait', arguments: { ms: 20_000, label: 'mid-call' } });
    const settled = call.then(
      () => ({ ok: true as const, at: Date.now() }),
      (error: unknown) => ({ ok: false as const, at: Date.now(), error }),
    );
    await until(
      () => agent.logs.recent().some((e) => e.message.includes('started: mid-call')),
      5000,
      'the call to reach the server',
    );
    const killedAt = Date.now();
    kill(agent, relay);
    const outcome = await settled;
    const latency = outcome.at - killedAt;
    console.log(`[measured] ${name} → client error after ${latency} ms`);
    expect(outcome.ok).toBe(false);
    expect(String(outcome.ok ? '' : outcome.error)).toMatch(/the agent disconnected/);
    expect(latency).toBeLessThan(1000);
    // Nothing is left hanging: the relay holds no call, and the agent aborted the local one (when it shuts
    // down, it stops the server as well, which may not get to log it).
    expect(relay.agents().every((a) => a.inFlight === 0)).toBe(true);
    if (kill === dropSocket)
      await until(
        () => agent.logs.recent().some((e) => e.message.includes('cancelled: mid-call')),
        5000,
        'the local call to be aborted',
      );
  });
});

describe('half-open connection', () => {
  it('is detected within two ping intervals, and the agent reconnects', async () => {
    const intervalMs = 200;
    const relay = own(await startRelay());
    const proxy = own(await TcpProxy.start(relay.url));
    const agent = await slowAgent(relay, { wsUrl: proxy.wsUrl, pingIntervalMs: intervalMs });
    await until(() => relay.agents().length === 1, 5000, 'the agent');
    const frozenSocket = relay.agents()[0]!.ws;

    const frozenAt = Date.now();
    proxy.freeze(); // nothing flows any more, yet neither side sees a close
    const detectedAt = await leaves(agent.gateway, 'connected', 5000);
    const detection = detectedAt - frozenAt;
    console.log(`[measured] half-open detected after ${detection} ms (ping interval ${intervalMs} ms)`);
    expect(detection).toBeLessThanOrEqual(2 * intervalMs + 100);
    expect(agent.logs.recent().some((e) => e.message.includes('no pong from the relay'))).toBe(true);

    await until(() => relay.agents().some((a) => a.ws !== frozenSocket), 5000, 'the agent to register again');
    const token = await relay.tokens.issue('alice', ['*'], 60);
    expect(await echoThrough(relay, 'alice', token, 'after half-open')).toBe('after half-open');
    expect(proxy.attempts).toBe(2);
  });
});

describe('tokens and subjects', () => {
  /** An agent whose relay resets every connection: a retrying agent, to compare attempt counts with. */
  async function retryingControl() {
    const proxy = own(await TcpProxy.start());
    own(
      await startGatewayAt({
        wsUrl: proxy.wsUrl,
        token: await legacyToken(SECRET, { sub: 'control' }),
        env: { RECONNECT_INITIAL_DELAY_SECONDS: '0.1', RECONNECT_MAX_DELAY_SECONDS: '0.2' },
      }),
    );
    return proxy;
  }

  it('a wrong token: needs-login, and exactly one attempt (no reconnect storm)', async () => {
    const relay = own(await startRelay());
    const proxy = own(await TcpProxy.start(relay.url));
    const agent = own(
      await startGatewayAt({
        wsUrl: proxy.wsUrl,
        token: await legacyToken('another-secret-entirely-0123456789', { sub: 'alice' }),
        env: { RECONNECT_INITIAL_DELAY_SECONDS: '0.1', RECONNECT_MAX_DELAY_SECONDS: '0.2' },
      }),
    );
    await linkState(agent.gateway, 'needs-login', 5000);
    const state = agent.gateway.state as Extract<GatewayState, { state: 'needs-login' }>;
    // The relay's own reason, from the body of its 401, not only the status.
    expect(state.reason).toMatch(/refused the token \(HTTP 401: the token is not valid for this relay\)/);
    // No sleep: wait while an agent with the same backoff, whose relay resets it, retries five times
    // (about a second); the refused agent must not have tried again meanwhile.
    const control = await retryingControl();
    await until(() => control.attempts >= 5, 10_000, 'the control agent to retry');
    expect(proxy.attempts).toBe(1);
    expect(agent.gateway.state.state).toBe('needs-login');
    expect(relay.agents()).toHaveLength(0);
  });

  it('a token whose sub is not SUBJECT: closed 4403, state error "subject mismatch", no retry', async () => {
    const relay = own(await startRelay());
    const proxy = own(await TcpProxy.start(relay.url));
    const agent = own(
      await startGatewayAt({
        wsUrl: proxy.wsUrl,
        token: await legacyToken(SECRET, { sub: 'alice' }),
        env: {
          SUBJECT: 'mallory',
          RECONNECT_INITIAL_DELAY_SECONDS: '0.1',
          RECONNECT_MAX_DELAY_SECONDS: '0.2',
        },
      }),
    );
    await linkState(agent.gateway, 'error', 5000);
    const state = agent.gateway.state as Extract<GatewayState, { state: 'error' }>;
    expect(state.reason).toContain('subject mismatch');
    const control = await retryingControl();
    await until(() => control.attempts >= 5, 10_000, 'the control agent to retry');
    expect(proxy.attempts).toBe(1);
    expect(relay.agents()).toHaveLength(0);
  });

  it('the same subject twice: the older connection gets 1012 and its agent says another took over', async () => {
    const relay = own(await startRelay());
    // An existing-style agent first: it sees the close code itself.
    const token = await relay.tokens.issue('alice', ['*'], 60);
    const raw = own(
      await LegacyAgent.connect(wsUrlOf(relay), token, { subject: 'alice', capabilities: ['slow'] }),
    );
    await raw.waitFor((f) => f['type'] === 'registered');

    const older = await slowAgent(relay);
    expect(await raw.closed).toEqual({ code: 1012, reason: 'superseded' });
    await linkState(older.gateway, 'connected');
    const olderSocket = relay.agents()[0]!.ws;

    const newer = await slowAgent(relay);
    await linkState(older.gateway, 'error', 5000);
    const state = older.gateway.state as Extract<GatewayState, { state: 'error' }>;
    expect(state.reason).toMatch(/another agent connected with subject "alice" and took over/);
    expect(newer.gateway.state.state).toBe('connected');
    await until(() => relay.agents()[0]?.ws !== olderSocket, 5000, 'the newer agent to hold the subject');
    expect(relay.agents()).toHaveLength(1);
    expect(await echoThrough(relay, 'alice', token, 'to the newer')).toBe('to the newer');
    // The older one stays down: no tug of war over the subject.
    expect(older.gateway.state.state).toBe('error');
  });
});

describe('subject isolation', () => {
  it("subject A's token cannot reach subject B; no token is 401", async () => {
    const relay = own(await startRelay());
    await slowAgent(relay, { subject: 'alice' });
    await slowAgent(relay, { subject: 'bob' });
    await until(() => relay.agents().length === 2, 5000, 'both agents');
    const alice = await relay.tokens.issue('alice', ['*'], 60);
    const bob = await relay.tokens.issue('bob', ['*'], 60);
    const call = (token?: string) =>
      fetch(new URL('/bob/slow/mcp', relay.url), {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: 'echo', arguments: { message: 'for bob' } },
        }),
      });

    const withAlice = await call(alice);
    expect(withAlice.status).toBe(403);
    expect(await withAlice.json()).toMatchObject({ ok: false, error: expect.any(String) as unknown });
    const anonymous = await call();
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
    await expect(connectClient(relay, 'bob', 'slow', alice)).rejects.toThrow();
    // Bob's own token does reach bob.
    expect(await echoThrough(relay, 'bob', bob, 'hi bob')).toBe('hi bob');
  });
});

describe('malformed and oversized frames, agent → relay', () => {
  const maxFrameBytes = 64 * 1024;

  async function relayWithAgent() {
    const relay = own(await startRelay({ maxFrameBytes }));
    await slowAgent(relay, { subject: 'alice' });
    await until(() => relay.agents().length === 1, 5000, 'the agent');
    return { relay, aliceToken: await relay.tokens.issue('alice', ['*'], 60) };
  }

  async function stillServes(relay: RelayServer, aliceToken: string) {
    expect(await healthz(relay)).toMatchObject({ ok: true, agents: 1 });
    expect(await echoThrough(relay, 'alice', aliceToken, 'still here')).toBe('still here');
  }

  it.each([
    ['a frame that is not JSON', 'this is {not json'],
    ['a result frame without request_id', JSON.stringify({ type: 'result', result: {} })],
    ['a notification frame without payload', JSON.stringify({ type: 'notification', mcp_server: 'x' })],
  ])('%s after register: closed 1008; the relay serves the others', async (_name, frame) => {
    const { relay, aliceToken } = await relayWithAgent();
    const token = await relay.tokens.issue('mallory', ['*'], 60);
    const raw = own(
      await LegacyAgent.connect(wsUrlOf(relay), token, { subject: 'mallory', capabilities: [] }),
    );
    await raw.waitFor((f) => f['type'] === 'registered');
    raw.ws.send(frame);
    expect(await raw.closed).toEqual({ code: 1008, reason: 'malformed frame' });
    await stillServes(relay, aliceToken);
  });

  it.each([
    ['not JSON', 'garbage', 'malformed frame'],
    [
      'not register',
      JSON.stringify({ type: 'result', request_id: 'r', result: {} }),
      'the first frame must be register',
    ],
  ])('a first frame that is %s: closed 1008; the relay serves the others', async (_name, frame, reason) => {
    const { relay, aliceToken } = await relayWithAgent();
    const token = await relay.tokens.issue('mallory', ['*'], 60);
    const ws = new WebSocket(wsUrlOf(relay), { headers: { Authorization: `Bearer ${token}` } });
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      ws.once('close', (code, why) => resolve({ code, reason: why.toString() })),
    );
    ws.once('open', () => ws.send(frame));
    expect(await closed).toEqual({ code: 1008, reason });
    await stillServes(relay, aliceToken);
  });

  it('a frame larger than maxFrameBytes: closed 1009, its calls learn why; the relay survives', async () => {
    const { relay, aliceToken } = await relayWithAgent();
    const token = await relay.tokens.issue('mallory', ['*'], 60);
    const raw = own(
      await LegacyAgent.connect(
        wsUrlOf(relay),
        token,
        { subject: 'mallory', capabilities: ['notes'] },
        { answer: false },
      ),
    );
    await raw.waitFor((f) => f['type'] === 'registered');
    // A call in flight to that agent (an older one: it does not check sizes before sending).
    const call = fetch(new URL('/mallory/notes/mcp', relay.url), {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    const invoke = await raw.waitFor((f) => f['type'] === 'invoke');
    const huge = {
      type: 'result',
      request_id: invoke['request_id'],
      result: { blob: 'x'.repeat(maxFrameBytes) },
    };
    raw.ws.send(JSON.stringify(huge));
    expect((await raw.closed).code).toBe(1009);
    // The first cause reaches the caller, not only "disconnected".
    const answer = await call;
    expect(answer.status).toBe(503);
    expect(((await answer.json()) as Json)['error']).toBe(
      "the agent sent a message over the relay's 64 KiB frame limit, which closed its connection",
    );
    await stillServes(relay, aliceToken);
  });
});

describe('malformed and oversized frames, relay → agent', () => {
  it('the agent ignores garbage, answers a malformed invoke with {ok:false}, survives an oversized frame', async () => {
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
    const ping = (id: number) => link.invoke('slow', { jsonrpc: '2.0', id, method: 'ping' });

    link.send('not json at all {');
    link.ws.send(Buffer.from([0, 1, 2, 3])); // binary
    link.send({ type: 'invoke' }); // no request_id: nothing to answer
    link.send({ type: 'cancel' });
    expect(await ping(1)).toEqual({ jsonrpc: '2.0', id: 1, result: {} });

    // Malformed invokes that carry a request_id get an agent-level failure, as the existing agent's.
    link.send({
      type: 'invoke',
      request_id: 'no-server',
      payload: { jsonrpc: '2.0', id: 2, method: 'ping' },
    });
    expect(await link.resultOf('no-server')).toEqual({ ok: false, error: expect.any(String) as unknown });
    link.send({ type: 'invoke', request_id: 'no-payload', mcp_server: 'slow' });
    expect(await link.resultOf('no-payload')).toMatchObject({ ok: false });
    link.send({ type: 'invoke', request_id: 'not-rpc', mcp_server: 'slow', payload: { hello: 1 } });
    expect(await link.resultOf('not-rpc')).toMatchObject({ ok: false });
    expect(remote.connections).toHaveLength(1);
    // The existing remote sends no acknowledgement: the agent says "connected" once the grace period passed.
    await linkState(agent.gateway, 'connected');

    // Larger than the agent's frame limit (16 MiB and room for the envelope): it closes with 1009, then
    // reconnects and serves.
    link.send(
      JSON.stringify({
        type: 'invoke',
        request_id: 'big',
        mcp_server: 'slow',
        pad: 'x'.repeat(MAX_FRAME_BYTES),
      }),
    );
    expect((await link.closed).code).toBe(1009);
    const again = await remote.connection(1);
    await again.register();
    expect(
      await again.invoke('slow', {
        jsonrpc: '2.0',
        id: 3,
        method: 'tools/call',
        params: { name: 'echo', arguments: { message: 'back' } },
      }),
    ).toMatchObject({
      id: 3,
      result: { content: [{ type: 'text', text: 'back' }] },
    });
    expect(agent.gateway.servers.get('slow')?.status.state).toBe('running');
  });
});
