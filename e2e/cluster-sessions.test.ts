// 2025-era sessions shared by three relay processes (bin/mcpassistant-relay.js) on one redis-server (issue 13):
// an SDK v1 client (StreamableHTTPClientTransport) whose requests a routing fetch sends to the node each test
// picks, as a load balancer without sticky sessions would. The agent (a real gateway with server-everything)
// is on node B. A session initialized on A serves a tool call on B and delivers a subscription's updates on its
// GET stream at C, once each; DELETE on one node is 404 on the others; the node that created a session dies
// (SIGKILL) and the session goes on; the node holding the GET stream dies and the client resumes on another with
// Last-Event-ID, getting the updates sent while it was away from the session's log in Redis.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type GatewayAgent, startGatewayAt } from './support/gateway-agent.js';
import { serverEverything } from './support/mcp-fixtures.js';
import { type RedisFixture, startRedis } from './support/redis.js';
import { askingServer, linkState, SECRET, slowServer } from './support/relay-fixture.js';
import { FailoverProxy, type RelayNode, startRelayNode } from './support/relay-nodes.js';
import { until, waitForStatus } from './support/wait.js';

/** One request as the routing fetch saw it. */
interface Routed {
  node: string;
  method: string;
  /** The JSON-RPC method of a POST. */
  rpc?: string;
  session?: string;
  lastEventId?: string;
}

/** One SSE event read on a GET stream: the node that served the stream, its id, its message's method. */
interface Seen {
  node: string;
  session: string;
  id: number;
  method?: string;
}

