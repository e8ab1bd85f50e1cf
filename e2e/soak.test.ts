// The soak (issue 13): proof under load and faults, with real sockets and real processes.
// - seeded fuzz of frames against the relay (as an agent) and against the agent (as a relay), and of HTTP
//   requests against the relay and the gateway-bridge: zero crashes, zero unhandled rejections, no answer 500,
//   nothing left hanging, and a real call still served afterwards;
// - (e2e/soak-agents.test.ts, in a process of its own for a clean memory baseline) a thousand agents;
// - a client that stops reading its SSE stream cannot grow the relay's memory without bound;
// - a local server stopped with SIGSTOP: its calls time out, another server's calls are unaffected;
// - 5 MB tool results at concurrency: peak RSS growth against the payload.
// `npm test` runs the short form; `npm run soak` the full one (more fuzz cases). Figures go to
// bench/results/soak.json and are printed. SOAK_SEED replays a run's fuzz.
import { mkdirSync, writeFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';

import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import type { RelayServer } from '../src-relay/relay-server.js';
import { isPlainJsonRpcMessage, JsonRpcMessage } from '../src-shared/wire.js';
import { CLI, createSandbox, type Sandbox, startCli, stopLeftovers } from './support/cli.js';
import { fuzzText, type Json, type JsonObject, Rng } from './support/fuzz.js';
import { legacyToken, startGatewayAt } from './support/gateway-agent.js';
import { LegacyRemote } from './support/legacy-peers.js';
import { closeOwned, own } from './support/owned.js';
import {
  connectClient,
  linkState,
  SECRET,
  slowServer,
  startAgent,
  startRelay,
} from './support/relay-fixture.js';
import { memory, round2, watchUnhandled } from './support/soak-watch.js';
import { until } from './support/wait.js';

const FULL = process.env.npm_lifecycle_event === 'soak';
const SEED = Number(process.env.SOAK_SEED ?? 20261207);
/** Fuzz cases per target: at least 10,000 (issue 13), more in the full soak. */
const FUZZ_CASES = FULL ? 50_000 : 10_000;
const MiB = 1024 * 1024;

const figures: Record<string, unknown> = { seed: SEED, form: FULL ? 'full' : 'short' };

// ── process-wide watch: every unhandled rejection or uncaught exception in this process counts ──────────────

const watch = watchUnhandled();
const unhandled = watch.errors;

afterEach(async () => {
  await closeOwned();
  await stopLeftovers();
});

afterAll(() => {
  watch.stop();
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/soak.json', `${JSON.stringify(figures, null, 2)}\n`);
  console.log(`soak (${figures['form'] as string}, seed ${SEED}):\n${JSON.stringify(figures, null, 2)}`);
});

const text = (result: unknown) =>
  (result as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : '')).join('');
const rpc = (id: number, method: string, params?: Json): JsonObject => ({
  jsonrpc: '2.0',
  id,
  method,
  ...(params === undefined ? {} : { params }),
});
const echoCall = (id: number, message = 'hi') =>
  rpc(id, 'tools/call', { name: 'echo', arguments: { message } });

// ── HTTP fuzz ─────────────────────────────────────────────────────────────────────────────────────────────

interface HttpFuzzReport {
  cases: number;
  statuses: Record<string, number>;
  /** Requests the client itself could not send (a header Node refuses, say): not the server's doing. */
  unsent: number;
  /** Requests with no answer within 15 s, and the first few of them. */
  hung: number;
  hungSamples: string[];
  serverErrors: string[];
}

/** Bodies both eras' clients send, and the existing remote's `{"payload": …}` wrapper. */
function bodyTemplates(server: string): Json[] {
  const modernMeta = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientInfo': { name: 'fuzz', version: '1' },
    'io.modelcontextprotocol/clientCapabilities': { elicitation: {} },
  };
  return [
    rpc(1, 'initialize', {
      protocolVersion: '2025-11-25',
      capabilities: {},
      clientInfo: { name: 'fuzz', version: '1' },
    }),
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    rpc(2, 'tools/list'),
    echoCall(3),
    rpc(4, 'ping'),
    rpc(5, 'resources/read', { uri: 'file:///nothing' }),
    { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 3, reason: 'fuzz' } },
    { jsonrpc: '2.0', id: 'mcpgw-x', result: { action: 'accept', content: {} } },
    rpc(6, 'server/discover', { _meta: modernMeta }),
    rpc(7, 'tools/call', { name: 'echo', arguments: { message: 'm' }, _meta: modernMeta }),
    rpc(8, 'subscriptions/listen', { _meta: modernMeta, notifications: { toolsListChanged: true } }),
    rpc(9, 'tools/call', {
      name: 'echo',
      arguments: { message: 'r' },
      inputResponses: { a: { action: 'accept' } },
      requestState: 'tampered',
      _meta: modernMeta,
    }),
    { payload: echoCall(10) },
    { payload: { server }, jsonrpc: 1 },
  ];
}

