// Three relay processes (bin/mcpassistant-relay.js) on one redis-server (issue 13): the agent (a real gateway
// with server-everything, the slow server and the asking server) connects to node B through a failover proxy,
// clients call through node A. A call reaches the agent across nodes with its progress, a resource subscription
// delivers its updates, a cancellation reaches the local server, and a local server's request reaches the
// client, in both eras (an SDK v1 client in the 2025 era, an SDK v2 client pinned to 2026-07-28). A token revoked
// on one node is refused by all. Last, node B is killed (SIGKILL): the call in flight through A fails with a
// clear error well within its timeout, and the agent is reachable through A again once it has reconnected (to C).
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
} from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { askedClient } from './support/asked-client.js';
import { type GatewayAgent, startGatewayAt } from './support/gateway-agent.js';
import { serverEverything } from './support/mcp-fixtures.js';
import { callAsk } from './support/modern-ask.js';
import { type RedisFixture, startRedis } from './support/redis.js';
import { askingServer, linkState, SECRET, slowServer } from './support/relay-fixture.js';
import { FailoverProxy, type RelayNode, startRelayNode } from './support/relay-nodes.js';
import { until, waitForStatus } from './support/wait.js';

type Json = Record<string, unknown>;

const text = (result: object) =>
  (((result as { content?: unknown }).content ?? []) as { text?: string }[])
    .map((c) => c.text ?? '')
    .join('');

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
};

/** Reads the data of SSE events off a fetch response, one JSON message at a time. */
function sseMessages(res: Response): () => Promise<Json> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  return async () => {
    for (;;) {
      const end = buffered.indexOf('\n\n');
      if (end >= 0) {
        const event = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const data = event
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).trim())
          .join('\n');
        if (data) return JSON.parse(data) as Json;
        continue; // a keep-alive comment or a priming event
      }
      const { done, value } = await reader.read();
      if (done) throw new Error('the stream ended before a message');
      buffered += value;
    }
  };
}

