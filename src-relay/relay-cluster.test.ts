// The relay's side of routing between nodes (relay-cluster.ts), against a real redis-server, with the other node
// played by a plain ioredis connection (fault injection: a node that answers, one that goes silent, one that
// dies, one that sends garbage). e2e/cluster.test.ts runs real relay processes; this pins the message contract
// (src-shared/cluster.ts) and the failure paths that need a misbehaving peer.
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { listenStream } from '../e2e/support/mcp-streams.js';
import { type RedisFixture, startRedis } from '../e2e/support/redis.js';
import { startRelay } from '../e2e/support/relay-fixture.js';
import { until } from '../e2e/support/wait.js';
import { NodeMessage } from '../src-shared/cluster.js';
import type { AgentConnection } from './agent-connection.js';
import { RelayCluster } from './relay-cluster.js';
import { silentLogger } from './relay-log.js';
import type { RelayServer } from './relay-server.js';

const PREFIX = 'mcpassistant:';
/** A 2025-11-25 client's initialize request, as the session tests open their sessions. */
const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
};
type Json = Record<string, unknown>;

/** Another relay node, played by hand: it subscribes to its channel and does what the test says. */
class FakeNode {
  readonly pub: Redis;
  readonly sub: Redis;
  readonly received: NodeMessage[] = [];
  onMessage: (message: NodeMessage) => void = () => undefined;

  constructor(
    url: string,
    readonly id: string,
  ) {
    this.pub = new Redis(url);
    this.sub = new Redis(url);
    this.sub.on('message', (_channel: string, text: string) => {
      const message = NodeMessage.parse(JSON.parse(text));
      this.received.push(message);
      this.onMessage(message);
    });
  }

  async join(subject: string): Promise<void> {
    await this.sub.subscribe(`${PREFIX}node:${this.id}`);
    await this.heartbeat();
    const location = { node: this.id, capabilities: ['srv'], features: ['cancel'], connected_at: Date.now() };
    await this.pub.set(`${PREFIX}agent:${subject}`, JSON.stringify(location));
  }

  heartbeat(): Promise<number> {
    return this.pub.publish(`${PREFIX}cluster`, JSON.stringify({ type: 'heartbeat', node: this.id }));
  }

  send(to: string, message: Json): Promise<number> {
    return this.pub.publish(`${PREFIX}node:${to}`, JSON.stringify(message));
  }

  close(): void {
    this.pub.disconnect();
    this.sub.disconnect();
  }
}

/** Kills the Redis connection named `name` (CLIENT KILL): a subscriber dropping as in a network blip. */
async function killConnection(redis: Redis, name: string): Promise<void> {
  const clients = (await redis.client('LIST')) as string;
  const line = clients.split('\n').find((l) => l.includes(` name=${name} `));
  expect(line, `a Redis connection named ${name}`).toBeDefined();
  await redis.client('KILL', 'ID', /\bid=(\d+)/.exec(line!)![1]!);
}

/** `promise`'s value, or false when it has not settled within `ms`. */
const settlesWithin = (promise: Promise<boolean>, ms: number): Promise<boolean> =>
  Promise.race([promise, new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms).unref())]);