/**
 * Sends `cases` seeded random requests to `base` (`concurrency` at a time): methods, paths, headers and
 * bodies drawn from what MCP clients of both eras send, then mutated. `auth` is a valid Authorization value.
 */
async function fuzzHttp(
  rng: Rng,
  base: URL,
  {
    paths,
    auth,
    cases,
    concurrency = 16,
  }: { paths: string[]; auth?: string; cases: number; concurrency?: number },
): Promise<HttpFuzzReport> {
  const report: HttpFuzzReport = {
    cases,
    statuses: {},
    unsent: 0,
    hung: 0,
    hungSamples: [],
    serverErrors: [],
  };
  const sessions: string[] = [];
  const templates = bodyTemplates('everything');
  const one = async () => {
    const method = rng.pick(['POST', 'POST', 'POST', 'GET', 'DELETE', 'PUT', 'OPTIONS', 'PATCH']);
    const path = rng.chance(0.9)
      ? rng.pick(paths)
      : rng.pick([
          '/',
          '/%zz/x/mcp',
          '/a/b/c/d/mcp',
          `/${'x'.repeat(3000)}/s/mcp`,
          '/../../etc/passwd',
          '/manage/oauth/x',
        ]);
    const headers: Record<string, string> = {};
    const maybe = (name: string, values: string[], p = 0.6) => {
      if (rng.chance(p)) headers[name] = rng.pick(values);
    };
    if (auth && rng.chance(0.85)) headers['Authorization'] = auth;
    else maybe('Authorization', ['Bearer ', 'Bearer x.y.z', 'Basic abc', `Bearer ${'a'.repeat(5000)}`]);
    maybe('Accept', [
      'application/json, text/event-stream',
      'application/json',
      'text/event-stream',
      '*/*',
      'text/html',
    ]);
    maybe('Content-Type', [
      'application/json',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data',
    ]);
    maybe('MCP-Protocol-Version', [
      '2025-11-25',
      '2025-03-26',
      '2026-07-28',
      '2026-07-28',
      '1999-01-01',
      'garbage',
    ]);
    maybe('Mcp-Method', ['tools/call', 'tools/list', 'initialize', 'x']);
    maybe('Mcp-Name', ['echo', 'other', '']);
    // Rarely: a refused Origin stops a request before anything else is read.
    maybe('Origin', ['http://127.0.0.1:1', 'https://evil.example', 'null'], 0.05);
    maybe('Last-Event-ID', ['1', '999999', 'abc', '-1']);
    if (sessions.length && rng.chance(0.5)) headers['Mcp-Session-Id'] = rng.pick(sessions);
    else maybe('Mcp-Session-Id', ['no-such-session', '']);
    const body = method === 'GET' || method === 'OPTIONS' ? undefined : fuzzText(rng, rng.pick(templates));
    let res: Response;
    try {
      res = await fetch(new URL(path, base), { method, headers, body, signal: AbortSignal.timeout(15_000) });
    } catch (error) {
      if ((error as Error).name !== 'TimeoutError') report.unsent++;
      else if (report.hung++ < 5)
        report.hungSamples.push(`${method} ${path} ${JSON.stringify(headers)} ${body?.slice(0, 300) ?? ''}`);
      return;
    }
    report.statuses[res.status] = (report.statuses[res.status] ?? 0) + 1;
    const session = res.headers.get('mcp-session-id');
    if (session && sessions.length < 50) sessions.push(session);
    if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
      await res.body?.cancel();
    } else {
      const answer = await res.text().catch(() => '');
      if (res.status >= 500 && res.status !== 503 && res.status !== 504)
        report.serverErrors.push(`${method} ${path.slice(0, 60)} → ${res.status} ${answer.slice(0, 200)}`);
    }
  };
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < cases) await one();
    }),
  );
  return report;
}

// ── the hot paths' hand-written checks ───────────────────────────────────────────────────────────────────