describe.sequential('three relays on one Redis', () => {
  let redis: RedisFixture;
  let nodes: RelayNode[];
  let a: RelayNode;
  let b: RelayNode;
  let c: RelayNode;
  let proxy: FailoverProxy;
  let agent: GatewayAgent;
  let token: string;
  let headers: Record<string, string>;
  const closers: (() => Promise<unknown>)[] = [];
  const url = (node: RelayNode, server: string) => new URL(`/alice/${server}/mcp`, node.url);
  const logged = (line: string) => agent.logs.recent().some((e) => e.message.includes(line));
  const health = async (node: RelayNode) =>
    (await (await fetch(new URL('/healthz', node.url))).json()) as { agents: number; state: string };

  beforeAll(async () => {
    redis = await startRedis();
    nodes = await Promise.all(
      [0, 1, 2].map(() =>
        startRelayNode(redis.url, {
          JWT_SECRET: SECRET,
          JWT_FALLBACK_ENABLED: 'true',
          REQUEST_TIMEOUT_SECONDS: '20',
        }),
      ),
    );
    [a, b, c] = nodes as [RelayNode, RelayNode, RelayNode];
    const issued = await fetch(new URL('/manage/jwt/issue', a.url), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ subject: 'alice', expiry_minutes: 60 }),
    });
    ({ token } = (await issued.json()) as { token: string });
    headers = { Authorization: `Bearer ${token}` };
    // Agents reach the nodes as through a load balancer that skips a node that is down: B first, then C, then A.
    proxy = await FailoverProxy.start([b, c, a].map((node) => Number(node.url.port)));
    agent = await startGatewayAt({
      wsUrl: proxy.wsUrl,
      token,
      servers: { everything: serverEverything(), slow: slowServer(), asking: askingServer() },
    });
    await linkState(agent.gateway, 'connected');
    for (const name of ['everything', 'slow', 'asking'])
      await waitForStatus(agent.gateway.servers, name, (s) => s.state === 'running');
  }, 90_000);

  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await agent?.close();
    await proxy?.close();
    for (const node of nodes ?? []) await node.close();
    await redis?.close();
  }, 60_000);

  const clientV1 = async (server: string) => {
    const client = new Client({ name: 'cluster-v1', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(url(a, server), { requestInit: { headers } }));
    closers.push(() => client.close());
    return client;
  };
  const clientV2 = async (server: string, capabilities: Record<string, object> = {}) => {
    const client = new ClientV2(
      { name: 'cluster-v2', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } }, capabilities },
    );
    await client.connect(new TransportV2(url(a, server), { requestInit: { headers } }));
    closers.push(() => client.close());
    expect(client.getProtocolEra()).toBe('modern');
    return client;
  };
  /** A raw 2026-07-28 POST to node A. */
  const post2026 = (server: string, method: string, params: Json, signal?: AbortSignal) =>
    fetch(url(a, server), {
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
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: { ...params, _meta: META } }),
    });

  it('the agent is on node B, and node A has no agent of its own', async () => {
    expect(proxy.connections.get(Number(b.url.port))).toBe(1);
    expect((await health(b)).agents).toBe(1);
    expect(await health(a)).toMatchObject({ agents: 0, state: 'redis' });
  });

  describe('a 2025 client on node A', () => {
    it('calls a tool on the agent on node B and gets its progress', async () => {
      const client = await clientV1('everything');
      const progress: number[] = [];
      const result = await client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 0.4, steps: 4 } },
        undefined,
        { onprogress: (p) => progress.push(p.progress) },
      );
      expect(text(result)).toMatch(/completed/i);
      expect(progress).toEqual([1, 2, 3, 4]);
    });

    it('subscribes to a resource and gets its updates on the session stream at node A', async () => {
      const client = await clientV1('everything');
      const updated: string[] = [];
      client.setNotificationHandler(
        ResourceUpdatedNotificationSchema,
        (n) => void updated.push(n.params.uri),
      );
      const { resources } = await client.listResources();
      const uri = resources[0]!.uri;
      await client.subscribeResource({ uri });
      // server-everything then sends simulated updates of subscribed resources every 5 s.
      await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
      try {
        await until(() => updated.includes(uri), 15_000, 'a resources/updated notification at node A');
      } finally {
        await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
        await client.unsubscribeResource({ uri });
      }
    });

    it('cancels a call: the cancellation reaches the local server behind node B', async () => {
      const client = await clientV1('slow');
      const controller = new AbortController();
      const call = client.callTool(
        { name: 'wait', arguments: { ms: 20_000, label: 'cluster-v1-cancel' } },
        undefined,
        { signal: controller.signal },
      );
      await until(() => logged('started: cluster-v1-cancel'), 10_000, 'the call to reach the server');
      controller.abort('user pressed stop');
      await expect(call).rejects.toThrow();
      await until(() => logged('cancelled: cluster-v1-cancel'), 10_000, 'the server to see the cancellation');
    });

    it("answers the local server's elicitation and sampling across the nodes", async () => {
      const { client, asked } = await askedClient(
        url(a, 'asking'),
        (q) => Promise.resolve(`yes to ${q}`),
        headers,
      );
      closers.push(() => client.close());
      expect(text(await client.callTool({ name: 'ask', arguments: { question: 'Across?' } }))).toBe(
        'accept: yes to Across?',
      );
      expect(text(await client.callTool({ name: 'sample', arguments: { prompt: 'nodes' } }))).toMatch(
        /a poem about nodes/,
      );
      expect(asked).toEqual(['Across?', 'sampling: nodes']);
    });
  });

  describe('a 2026-07-28 client on node A', () => {
    it('calls a tool on the agent on node B and gets its progress', async () => {
      const client = await clientV2('everything');
      const progress: number[] = [];
      const result = await client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 0.4, steps: 4 } },
        { onprogress: (p) => progress.push(p.progress) },
      );
      expect(text(result)).toMatch(/completed/i);
      expect(progress).toEqual([1, 2, 3, 4]);
    });

    it('a subscriptions/listen stream at node A gets the updates of the resource it asked for', async () => {
      const listing = (await (await post2026('everything', 'resources/list', {})).json()) as {
        result: { resources: { uri: string }[] };
      };
      const uri = listing.result.resources[0]!.uri;
      const stream = new AbortController();
      try {
        const listen = await post2026(
          'everything',
          'subscriptions/listen',
          { notifications: { resourceSubscriptions: [uri] } },
          stream.signal,
        );
        const next = sseMessages(listen);
        expect(await next()).toMatchObject({
          method: 'notifications/subscriptions/acknowledged',
          params: { notifications: { resourceSubscriptions: [uri] } },
        });
        const toggle = () =>
          post2026('everything', 'tools/call', { name: 'toggle-subscriber-updates', arguments: {} });
        expect((await toggle()).status).toBe(200);
        try {
          expect(await next()).toMatchObject({ method: 'notifications/resources/updated', params: { uri } });
        } finally {
          await toggle();
        }
      } finally {
        stream.abort();
      }
    });

    it("closing a call's stream at node A cancels the call at the local server behind node B", async () => {
      const client = await clientV2('slow');
      const controller = new AbortController();
      const call = client.callTool(
        { name: 'wait', arguments: { ms: 20_000, label: 'cluster-v2-cancel' } },
        { signal: controller.signal },
      );
      await until(() => logged('started: cluster-v2-cancel'), 10_000, 'the call to reach the server');
      controller.abort('the user moved on');
      await expect(call).rejects.toThrow();
      await until(() => logged('cancelled: cluster-v2-cancel'), 10_000, 'the server to see the cancellation');
    });

    it("gets the local server's elicitation as input-required, and its answer reaches the server", async () => {
      const client = await clientV2('asking', { elicitation: {} });
      const asked: string[] = [];
      client.setRequestHandler('elicitation/create', (request) => {
        const message = 'message' in request.params ? request.params.message : '';
        asked.push(message);
        return { action: 'accept', content: { answer: `modern yes to ${message}` } };
      });
      expect(text(await client.callTool({ name: 'ask', arguments: { question: 'Ship it?' } }))).toBe(
        'accept: modern yes to Ship it?',
      );
      expect(asked).toEqual(['Ship it?']);
    });

    it('a retry with the requestState of node A completes at node C (no sticky routing needed)', async () => {
      const call = (node: RelayNode, extra: Json) =>
        callAsk(url(node, 'asking'), headers, { question: 'Which node?' }, extra);
      const first = (await (await call(a, {})).json()) as {
        result: { resultType: string; requestState: string; inputRequests: Record<string, unknown> };
      };
      expect(first.result.resultType).toBe('input_required');
      const key = Object.keys(first.result.inputRequests)[0]!;
      const retry = await call(c, {
        requestState: first.result.requestState,
        inputResponses: { [key]: { action: 'accept', content: { answer: 'any' } } },
      });
      expect(retry.status).toBe(200);
      const done = (await retry.json()) as { result: { resultType: string } };
      expect(done.result.resultType).toBe('complete');
      expect(text(done.result)).toBe('accept: any');
    });
  });

  it('a token revoked on node C is refused by nodes A and B', async () => {
    const issued = await fetch(new URL('/manage/client-token', b.url), {
      method: 'POST',
      headers: { ...headers, 'Content-Type': 'application/json' },
      body: JSON.stringify({ expiry_minutes: 60 }),
    });
    const { token: clientToken } = (await issued.json()) as { token: string };
    const call = (node: RelayNode) =>
      fetch(url(node, 'slow'), {
        method: 'POST',
        headers: { Authorization: `Bearer ${clientToken}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: 'echo', arguments: { message: 'm' } },
        }),
      });
    // Used on every node first (each caches what it verified).
    for (const node of nodes) expect((await call(node)).status).toBe(200);
    const revoked = await fetch(new URL('/manage/jwt/revoke', c.url), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token: clientToken }),
    });
    expect(revoked.status).toBe(200);
    for (const node of [a, b, c])
      await until(async () => (await call(node)).status === 401, 5000, `node ${node.url.port} to refuse it`);
  });

  it('node B killed: its call in flight fails fast and clearly, and the agent is back through node A via C', async () => {
    const client = await clientV1('slow');
    expect(text(await client.callTool({ name: 'echo', arguments: { message: 'before' } }))).toBe('before');
    const inFlight = client
      .callTool({ name: 'wait', arguments: { ms: 60_000, label: 'cluster-killed' } })
      .then(
        () => ({ ok: true as const, at: Date.now() }),
        (error: Error) => ({ ok: false as const, at: Date.now(), message: error.message }),
      );
    await until(() => logged('started: cluster-killed'), 10_000, 'the call to reach the server');
    const killedAt = Date.now();
    await b.kill();
    // The same 2025 session at node A (it lived on A, not on B) reaches the agent again once it reconnected.
    let back = 0;
    await until(
      async () => {
        try {
          const result = await client.callTool({ name: 'echo', arguments: { message: 'after' } });
          back = Date.now();
          return text(result) === 'after';
        } catch {
          return false;
        }
      },
      15_000,
      'a call through node A after the failover',
    );
    const failed = await inFlight;
    expect(failed.ok).toBe(false);
    expect(failed.ok ? '' : failed.message).toMatch(/relay node|reconnected to another relay node/);
    const failedAfterMs = failed.at - killedAt;
    const backAfterMs = back - killedAt;
    console.log(
      `cluster: after kill -9 of node B, the call in flight failed in ${failedAfterMs} ms; calls through A worked again after ${backAfterMs} ms`,
    );
    // Well within the caller's 20 s timeout; the agent's reconnect delay here is 0.2–1 s.
    expect(failedAfterMs).toBeLessThan(10_000);
    expect(backAfterMs).toBeLessThan(10_000);
    expect(proxy.connections.get(Number(c.url.port))).toBe(1);
    expect((await health(c)).agents).toBe(1);
  }, 60_000);
});