describe.sequential('2025-era sessions on three relays, without sticky routing', () => {
  let redis: RedisFixture;
  let store: Redis;
  let nodes: Record<'a' | 'b' | 'c', RelayNode>;
  let proxy: FailoverProxy;
  let agent: GatewayAgent;
  let headers: Record<string, string>;
  const closers: (() => Promise<unknown>)[] = [];
  const routed: Routed[] = [];
  const seen: Seen[] = [];
  /** Picks the node of each request; each test sets its own. */
  let pick: (request: Omit<Routed, 'node'>) => RelayNode | Promise<RelayNode>;
  const nameOf = (node: RelayNode) => Object.entries(nodes).find(([, n]) => n === node)?.[0] ?? '?';
  const endpoint = (node: RelayNode, server = 'everything') => new URL(`/alice/${server}/mcp`, node.url);

  /** Reads a GET stream's events (a tee of what the client reads) into `seen`. */
  const watch = async (node: string, session: string, body: ReadableStream) => {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        buffered += value;
        let end: number;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          const event = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const id = /^id: (\d+)$/m.exec(event)?.[1];
          const data = /^data: (.+)$/m.exec(event)?.[1];
          if (id === undefined) continue;
          const method = data ? (JSON.parse(data) as { method?: string }).method : undefined;
          seen.push({ node, session, id: Number(id), ...(method && { method }) });
        }
      }
    } catch {
      // ignore: the node serving the stream was killed
    }
  };

  /** fetch for the SDK transport: each request goes to the node `pick` names. */
  const routingFetch = async (input: string | URL, init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input));
    const method = init?.method ?? 'GET';
    const requestHeaders = new Headers(init?.headers);
    const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as { method?: string }) : undefined;
    const request = {
      method,
      ...(body?.method && { rpc: body.method }),
      ...(requestHeaders.get('mcp-session-id') && { session: requestHeaders.get('mcp-session-id')! }),
      ...(requestHeaders.get('last-event-id') && { lastEventId: requestHeaders.get('last-event-id')! }),
    };
    const node = await pick(request);
    url.host = node.url.host;
    routed.push({ node: nameOf(node), ...request });
    const res = await fetch(url, init);
    if (method !== 'GET' || !res.ok || !res.body) return res;
    const [mine, theirs] = res.body.tee();
    void watch(nameOf(node), request.session ?? '', theirs);
    return new Response(mine, { status: res.status, statusText: res.statusText, headers: res.headers });
  };

  const connect = async (server = 'everything') => {
    const transport = new StreamableHTTPClientTransport(endpoint(nodes.a, server), {
      requestInit: { headers },
      fetch: routingFetch,
    });
    const client = new Client(
      { name: 'cluster-sessions', version: '1.0.0' },
      { capabilities: { elicitation: {} } },
    );
    client.setRequestHandler(ElicitRequestSchema, (request) => ({
      action: 'accept',
      content: { answer: `yes to ${request.params.message}` },
    }));
    await client.connect(transport);
    closers.push(() => client.close());
    const updates: string[] = [];
    /** When each update arrived (ms): server-everything sends one every 5 s, so a duplicate comes within ms. */
    const arrivals: number[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri);
      arrivals.push(performance.now());
    });
    return { client, transport, session: transport.sessionId!, updates, arrivals };
  };

  /** A plain JSON POST of tools/list in `session` to `node`: its HTTP status. */
  const statusOf = async (node: RelayNode, session: string) =>
    (
      await fetch(endpoint(node), {
        method: 'POST',
        headers: {
          ...headers,
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
          'Mcp-Session-Id': session,
          'MCP-Protocol-Version': '2025-11-25',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list' }),
      })
    ).status;

  const roundRobin = (list: RelayNode[]) => {
    let next = 0;
    return () => list[next++ % list.length]!;
  };

  beforeAll(async () => {
    redis = await startRedis();
    store = new Redis(redis.url);
    const started = await Promise.all(
      [0, 1, 2].map(() =>
        startRelayNode(redis.url, {
          JWT_SECRET: SECRET,
          JWT_FALLBACK_ENABLED: 'true',
          REQUEST_TIMEOUT_SECONDS: '20',
        }),
      ),
    );
    nodes = { a: started[0]!, b: started[1]!, c: started[2]! };
    const issued = await fetch(new URL('/manage/jwt/issue', nodes.a.url), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ subject: 'alice', expiry_minutes: 60 }),
    });
    const { token } = (await issued.json()) as { token: string };
    headers = { Authorization: `Bearer ${token}` };
    // The agent reaches node B (then C, then A if B is down).
    proxy = await FailoverProxy.start([nodes.b, nodes.c, nodes.a].map((node) => Number(node.url.port)));
    agent = await startGatewayAt({
      wsUrl: proxy.wsUrl,
      token,
      servers: { everything: serverEverything(), asking: askingServer(), slow: slowServer() },
    });
    await linkState(agent.gateway, 'connected');
    for (const name of ['everything', 'asking', 'slow'])
      await waitForStatus(agent.gateway.servers, name, (s) => s.state === 'running');
  }, 90_000);

  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await agent?.close();
    await proxy?.close();
    for (const node of Object.values(nodes ?? {})) await node.close();
    store?.disconnect();
    await redis?.close();
  }, 60_000);

  it('GET /agents on every node lists the agent connected to node B', async () => {
    for (const node of Object.values(nodes)) {
      const res = await fetch(new URL('/agents', node.url), { headers });
      const { agents } = (await res.json()) as { agents: { subject: string; capabilities: string[] }[] };
      expect(agents).toHaveLength(1);
      expect(agents[0]!.subject).toBe('alice');
      expect([...agents[0]!.capabilities].sort()).toEqual(['asking', 'everything', 'slow']);
    }
  });

  it('initialize on A, a tool call on B, and a subscription whose updates arrive once each on the GET stream at C', async () => {
    const others = roundRobin([nodes.a, nodes.b, nodes.c]);
    pick = ({ method, rpc }) =>
      rpc === 'initialize' ? nodes.a : method === 'GET' ? nodes.c : rpc === 'tools/call' ? nodes.b : others();
    const { client, session, updates, arrivals } = await connect();
    const echoed = await client.callTool({ name: 'echo', arguments: { message: 'across nodes' } });
    expect(JSON.stringify(echoed)).toContain('across nodes');
    const { resources } = await client.listResources();
    const uri = resources[0]!.uri;
    await client.subscribeResource({ uri });
    await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
    try {
      await until(() => updates.filter((u) => u === uri).length >= 2, 20_000, 'two resources/updated at C');
    } finally {
      await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
      await client.unsubscribeResource({ uri });
    }
    const mine = routed.filter((r) => r.session === session || r.rpc === 'initialize');
    expect(mine.find((r) => r.rpc === 'initialize')?.node).toBe('a');
    expect(mine.filter((r) => r.method === 'GET').map((r) => r.node)).toEqual(['c']);
    expect(mine.filter((r) => r.rpc === 'tools/call').every((r) => r.node === 'b')).toBe(true);
    expect(new Set(mine.map((r) => r.node))).toEqual(new Set(['a', 'b', 'c']));
    // Exactly one delivery each: as many updates on the stream as the client got, no event id twice.
    const onStream = seen.filter(
      (s) => s.session === session && s.method === 'notifications/resources/updated',
    );
    expect(onStream.length).toBe(updates.length);
    expect(new Set(onStream.map((s) => s.id)).size).toBe(onStream.length);
    for (let i = 1; i < arrivals.length; i++) expect(arrivals[i]! - arrivals[i - 1]!).toBeGreaterThan(2000);
    await client.close();
  }, 60_000);

  it("a local server's request goes out on node A and the client's answer, posted to node C, reaches it", async () => {
    const first = routed.length;
    pick = ({ method, rpc }) =>
      method === 'POST' && rpc === undefined ? nodes.c : rpc === 'tools/call' ? nodes.a : nodes.b;
    const { client, session } = await connect('asking');
    const result = await client.callTool({ name: 'ask', arguments: { question: 'Across?' } });
    expect(JSON.stringify(result)).toContain('accept: yes to Across?');
    const mine = routed.slice(first).filter((r) => r.session === session);
    expect(mine.find((r) => r.rpc === 'tools/call')?.node).toBe('a');
    expect(mine.filter((r) => r.method === 'POST' && r.rpc === undefined).map((r) => r.node)).toEqual(['c']);
    await client.close();
  }, 30_000);

  it("a call made through node A is cancelled by the client's notifications/cancelled posted to node C", async () => {
    const logged = (line: string) => agent.logs.recent().some((e) => e.message.includes(line));
    pick = ({ rpc }) =>
      rpc === 'notifications/cancelled' ? nodes.c : rpc === 'tools/call' ? nodes.a : nodes.b;
    const { client, session } = await connect('slow');
    const controller = new AbortController();
    const call = client.callTool(
      { name: 'wait', arguments: { ms: 20_000, label: 'sessions-cancel' } },
      undefined,
      { signal: controller.signal },
    );
    await until(() => logged('started: sessions-cancel'), 10_000, 'the call to reach the server');
    controller.abort('user pressed stop');
    await expect(call).rejects.toThrow();
    await until(() => logged('cancelled: sessions-cancel'), 10_000, 'the server to see the cancellation');
    const cancels = routed.filter((r) => r.session === session && r.rpc === 'notifications/cancelled');
    expect(cancels.map((r) => r.node)).toEqual(['c']);
    await client.close();
  }, 30_000);

  it('DELETE on one node ends the session on all: 404 on the others, even those that had it cached', async () => {
    pick = roundRobin([nodes.a, nodes.b, nodes.c]);
    const { client, transport, session } = await connect();
    for (let i = 0; i < 3; i++) await client.listTools(); // every node has served (and cached) the session
    expect(new Set(routed.filter((r) => r.session === session).map((r) => r.node))).toEqual(
      new Set(['a', 'b', 'c']),
    );
    for (const node of Object.values(nodes)) expect(await statusOf(node, session)).toBe(200);
    pick = () => nodes.b;
    await transport.terminateSession();
    expect(routed.at(-1)).toMatchObject({ node: 'b', method: 'DELETE', session });
    for (const node of Object.values(nodes)) expect(await statusOf(node, session)).toBe(404);
  }, 30_000);

  it('the node that created a session is killed (SIGKILL): the session goes on through the others', async () => {
    const others = roundRobin([nodes.b, nodes.c]);
    pick = ({ rpc }) => (rpc === 'initialize' ? nodes.a : others());
    const first = routed.length;
    const { client, session } = await connect();
    expect(routed[first]).toMatchObject({ node: 'a', rpc: 'initialize' });
    await client.listTools();
    await nodes.a.kill();
    const before = routed.length;
    for (let i = 0; i < 4; i++) {
      const result = await client.callTool({ name: 'echo', arguments: { message: `after ${i}` } });
      expect(JSON.stringify(result)).toContain(`after ${i}`);
    }
    const after = routed.slice(before).filter((r) => r.session === session && r.rpc === 'tools/call');
    expect(after.map((r) => r.node).sort()).toEqual(['b', 'b', 'c', 'c']);
    await client.close();
  }, 30_000);

  it('the node holding the GET stream is killed: the client resumes on another node and gets what it missed', async () => {
    const log = async (session: string) =>
      (await store.lrange(`mcpassistant:mcp:${session}:log`, 0, -1)).map(
        (entry) => JSON.parse(entry) as { s: number; t: string; d?: string },
      );
    let session = '';
    let lastOnC = 0;
    /** The newest event id in the log when the client came back (what it gets before that is a replay). */
    let loggedWhenBack = 0;
    pick = async ({ method, rpc, lastEventId }) => {
      if (rpc === 'tools/call') return nodes.b;
      const cAlive = nodes.c.child.exitCode === null && nodes.c.child.signalCode === null;
      if (method !== 'GET' || lastEventId === undefined) return cAlive ? nodes.c : nodes.b;
      // The client resumes: only once an update was logged while no node held its stream.
      await until(
        async () =>
          (await log(session)).some((e) => e.t === 'get' && e.d !== undefined && e.s > Number(lastEventId)),
        20_000,
        'an update logged while the stream was down',
      );
      loggedWhenBack = Math.max(...(await log(session)).map((e) => e.s));
      return nodes.b;
    };
    const connected = await connect();
    const { client, updates } = connected;
    session = connected.session;
    const { resources } = await client.listResources();
    const uri = resources[0]!.uri;
    await client.subscribeResource({ uri });
    await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
    try {
      await until(() => updates.length >= 1, 20_000, 'a first update on the GET stream at C');
      lastOnC = Math.max(...seen.filter((s) => s.session === session).map((s) => s.id));
      await nodes.c.kill();
      await until(
        () => seen.some((s) => s.session === session && s.node === 'b' && s.method !== undefined),
        40_000,
        'the stream resumed on B',
      );
      const resumed = routed.find((r) => r.method === 'GET' && r.node === 'b' && r.session === session);
      expect(Number(resumed?.lastEventId)).toBe(lastOnC);
      // The first update on B was sent while no node held the stream: replayed from the log in Redis.
      const replayed = seen.find((s) => s.session === session && s.node === 'b' && s.method !== undefined)!;
      expect(replayed.method).toBe('notifications/resources/updated');
      expect(replayed.id).toBeGreaterThan(lastOnC);
      expect(replayed.id).toBeLessThanOrEqual(loggedWhenBack);
      // Live updates follow on B, once each.
      await until(
        () => seen.some((s) => s.session === session && s.node === 'b' && s.id > loggedWhenBack),
        20_000,
        'a live update on B',
      );
      const onB = seen.filter((s) => s.session === session && s.node === 'b').map((s) => s.id);
      expect(new Set(onB).size).toBe(onB.length);
    } finally {
      await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
      await client.unsubscribeResource({ uri });
    }
  }, 90_000);
});