it(`the hand-written JSON-RPC check accepts nothing the schema refuses (${FUZZ_CASES} fuzzed messages)`, () => {
  const rng = new Rng(SEED + 4);
  const templates = bodyTemplates('everything');
  let accepted = 0;
  for (let i = 0; i < FUZZ_CASES; i++) {
    let value: unknown;
    try {
      value = JSON.parse(fuzzText(rng, rng.pick(templates)));
    } catch {
      continue; // not JSON: refused before either check
    }
    if (!isPlainJsonRpcMessage(value)) continue;
    accepted++;
    expect(JsonRpcMessage.safeParse(value).success, JSON.stringify(value).slice(0, 300)).toBe(true);
  }
  // The fuzz reaches both sides of the check.
  expect(accepted).toBeGreaterThan(FUZZ_CASES / 10);
  figures['JSON-RPC hand check'] = { cases: FUZZ_CASES, accepted };
});

// ── the relay, fuzzed as an agent and over HTTP ───────────────────────────────────────────────────────────

describe.sequential('the relay under fuzz', () => {
  it(
    `survives ${FUZZ_CASES} fuzzed agent frames, answers the calls they concern, and still serves a real agent`,
    { timeout: 300_000 },
    async () => {
      const rng = new Rng(SEED);
      const relay = own(await startRelay({ requestTimeoutMs: 2_000 }));
      const token = await relay.tokens.issue('fuzz', ['*'], 60);
      const wsUrl = `${relay.url.origin.replace('http', 'ws')}/connect`;
      const invokes: string[] = [];
      let reconnects = 0;
      let socket: WebSocket | undefined;
      const connect = async () => {
        const ws = new WebSocket(wsUrl, { headers: { Authorization: `Bearer ${token}` } });
        await new Promise((resolve, reject) => {
          ws.once('open', resolve);
          ws.once('error', reject);
        });
        ws.on('error', () => undefined); // a refused frame closes the socket: reconnected below
        ws.on('message', (data) => {
          const frame = JSON.parse((data as Buffer).toString('utf8')) as {
            type?: string;
            request_id?: string;
          };
          if (frame.type === 'invoke' && frame.request_id) invokes.push(frame.request_id);
        });
        ws.send(
          JSON.stringify({
            type: 'register',
            subject: 'fuzz',
            capabilities: ['echo'],
            features: ['progress'],
          }),
        );
        socket = ws;
      };
      await connect();
      await until(
        () => relay.agents().some((a) => a.subject === 'fuzz'),
        5_000,
        'the fuzzing agent to register',
      );

      // Calls for the fuzzing agent to answer (or not): results, notifications and server requests then name
      // real request ids as well as made-up ones.
      const url = new URL('/fuzz/echo/mcp', relay.url);
      const calls: Promise<number>[] = [];
      const call = () =>
        fetch(url, {
          method: 'POST',
          headers: {
            Authorization: `Bearer ${token}`,
            'Content-Type': 'application/json',
            Accept: rng.pick(['application/json', 'application/json, text/event-stream']),
          },
          body: JSON.stringify(echoCall(rng.int(1000))),
        }).then(async (res) => {
          await res.text();
          return res.status;
        });

      for (let i = 0; i < FUZZ_CASES; i++) {
        if (i % 50 === 0) calls.push(call());
        if (!socket || socket.readyState !== WebSocket.OPEN) {
          reconnects++;
          await connect();
        }
        const requestId = invokes.length && rng.chance(0.7) ? rng.pick(invokes) : `made-up-${rng.int(100)}`;
        const frames: Json[] = [
          {
            type: 'result',
            request_id: requestId,
            result: { jsonrpc: '2.0', id: 1, result: { content: [] } },
          },
          { type: 'result', request_id: requestId, result: { ok: false, error: 'no' } },
          {
            type: 'notification',
            request_id: requestId,
            payload: {
              jsonrpc: '2.0',
              method: 'notifications/progress',
              params: { progressToken: 1, progress: 1 },
            },
          },
          {
            type: 'notification',
            mcp_server: 'echo',
            payload: { jsonrpc: '2.0', method: 'notifications/tools/list_changed' },
          },
          {
            type: 'server_request',
            request_id: requestId,
            payload: {
              jsonrpc: '2.0',
              id: 'q',
              method: 'elicitation/create',
              params: { message: 'm', requestedSchema: { type: 'object', properties: {} } },
            },
          },
          { type: 'servers', servers: [{ name: 'echo', state: 'running' }] },
          { type: 'register', subject: 'fuzz', capabilities: ['echo'] },
          { type: 'mystery', anything: true },
        ];
        socket!.send(fuzzText(rng, rng.pick(frames)));
        // Let the relay read what was sent: a socket is not a queue without end.
        if (i % 200 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      const statuses = await Promise.all(calls);
      socket?.close();

      // The relay still serves a real agent and client.
      const agent = own(await startAgent(relay, { servers: { slow: slowServer() } }));
      await linkState(agent.gateway, 'connected');
      const client = own(await connectClient(relay, 'alice', 'slow', agent.token));
      expect(text(await client.callTool({ name: 'echo', arguments: { message: 'after the fuzz' } }))).toBe(
        'after the fuzz',
      );
      await until(() => relay.agents().every((a) => a.inFlight === 0), 5_000, 'no call left in flight');
      figures['relay frame fuzz'] = {
        frames: FUZZ_CASES,
        reconnects,
        calls: statuses.length,
        callStatuses: countBy(statuses),
      };
      expect(unhandled).toEqual([]);
      // Every call got an answer (Promise.all above resolved): the agent's result, a JSON-RPC error, no agent
      // (404) while the fuzzing agent reconnects, its failure (503) or a timeout (504) — never an internal error.
      expect(statuses.filter((status) => ![200, 404, 503, 504].includes(status))).toEqual([]);
    },
  );

  it(
    `answers ${FUZZ_CASES} fuzzed HTTP requests without an internal error, and still serves`,
    { timeout: 600_000 },
    async () => {
      const relay = own(await startRelay({ requestTimeoutMs: 5_000 }));
      const agent = own(await startAgent(relay, { servers: { slow: slowServer() } }));
      await linkState(agent.gateway, 'connected');
      const report = await fuzzHttp(new Rng(SEED + 1), relay.url, {
        paths: [
          '/alice/slow/mcp',
          '/alice/slow/mcp',
          '/alice/slow/sse',
          '/alice/nope/mcp',
          '/bob/slow/mcp',
          '/agents',
          '/healthz',
          '/manage/jwt/issue',
          '/manage/jwt/revoke',
          '/manage/client-token',
          '/manage/oauth/start',
        ],
        auth: `Bearer ${agent.token}`,
        cases: FUZZ_CASES,
      });
      figures['relay HTTP fuzz'] = report;
      const client = own(await connectClient(relay, 'alice', 'slow', agent.token));
      expect(text(await client.callTool({ name: 'echo', arguments: { message: 'still here' } }))).toBe(
        'still here',
      );
      expect(report.serverErrors).toEqual([]);
      expect(report.hung).toBe(0);
      expect(unhandled).toEqual([]);
    },
  );
});

// ── the agent, fuzzed as a relay ──────────────────────────────────────────────────────────────────────────

describe.sequential('the agent under fuzz', () => {
  it(
    `survives ${FUZZ_CASES} fuzzed relay frames and still answers a real invoke`,
    { timeout: 300_000 },
    async () => {
      const rng = new Rng(SEED + 2);
      const remote = own(await LegacyRemote.start(SECRET));
      const agent = own(
        await startGatewayAt({
          wsUrl: remote.url,
          token: await legacyToken(SECRET, { sub: 'fuzz' }),
          servers: { slow: slowServer() },
        }),
      );
      let link = await remote.connection(0);
      await link.register();
      await until(
        () => agent.gateway.servers.list().every((s) => s.state === 'running'),
        20_000,
        'the server to run',
      );
      const frames: Json[] = [
        { type: 'invoke', request_id: 'r', mcp_server: 'slow', payload: echoCall(1) },
        { type: 'invoke', request_id: 'r', capability: 'slow', payload: rpc(2, 'tools/list') },
        {
          type: 'invoke',
          request_id: 'r',
          mcp_server: 'slow',
          payload: { jsonrpc: '2.0', method: 'notifications/initialized' },
        },
        {
          type: 'invoke',
          request_id: 'r',
          mcp_server: 'nope',
          payload: rpc(3, 'initialize', {
            protocolVersion: '2025-11-25',
            capabilities: {},
            clientInfo: { name: 'f', version: '1' },
          }),
        },
        { type: 'cancel', request_id: 'r', reason: 'fuzz' },
        { type: 'registered', subject: 'fuzz', servers: ['slow'], max_frame_bytes: 1024 },
        { type: 'server_response', request_id: 'r', payload: { jsonrpc: '2.0', id: 'q', result: {} } },
        { type: 'mystery' },
      ];
      let reconnects = 0;
      for (let i = 0; i < FUZZ_CASES; i++) {
        if (link.ws.readyState !== WebSocket.OPEN) {
          reconnects++;
          link = await remote.connection(remote.connections.length);
          await link.register();
        }
        const frame = rng.pick(frames);
        link.send(fuzzText(rng, { ...(frame as Record<string, Json>), request_id: `f-${i}` }));
        if (i % 200 === 0) {
          // A real invoke now and then: the agent answers it among the fuzz.
          expect(await link.invoke('slow', echoCall(i, `during ${i}`))).toMatchObject({ id: i });
        }
      }
      const result = await link.invoke('slow', echoCall(7, 'after the fuzz'));
      expect(text((result as { result: unknown }).result)).toBe('after the fuzz');
      figures['agent frame fuzz'] = { frames: FUZZ_CASES, reconnects };
      expect(unhandled).toEqual([]);
    },
  );
});

// ── the gateway-bridge, fuzzed over HTTP ──────────────────────────────────────────────────────────────────

describe.sequential('the gateway-bridge under fuzz', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await createSandbox();
  });
  afterAll(() => rm(sandbox.dir, { recursive: true, force: true }));

  it(
    `answers ${FUZZ_CASES} fuzzed HTTP requests without an internal error or a crash`,
    { timeout: 600_000 },
    async () => {
      const config = join(sandbox.dir, 'mcp.json');
      await writeFile(config, JSON.stringify({ mcpServers: { slow: slowServer() } }));
      const cli = startCli(
        ['--config', config],
        sandbox,
        {},
        CLI.replace('mcpassistant-gateway.js', 'mcpassistant-gateway-bridge.js'),
      );
      await until(
        () => cli.stdout().includes('Running.') || cli.child.exitCode !== null,
        20_000,
        'the bridge',
      );
      const mcp = /^slow\s+(http:\/\/\S+\/mcp)/m.exec(cli.stdout())?.[1];
      expect(mcp, cli.stdout() + cli.stderr()).toBeTruthy();
      const url = new URL(mcp!);
      const report = await fuzzHttp(new Rng(SEED + 3), new URL('/', url), {
        paths: [
          url.pathname,
          url.pathname,
          url.pathname.replace(/mcp$/, 'sse'),
          url.pathname.replace(/mcp$/, 'message'),
          '/nope/mcp',
        ],
        cases: FUZZ_CASES,
      });
      figures['gateway-bridge HTTP fuzz'] = report;
      expect(cli.child.exitCode, cli.stderr().slice(-2000)).toBeNull();
      const still = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
        body: JSON.stringify(echoCall(1, 'still here')),
      });
      expect(still.status).toBe(200);
      expect(JSON.stringify(await still.json())).toContain('still here');
      expect(report.serverErrors).toEqual([]);
      expect(report.hung).toBe(0);
      expect(cli.stderr()).not.toMatch(/unhandled|uncaught/i);
      cli.child.kill('SIGTERM');
      await cli.exited;
    },
  );
});