describe('routing calls to another relay node', () => {
  let redis: RedisFixture;
  let relay: RelayServer;
  let nodeId: string;
  let fake: FakeNode | undefined;
  let subject = '';
  let n = 0;

  beforeAll(async () => {
    redis = await startRedis();
    relay = await startRelay({ redisUrl: redis.url, requestTimeoutMs: 20_000 });
    const health = (await (await fetch(new URL('/healthz', relay.url))).json()) as {
      cluster: { node: string };
    };
    nodeId = health.cluster.node;
  });
  afterEach(() => fake?.close());
  afterAll(async () => {
    await relay?.close();
    await redis?.close();
  });

  const newFake = async () => {
    subject = `bob${++n}`;
    fake = new FakeNode(redis.url, `fake-${n}`);
    await fake.join(subject);
    return fake;
  };
  const call = async (body: Json = { name: 'echo', arguments: {} }) => {
    const token = await relay.tokens.issue(subject, ['*'], 60);
    const started = Date.now();
    const res = await fetch(new URL(`/${subject}/srv/mcp`, relay.url), {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${token}`,
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: body }),
    });
    return { status: res.status, text: await res.text(), ms: Date.now() - started };
  };

  it("carries a call to the holder's channel and its answer and progress back to the client", async () => {
    const node = await newFake();
    node.onMessage = (message) => {
      if (message.type !== 'invoke') return;
      const progress = {
        jsonrpc: '2.0',
        method: 'notifications/progress',
        params: { progressToken: 'p1', progress: 1 },
      };
      void node.send(message.from, { type: 'notification', call_id: message.call_id, payload: progress });
      void node.send(message.from, {
        type: 'result',
        call_id: message.call_id,
        result: {
          jsonrpc: '2.0',
          id: message.payload.id,
          result: { content: [{ type: 'text', text: 'from B' }] },
        },
      });
    };
    const answer = await call({ name: 'echo', arguments: {}, _meta: { progressToken: 'p1' } });
    expect(answer.status).toBe(200);
    // Asked for progress: an SSE stream, the progress first, then the result.
    expect(answer.text.indexOf('notifications/progress')).toBeGreaterThan(-1);
    expect(answer.text.indexOf('notifications/progress')).toBeLessThan(answer.text.indexOf('from B'));
    expect(node.received[0]).toMatchObject({
      type: 'invoke',
      from: nodeId,
      subject,
      server: 'srv',
      scope: '',
      timeout_ms: 20_000,
      // The client reads SSE: it can be asked the server's requests.
      ask: true,
      payload: { id: 7, method: 'tools/call' },
    });
  });

  it("carries a 2026-07-28 caller's era to the holder, and the local server's input key back to the client", async () => {
    const node = await newFake();
    node.onMessage = (message) => {
      if (message.type !== 'invoke') return;
      // The front reads the tools' x-mcp-header marks first.
      if (message.payload.method === 'tools/list') {
        void node.send(message.from, {
          type: 'result',
          call_id: message.call_id,
          result: { jsonrpc: '2.0', id: message.payload.id, result: { tools: [] } },
        });
        return;
      }
      // The agent behind B names the question as the local server did.
      void node.send(message.from, {
        type: 'server_request',
        call_id: message.call_id,
        ask_id: 'ask-1',
        input_key: 'user_name',
        payload: {
          jsonrpc: '2.0',
          id: 'ask-1',
          method: 'elicitation/create',
          params: { message: 'Your name?', requestedSchema: { type: 'object', properties: {} } },
        },
      });
    };
    const token = await relay.tokens.issue(subject, ['*'], 60);
    const res = await fetch(new URL(`/${subject}/srv/mcp`, relay.url), {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${token}`,
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        'MCP-Protocol-Version': '2026-07-28',
        'Mcp-Method': 'tools/call',
        'Mcp-Name': 'greet',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 8,
        method: 'tools/call',
        params: {
          name: 'greet',
          arguments: {},
          _meta: {
            'io.modelcontextprotocol/protocolVersion': '2026-07-28',
            'io.modelcontextprotocol/clientCapabilities': { elicitation: {} },
          },
        },
      }),
    });
    const answer = (await res.json()) as {
      result?: { resultType?: string; inputRequests?: Record<string, { method: string }> };
    };
    expect(answer.result?.resultType).toBe('input_required');
    expect(Object.keys(answer.result?.inputRequests ?? {})).toEqual(['user_name']);
    const invoke = node.received.find(
      (message) => message.type === 'invoke' && message.payload.method === 'tools/call',
    );
    expect(invoke).toMatchObject({ type: 'invoke', client_era: 'modern', ask: true });
  });

  it('ignores malformed messages on its channels and keeps serving', async () => {
    const node = await newFake();
    node.onMessage = (message) => {
      if (message.type === 'invoke')
        void node.send(message.from, {
          type: 'result',
          call_id: message.call_id,
          result: { jsonrpc: '2.0', id: message.payload.id, result: { content: [] } },
        });
    };
    await node.pub.publish(`${PREFIX}node:${nodeId}`, 'not json');
    await node.send(nodeId, { type: 'result', call_id: 42 });
    await node.send(nodeId, { type: 'invoke', call_id: 'x' });
    await node.pub.publish(`${PREFIX}cluster`, JSON.stringify({ type: 'agent_up', subject: 7 }));
    await node.pub.publish(`${PREFIX}cluster`, '[]');
    expect((await call()).status).toBe(200);
  });

  it('fails a call at once when no node listens where the location says (with a clear error)', async () => {
    const node = await newFake();
    await node.sub.unsubscribe();
    const answer = await call();
    expect(answer.status).toBe(503);
    expect(answer.text).toMatch(/relay node that holds the agent .* stopped answering/);
    expect(answer.ms).toBeLessThan(2000);
  });

  it("fails a call in flight at once when this node's own subscription to Redis drops (its answer may be lost)", async () => {
    // Pub/sub delivers at most once: an answer published while this node's subscriber reconnects is gone, and
    // the holding node, alive and listening, gives no other sign. The caller must not wait for its timeout.
    const node = await newFake();
    const beat = setInterval(() => void node.heartbeat(), 500);
    try {
      node.onMessage = (message) => {
        if (message.type !== 'invoke') return;
        void (async () => {
          await killConnection(node.pub, 'mcpassistant-cluster-sub');
        })();
      };
      const answer = await call();
      expect(answer.status).toBe(503);
      expect(answer.text).toMatch(/lost its connection to Redis .* try again/);
      expect(answer.ms).toBeLessThan(5000);
    } finally {
      clearInterval(beat);
    }
  });

  it('fails a call in flight within a heartbeat when the holding node dies (its connection gone from Redis)', async () => {
    const node = await newFake();
    node.onMessage = (message) => {
      if (message.type === 'invoke') node.sub.disconnect(); // dies with the call in flight
    };
    const answer = await call();
    expect(answer.status).toBe(503);
    expect(answer.text).toMatch(/stopped answering/);
    expect(answer.ms).toBeLessThan(3000);
    const health = (await (await fetch(new URL('/healthz', relay.url))).json()) as {
      cluster: { outgoing: number; incoming: number };
    };
    expect(health.cluster).toMatchObject({ outgoing: 0, incoming: 0 });
  });

  it('fails a call in flight when the holding node goes silent (no heartbeat for 5 s), well before the timeout', async () => {
    const node = await newFake();
    const beat = setInterval(() => void node.heartbeat(), 500);
    node.onMessage = (message) => {
      if (message.type === 'invoke') clearInterval(beat); // frozen: still subscribed, never answers
    };
    try {
      const answer = await call();
      expect(answer.status).toBe(503);
      expect(answer.text).toMatch(/stopped answering/);
      expect(answer.ms).toBeGreaterThan(3000);
      expect(answer.ms).toBeLessThan(10_000);
      // The caller gave up: the holder is told to abort.
      await expect.poll(() => node.received.map((m) => m.type)).toEqual(['invoke', 'abort']);
    } finally {
      clearInterval(beat);
    }
  });

  it('a client cancel goes to the holding node as a cancel of that call', async () => {
    const node = await newFake();
    const token = await relay.tokens.issue(subject, ['*'], 60);
    const post = (message: Json, session?: string) =>
      fetch(new URL(`/${subject}/srv/mcp`, relay.url), {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${token}`,
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
          ...(session && { 'Mcp-Session-Id': session, 'MCP-Protocol-Version': '2025-11-25' }),
        },
        body: JSON.stringify(message),
      });
    node.onMessage = (message) => {
      if (message.type === 'invoke' && message.payload.method === 'initialize')
        void node.send(message.from, {
          type: 'result',
          call_id: message.call_id,
          result: {
            jsonrpc: '2.0',
            id: message.payload.id,
            result: {
              protocolVersion: '2025-11-25',
              capabilities: {},
              serverInfo: { name: 'f', version: '1' },
            },
          },
        });
      if (message.type === 'cancel') {
        const invoke = node.received.find((m) => m.type === 'invoke' && m.payload.id === 9);
        if (invoke?.type === 'invoke')
          void node.send(invoke.from, {
            type: 'result',
            call_id: message.call_id,
            result: { jsonrpc: '2.0', id: 9, error: { code: -32800, message: 'cancelled' } },
          });
      }
    };
    const init = await post(INITIALIZE);
    const session = init.headers.get('mcp-session-id')!;
    expect(session).toBeTruthy();
    const pending = post({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'wait' } }, session);
    await expect.poll(() => node.received.some((m) => m.type === 'invoke' && m.payload.id === 9)).toBe(true);
    const cancelled = await post(
      { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 9, reason: 'stop' } },
      session,
    );
    expect(cancelled.status).toBe(202);
    const invoke = node.received.find((m) => m.type === 'invoke' && m.payload.id === 9)!;
    await expect.poll(() => node.received.some((m) => m.type === 'cancel')).toBe(true);
    expect(node.received.find((m) => m.type === 'cancel')).toEqual({
      type: 'cancel',
      call_id: invoke.type === 'invoke' ? invoke.call_id : '',
      reason: 'stop',
    });
    expect(await (await pending).text()).toMatch(/cancelled/);
  });

  it("passes the holder's stream_closed on: the client's stream ends, and its resumption gets the result", async () => {
    const node = await newFake();
    const token = await relay.tokens.issue(subject, ['*'], 60);
    const url = new URL(`/${subject}/srv/mcp`, relay.url);
    const headers = (session?: string): Record<string, string> => ({
      Authorization: `Bearer ${token}`,
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      ...(session && { 'Mcp-Session-Id': session, 'MCP-Protocol-Version': '2025-11-25' }),
    });
    const post = (message: Json, session?: string) =>
      fetch(url, { method: 'POST', headers: headers(session), body: JSON.stringify(message) });
    let finish: (() => void) | undefined;
    node.onMessage = (message) => {
      if (message.type !== 'invoke' || message.payload.id === undefined) return;
      const answer = (result: Json) =>
        void node.send(message.from, {
          type: 'result',
          call_id: message.call_id,
          result: { jsonrpc: '2.0', id: message.payload.id, result },
        });
      if (message.payload.method === 'initialize')
        return answer({
          protocolVersion: '2025-11-25',
          capabilities: {},
          serverInfo: { name: 'f', version: '1' },
        });
      // The local server closed its stream of the call: the result comes later, when the test says.
      void node.send(message.from, { type: 'stream_closed', call_id: message.call_id });
      finish = () => answer({ content: [{ type: 'text', text: 'after the resumption' }] });
    };
    const init = await post(INITIALIZE);
    const session = init.headers.get('mcp-session-id')!;
    const call = await post(
      { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'poll' } },
      session,
    );
    expect(call.headers.get('content-type')).toBe('text/event-stream');
    // The stream ends after its priming event, the call still in flight at the holder.
    const before = await call.text();
    expect(before).not.toContain('"id":5');
    const primingId = /^id: (\d+)$/m.exec(before)?.[1];
    expect(primingId).toBeDefined();
    // The caller asked for it: an older node, which does not send stream_closed, is never asked.
    expect(node.received.find((m) => m.type === 'invoke' && m.payload.id === 5)).toMatchObject({
      stream_close: true,
    });
    expect(finish).toBeDefined();
    const resumed = await fetch(url, {
      headers: { ...headers(session), Accept: 'text/event-stream', 'Last-Event-ID': primingId! },
    });
    expect(resumed.headers.get('content-type')).toBe('text/event-stream');
    finish!();
    const after = await resumed.text();
    expect(after).toContain('after the resumption');
    expect(after).toContain('"id":5');
  });
});

/** A bare agent on `relay`'s /connect: registers `subject` with one server; resolves once registered. */
async function bareAgent(
  relay: RelayServer,
  subject: string,
): Promise<{ ws: WebSocket; closed: Promise<number> }> {
  const token = await relay.tokens.issue(subject, ['*'], 60);
  const ws = new WebSocket(new URL('/connect', relay.url.href.replace(/^http/, 'ws')), {
    headers: { Authorization: `Bearer ${token}` },
  });
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject);
    ws.once('open', () => ws.send(JSON.stringify({ type: 'register', subject, capabilities: ['srv'] })));
    ws.on('message', (data: Buffer) => {
      if ((JSON.parse(data.toString('utf8')) as { type?: string }).type === 'registered') resolve();
    });
  });
  return { ws, closed };
}

describe('one agent per subject across relays', () => {
  it('an agent registering on another relay supersedes the older socket (1012), as on one relay', async () => {
    const redis = await startRedis();
    const relays = [
      await startRelay({ redisUrl: redis.url }),
      await startRelay({ redisUrl: redis.url }),
    ] as const;
    try {
      const first = await bareAgent(relays[0], 'carol');
      const second = await bareAgent(relays[1], 'carol');
      expect(await first.closed).toBe(1012);
      // The first relay now routes carol's calls to the second.
      const health = async (relay: RelayServer) =>
        ((await (await fetch(new URL('/healthz', relay.url))).json()) as { agents: number }).agents;
      expect([await health(relays[0]), await health(relays[1])]).toEqual([0, 1]);
      second.ws.close();
      await second.closed;
    } finally {
      for (const relay of relays) await relay.close();
      await redis.close();
    }
  });
});

describe('one agent per subject across relays, registering at once', () => {
  it('of two agents registering on two relays at the same moment, exactly one stays (the last writer), five times over', async () => {
    const redis = await startRedis();
    const relays = [
      await startRelay({ redisUrl: redis.url }),
      await startRelay({ redisUrl: redis.url }),
    ] as const;
    const reader = new Redis(redis.url);
    try {
      for (let round = 0; round < 5; round++) {
        const subject = `erin${round}`;
        const agents = await Promise.all(relays.map((relay) => bareAgent(relay, subject)));
        const outcome = await Promise.race([
          Promise.any(agents.map(async ({ closed }, i) => ({ i, code: await closed }))),
          new Promise<undefined>((resolve) => setTimeout(resolve, 3000)),
        ]);
        expect(outcome?.code).toBe(1012);
        const survivor = agents[1 - outcome!.i]!;
        expect(survivor.ws.readyState).toBe(WebSocket.OPEN);
        // The survivor's relay is the one the location entry names.
        const location = JSON.parse((await reader.get(`${PREFIX}agent:${subject}`))!) as { node: string };
        const nodes = await Promise.all(
          relays.map(async (relay) => {
            const health = (await (await fetch(new URL('/healthz', relay.url))).json()) as {
              cluster: { node: string };
            };
            return health.cluster.node;
          }),
        );
        expect(location.node).toBe(nodes[1 - outcome!.i]);
        survivor.ws.close();
        await survivor.closed;
      }
    } finally {
      reader.disconnect();
      for (const relay of relays) await relay.close();
      await redis.close();
    }
  });
});

describe("the caller's timeout across relays", () => {
  it('a call the holding node does not answer in time answers 504 at the caller, and the holder is told to abort', async () => {
    const redis = await startRedis();
    const relay = await startRelay({ redisUrl: redis.url, requestTimeoutMs: 800 });
    const node = new FakeNode(redis.url, 'fake-slow');
    const beat = setInterval(() => void node.heartbeat(), 300);
    try {
      await node.join('dave');
      const token = await relay.tokens.issue('dave', ['*'], 60);
      const started = Date.now();
      const res = await fetch(new URL('/dave/srv/mcp', relay.url), {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'slow' } }),
      });
      expect(res.status).toBe(504);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(node.received[0]).toMatchObject({ type: 'invoke', timeout_ms: 800 });
      await expect
        .poll(() => node.received[1])
        .toEqual({
          type: 'abort',
          call_id: (node.received[0] as { call_id: string }).call_id,
          reason: 'timed out',
        });
    } finally {
      clearInterval(beat);
      node.close();
      await relay.close();
      await redis.close();
    }
  });
});

describe('a 2025-era session ended while a node missed the news', () => {
  it('a node that used the session stops serving it once the store says it is gone (a session_end it did not hear)', async () => {
    // Pub/sub delivers at most once: a node whose subscriber was reconnecting when the session was deleted (or
    // whose load raced the DELETE) keeps it in memory. It must not serve it for as long as it is used.
    const redis = await startRedis();
    const store = new Redis(redis.url);
    const idleMs = 2000;
    const relays = [
      await startRelay({ redisUrl: redis.url, sessionIdleMs: idleMs }),
      await startRelay({ redisUrl: redis.url, sessionIdleMs: idleMs }),
    ] as const;
    const node = new FakeNode(redis.url, 'fake-sessions');
    const beat = setInterval(() => void node.heartbeat(), 500);
    try {
      await node.join('dave');
      node.onMessage = (message) => {
        if (message.type !== 'invoke') return;
        const result =
          message.payload.method === 'initialize'
            ? {
                protocolVersion: '2025-11-25',
                capabilities: { tools: {} },
                serverInfo: { name: 'f', version: '1' },
              }
            : { tools: [] };
        void node.send(message.from, {
          type: 'result',
          call_id: message.call_id,
          result: { jsonrpc: '2.0', id: message.payload.id, result },
        });
      };
      const token = await relays[0].tokens.issue('dave', ['*'], 60);
      const post = (relay: RelayServer, message: Json, session?: string) =>
        fetch(new URL('/dave/srv/mcp', relay.url), {
          method: 'POST',
          headers: {
            Authorization: `Bearer ${token}`,
            'Content-Type': 'application/json',
            Accept: 'application/json, text/event-stream',
            ...(session && { 'Mcp-Session-Id': session, 'MCP-Protocol-Version': '2025-11-25' }),
          },
          body: JSON.stringify(message),
        });
      const init = await post(relays[0], INITIALIZE);
      const session = init.headers.get('mcp-session-id')!;
      expect(session).toBeTruthy();
      const list = async (relay: RelayServer) =>
        (await post(relay, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, session)).status;
      expect(await list(relays[1])).toBe(200);
      // The session ends in the store, and neither relay is told (as if their subscribers were away).
      await store.del(`${PREFIX}mcp:${session}`, `${PREFIX}mcp:${session}:log`);
      // Relay 1 keeps being used well within the idle limit: it must find out at its next refresh of the
      // session in the store (every idle/10 = 200 ms here), not serve it on and on.
      const started = Date.now();
      let status = 200;
      while (status === 200 && Date.now() - started < 3 * idleMs) {
        status = await list(relays[1]);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(status).toBe(404);
    } finally {
      clearInterval(beat);
      node.close();
      store.disconnect();
      for (const relay of relays) await relay.close();
      await redis.close();
    }
  });
});

describe('Redis restarted (empty) while a node holds an agent', () => {
  it("the node writes its agents' locations again as soon as it is back, not at its next refresh", async () => {
    let redis = await startRedis();
    const store = new Redis(redis.url, { maxRetriesPerRequest: null });
    const agent = {
      subject: 'frank',
      capabilities: new Set(['srv']),
      features: new Set<string>(),
      connectedAt: 1,
    };
    const cluster = new RelayCluster({
      url: redis.url,
      host: {
        agent: () => undefined,
        notify: () => undefined,
        supersede: () => undefined,
        missedNotifications: () => undefined,
      },
      log: silentLogger,
      // Refreshed every 20 s: the test would wait that long for the entry without the fix.
      locationTtlMs: 60_000,
    });
    try {
      await cluster.start();
      cluster.agentUp(agent as unknown as AgentConnection);
      await until(async () => (await store.get(`${PREFIX}agent:frank`)) !== null, 2000, 'the location');
      // A Redis without persistence restarts: every key is gone, the node's connections come back by themselves.
      await redis.close();
      await until(() => !cluster.connected(), 5000, 'the node to see Redis gone');
      redis = await startRedis(redis.port);
      await until(() => cluster.connected(), 10_000, 'the node to reconnect');
      // Other nodes route the agent's calls here again at once (else 404 "no agent" for up to a third of the TTL).
      await until(async () => (await store.get(`${PREFIX}agent:frank`)) !== null, 2000, 'the location again');
    } finally {
      await cluster.close();
      store.disconnect();
      await redis.close();
    }
  });
});

describe('a node that shuts down with calls of other nodes in flight', () => {
  it('tells their callers at once, instead of letting them wait for its missed heartbeats', async () => {
    const redis = await startRedis();
    const agent = {
      subject: 'iris',
      capabilities: new Set(['srv']),
      features: new Set<string>(),
      connectedAt: 1,
      invoke: (_s: string, _p: unknown, options: { signal: AbortSignal }) =>
        new Promise((_resolve, reject) =>
          options.signal.addEventListener('abort', () => reject(new Error('x'))),
        ),
    };
    const cluster = new RelayCluster({
      url: redis.url,
      host: {
        agent: (subject) => (subject === 'iris' ? (agent as unknown as AgentConnection) : undefined),
        notify: () => undefined,
        supersede: () => undefined,
        missedNotifications: () => undefined,
      },
      log: silentLogger,
      heartbeatMs: 60_000, // its heartbeats alone would tell the caller nothing for minutes
    });
    const caller = new FakeNode(redis.url, 'caller-node');
    try {
      await cluster.start();
      await caller.join('someone-else');
      const payload = { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'slow' } };
      await caller.send(cluster.nodeId, {
        type: 'invoke',
        call_id: 'call-1',
        from: caller.id,
        subject: 'iris',
        server: 'srv',
        scope: '',
        payload,
        timeout_ms: 60_000,
        ask: false,
      });
      await until(() => cluster.inFlight().incoming === 1, 5000, 'the call to reach the node');
      await cluster.close();
      await until(
        () => caller.received.some((m) => m.type === 'failure' && m.call_id === 'call-1'),
        2000,
        'the caller to hear the call failed',
      );
      const failure = caller.received.find((m) => m.type === 'failure')!;
      expect(failure).toMatchObject({ kind: 'disconnected' });
      expect(JSON.stringify(failure)).toContain('shutting down');
    } finally {
      caller.close();
      await cluster.close();
      await redis.close();
    }
  });
});

describe('an arrival on another node that this node did not hear of', () => {
  it("the node's refresh leaves a live node's newer location entry, and takes back a dead node's", async () => {
    // Pub/sub is at most once: a node whose subscriber was away when the agent registered elsewhere keeps its
    // older socket. Its refresh must not write its location over the newer one every time (calls would flip
    // between the two nodes), nor close its socket (a superseded gateway stops for good).
    const redis = await startRedis();
    const store = new Redis(redis.url);
    const agent = {
      subject: 'gina',
      capabilities: new Set(['srv']),
      features: new Set<string>(),
      connectedAt: 1,
    };
    const superseded: unknown[] = [];
    let refreshes = 0;
    const cluster = new RelayCluster({
      url: redis.url,
      host: {
        agent: (subject) => (subject === 'gina' ? (agent as unknown as AgentConnection) : undefined),
        notify: () => undefined,
        supersede: (local) => superseded.push(local),
        missedNotifications: () => undefined,
      },
      log: {
        ...silentLogger,
        debug: (line) => void (/registered on node/.test(String(line)) && refreshes++),
      },
      heartbeatMs: 100, // a node silent for 500 ms is dead
      locationTtlMs: 900, // refreshed every 300 ms
    });
    const other = { node: 'other-node', capabilities: ['srv'], features: [], connected_at: 2 };
    const beat = setInterval(
      () => void store.publish(`${PREFIX}cluster`, JSON.stringify({ type: 'heartbeat', node: other.node })),
      100,
    );
    try {
      await cluster.start();
      cluster.agentUp(agent as unknown as AgentConnection);
      const key = `${PREFIX}agent:gina`;
      const ours = await (async () => {
        await until(async () => (await store.get(key)) !== null, 2000, 'the location');
        return (await store.get(key))!;
      })();
      await store.set(key, JSON.stringify(other), 'PX', 60_000); // written by the other node; its agent_up lost
      // Three refreshes that found it, or one that wrote over it.
      await until(
        async () => refreshes >= 3 || (await store.get(key)) !== JSON.stringify(other),
        3000,
        'three refreshes',
      );
      expect(await store.get(key)).toBe(JSON.stringify(other));
      expect(superseded).toEqual([]);
      // The other node dies (no more heartbeats): its entry is stale, and this node's agent is reachable again.
      clearInterval(beat);
      await until(async () => (await store.get(key)) === ours, 3000, 'the location taken back');
      expect(superseded).toEqual([]);
    } finally {
      clearInterval(beat);
      await cluster.close();
      store.disconnect();
      await redis.close();
    }
  });
});

describe("a node's subscription to the cluster channel drops", () => {
  it('its 2026-07-28 listen streams end, so their clients listen again rather than silently miss notifications', async () => {
    // A server notification of an agent on another node is broadcast on the cluster channel: one sent while the
    // subscriber reconnects reaches nobody here, and a listen stream left open would wait for it in vain.
    const redis = await startRedis();
    const store = new Redis(redis.url);
    const relay = await startRelay({ redisUrl: redis.url });
    const node = new FakeNode(redis.url, 'fake-listen');
    const beat = setInterval(() => void node.heartbeat(), 500);
    try {
      await node.join('ivan');
      const token = await relay.tokens.issue('ivan', ['*'], 60);
      const listen = await listenStream(relay, 'ivan', token, 'srv');
      await killConnection(store, 'mcpassistant-cluster-sub');
      await until(() => listen.closed, 5000, 'the listen stream to end');
    } finally {
      clearInterval(beat);
      node.close();
      store.disconnect();
      await relay.close();
      await redis.close();
    }
  });
});

describe("a node's subscription to the sessions channel drops", () => {
  it('the GET streams it holds end, so their clients resume from the log what was announced while it was away', async () => {
    // A notification logged while the subscriber reconnects is announced (session_event) to nobody: the stream
    // stays open and silently misses it. Ended, the client reconnects with Last-Event-ID and gets it replayed.
    const redis = await startRedis();
    const store = new Redis(redis.url);
    const relay = await startRelay({ redisUrl: redis.url });
    const node = new FakeNode(redis.url, 'fake-get');
    const beat = setInterval(() => void node.heartbeat(), 500);
    try {
      await node.join('hank');
      node.onMessage = (message) => {
        if (message.type !== 'invoke') return;
        void node.send(message.from, {
          type: 'result',
          call_id: message.call_id,
          result: {
            jsonrpc: '2.0',
            id: message.payload.id,
            result: {
              protocolVersion: '2025-11-25',
              capabilities: {},
              serverInfo: { name: 'f', version: '1' },
            },
          },
        });
      };
      const token = await relay.tokens.issue('hank', ['*'], 60);
      const url = new URL('/hank/srv/mcp', relay.url);
      const init = await fetch(url, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${token}`,
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify(INITIALIZE),
      });
      const session = init.headers.get('mcp-session-id')!;
      await init.text();
      const get = await fetch(url, {
        headers: {
          Authorization: `Bearer ${token}`,
          Accept: 'text/event-stream',
          'Mcp-Session-Id': session,
          'MCP-Protocol-Version': '2025-11-25',
        },
      });
      expect(get.status).toBe(200);
      const ended = get.text().then(() => true);
      await killConnection(store, 'mcpassistant-sessions-sub');
      expect(await settlesWithin(ended, 5000)).toBe(true);
    } finally {
      clearInterval(beat);
      node.close();
      store.disconnect();
      await relay.close();
      await redis.close();
    }
  });
});