// ── slow readers, stopped servers, big results ───────────────────────────────────────────────────────────

describe.sequential('faults', () => {
  let relay: RelayServer;

  it(
    'a client that stops reading its SSE stream cannot grow the relay without bound',
    { timeout: 300_000 },
    async () => {
      relay = own(await startRelay());
      const agent = own(await startAgent(relay, { servers: { slow: slowServer() } }));
      await linkState(agent.gateway, 'connected');
      const client = own(await connectClient(relay, 'alice', 'slow', agent.token));
      // A second session whose GET stream is opened on a raw socket that is then never read.
      const init = await fetch(new URL('/alice/slow/mcp', relay.url), {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${agent.token}`,
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify(
          rpc(1, 'initialize', {
            protocolVersion: '2025-11-25',
            capabilities: {},
            clientInfo: { name: 'stalled', version: '1' },
          }),
        ),
      });
      const session = init.headers.get('mcp-session-id')!;
      await init.text();
      const stalled: Socket = netConnect({ host: '127.0.0.1', port: Number(relay.url.port) });
      await new Promise((resolve) => stalled.once('connect', resolve));
      stalled.write(
        `GET /alice/slow/mcp HTTP/1.1\r\nHost: ${relay.url.host}\r\nAuthorization: Bearer ${agent.token}\r\n` +
          `Accept: text/event-stream\r\nMcp-Session-Id: ${session}\r\nMCP-Protocol-Version: 2025-11-25\r\n\r\n`,
      );
      await until(() => relay.openStreams() >= 1, 5_000, 'the stalled stream to open');
      stalled.pause();
      let stalledEnded = false;
      stalled.on('end', () => (stalledEnded = true));
      stalled.on('error', () => undefined);

      const before = memory();
      const sent = FULL ? 256 * MiB : 96 * MiB;
      const bytes = 64 * 1024;
      const perCall = 32;
      let peak = 0;
      for (let done = 0; done < sent; done += bytes * perCall) {
        await client.callTool({ name: 'shout', arguments: { bytes, count: perCall } });
        peak = Math.max(peak, process.memoryUsage().rss - before.rss);
      }
      const after = memory();
      figures['stalled SSE reader'] = {
        sentMiB: sent / MiB,
        heapGrowthMiB: round2((after.heap - before.heap) / MiB),
        peakRssGrowthMiB: round2(peak / MiB),
      };
      // The relay dropped the stalled stream (its client may resume it with Last-Event-ID): once the client
      // reads again, what was in flight arrives, and then the end of the connection.
      stalled.resume();
      await until(() => stalledEnded, 10_000, 'the relay to have closed the stalled stream');
      stalled.destroy();
      // The relay holds at most a bounded backlog per stream and a bounded replay log per session.
      expect(after.heap - before.heap).toBeLessThan(48 * MiB);
      expect(unhandled).toEqual([]);
    },
  );

  it(
    'a local server stopped with SIGSTOP: its calls time out, the other server is unaffected',
    { timeout: 120_000 },
    async () => {
      relay = own(await startRelay({ requestTimeoutMs: 1_500 }));
      const agent = own(await startAgent(relay, { servers: { stopped: slowServer(), fine: slowServer() } }));
      await linkState(agent.gateway, 'connected');
      await until(
        () => agent.gateway.servers.list().every((s) => s.state === 'running'),
        20_000,
        'both servers',
      );
      const pid = agent.gateway.servers.list().find((s) => s.name === 'stopped')!.pid!;
      const post = (server: string, id: number) =>
        fetch(new URL(`/alice/${server}/mcp`, relay.url), {
          method: 'POST',
          headers: {
            Authorization: `Bearer ${agent.token}`,
            'Content-Type': 'application/json',
            Accept: 'application/json',
          },
          body: JSON.stringify(echoCall(id, `${server} ${id}`)),
        }).then(async (res) => ({ status: res.status, body: await res.text() }));
      process.kill(pid, 'SIGSTOP');
      try {
        const started = Date.now();
        const [stopped, fine] = await Promise.all([
          Promise.all(Array.from({ length: 20 }, (_, i) => post('stopped', i))),
          Promise.all(Array.from({ length: 20 }, (_, i) => post('fine', i))),
        ]);
        const elapsed = Date.now() - started;
        figures['SIGSTOP server'] = {
          stoppedCalls: countBy(stopped.map((r) => r.status)),
          otherServerCalls: countBy(fine.map((r) => r.status)),
          allAnsweredWithinMs: elapsed,
        };
        expect(fine.every((r, i) => r.status === 200 && r.body.includes(`fine ${i}`))).toBe(true);
        expect(stopped.every((r) => r.status === 504)).toBe(true);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      expect(unhandled).toEqual([]);
    },
  );

  it(
    '5 MB tool results at concurrency 8: peak RSS growth against the payload',
    { timeout: 120_000 },
    async () => {
      relay = own(await startRelay());
      const agent = own(await startAgent(relay, { servers: { slow: slowServer() } }));
      await linkState(agent.gateway, 'connected');
      const size = 5 * 1000 * 1000;
      const concurrency = 8;
      const clients = await Promise.all(
        Array.from({ length: concurrency }, () => connectClient(relay, 'alice', 'slow', agent.token)),
      );
      clients.forEach(own);
      const before = memory();
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss - before.rss)), 5);
      try {
        const results = await Promise.all(
          clients.map((client) => client.callTool({ name: 'big', arguments: { bytes: size } })),
        );
        expect(results.every((result) => text(result).length === size)).toBe(true);
      } finally {
        clearInterval(sampler);
      }
      const payload = size * concurrency;
      figures['5 MB results'] = {
        concurrency,
        payloadMB: payload / 1e6,
        peakRssGrowthMB: round2(peak / 1e6),
        peakRssGrowthPerPayloadByte: round2(peak / payload),
        note: 'relay, agent and clients share this process: the figure counts every copy on the path',
      };
      expect(unhandled).toEqual([]);
    },
  );
});

function countBy(values: (string | number)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}
