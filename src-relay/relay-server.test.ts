// The relay over real sockets: a real gateway agent (server-everything and the slow test server as child
// processes) behind a real RelayServer on 127.0.0.1, called with plain fetch to check the protocol itself —
// auth, MCP Streamable HTTP (spec 2025-11-25) with sessions, SSE and resumption, the compat routes of the
// existing remote, token issue/revoke — plus the relay's environment and its standalone binary.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { decodeJwt, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import {
  type AgentFixture,
  linkState,
  SECRET,
  slowServer,
  startAgent,
  startRelay,
} from '../e2e/support/relay-fixture.js';
import { until, waitForStatus } from '../e2e/support/wait.js';
import { MAX_FRAME_BYTES } from '../src-shared/wire.js';
import { relayOptionsFromEnv } from './relay-config.js';
import type { RelayOptions, RelayServer } from './relay-server.js';

// ── helpers ──────────────────────────────────────────────────────────────────────────────────────────────

type Json = Record<string, unknown>;

/** Whatever a test starts, closed in reverse order by the afterAll/afterEach that owns the list. */
class Owned {
  readonly #closers: (() => unknown)[] = [];
  add<T>(value: T, close: (value: T) => unknown): T {
    this.#closers.push(() => close(value));
    return value;
  }
  async closeAll(): Promise<void> {
    for (const close of this.#closers.splice(0).reverse()) {
      try {
        await close();
      } catch {
        // ignore: best-effort cleanup, the next closer must still run
      }
    }
  }
}

const rpc = (id: number | string, method: string, params?: Json): Json => ({
  jsonrpc: '2.0',
  id,
  method,
  ...(params === undefined ? {} : { params }),
});
const callTool = (id: number | string, name: string, args: Json = {}, meta?: Json): Json =>
  rpc(id, 'tools/call', { name, arguments: args, ...(meta ? { _meta: meta } : {}) });
const INITIALIZE_PARAMS = {
  protocolVersion: '2025-11-25',
  capabilities: {},
  clientInfo: { name: 'relay-server-test', version: '1.0.0' },
};

const auth = (token: string) => ({ Authorization: `Bearer ${token}` });
const BOTH = 'application/json, text/event-stream';

/**
 * The body a Streamable HTTP client (Accept lists text/event-stream) gets for a refused request: a JSON-RPC
 * error object with id null, where a plain-JSON caller gets {"ok": false, "error"}.
 */
const rpcFailure = (message: unknown = expect.any(String), code: unknown = expect.any(Number)) => ({
  jsonrpc: '2.0',
  id: null,
  error: { code, message },
});

function endpoint(relay: RelayServer, subject: string, server: string): string {
  return new URL(`/${subject}/${server}/mcp`, relay.url).href;
}

function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal,
  });
}

/** Initializes an MCP session (JSON answer) and sends notifications/initialized; returns the session id. */
async function initialize(url: string, token: string, protocolVersion = '2025-11-25'): Promise<string> {
  const res = await post(url, rpc('init', 'initialize', { ...INITIALIZE_PARAMS, protocolVersion }), {
    ...auth(token),
    Accept: BOTH,
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as Json;
  expect((body['result'] as Json)['protocolVersion']).toBe(protocolVersion);
  const session = res.headers.get('mcp-session-id');
  expect(session).toBeTruthy();
  const initialized = await post(
    url,
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    { ...auth(token), Accept: BOTH, 'Mcp-Session-Id': session!, 'MCP-Protocol-Version': protocolVersion },
  );
  expect(initialized.status).toBe(202);
  return session!;
}

interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/** Reads an SSE response as it arrives; `waitFor` resolves on the chunk that satisfies a condition. */
class SseReader {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  retry: number | undefined;
  text = '';
  ended = false;
  readonly #waiters = new Set<() => void>();
  readonly #reader: ReadableStreamDefaultReader<string>;
  readonly #pumped: Promise<void>;

  constructor(
    readonly response: Response,
    private readonly controller: AbortController,
  ) {
    this.#reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    this.#pumped = this.#pump();
  }

  /** The JSON-RPC messages carried by the events (the priming event has empty data). */
  get messages(): Json[] {
    return this.events.filter((e) => e.data !== '').map((e) => JSON.parse(e.data) as Json);
  }

  async #pump(): Promise<void> {
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await this.#reader.read();
        if (done) break;
        this.text += value;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          this.#parse(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
        this.#wake();
      }
    } catch {
      // ignore: the test aborted the stream
    }
    this.ended = true;
    this.#wake();
  }

  #parse(block: string): void {
    const event: SseEvent = { data: '' };
    let isEvent = false;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        this.comments.push(line.slice(1).trim());
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'retry') this.retry = Number(value);
      else if (field === 'id') [event.id, isEvent] = [value, true];
      else if (field === 'event') [event.event, isEvent] = [value, true];
      else if (field === 'data') [isEvent] = [true, data.push(value)];
    }
    if (!isEvent) return;
    event.data = data.join('\n');
    this.events.push(event);
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  /** Resolves with the first truthy value of `check`, evaluated now and after every chunk. */
  waitFor<T>(check: () => T | undefined | null | false, what: string, timeoutMs = 10_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const attempt = () => {
        let value: T | undefined | null | false;
        try {
          value = check();
        } catch (error) {
          finish();
          return reject(error instanceof Error ? error : new Error(String(error)));
        }
        if (value) {
          finish();
          resolve(value);
        } else if (this.ended) {
          finish();
          reject(new Error(`the stream ended before ${what}; received:\n${this.text}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received:\n${this.text}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.#waiters.delete(attempt);
      };
      this.#waiters.add(attempt);
      attempt();
    });
  }

  message(predicate: (m: Json) => boolean, what: string, timeoutMs?: number): Promise<Json> {
    return this.waitFor(() => this.messages.find(predicate), what, timeoutMs);
  }

  /** The priming event (an id and empty data). */
  priming(): Promise<SseEvent> {
    return this.waitFor(
      () => this.events.find((e) => e.id !== undefined && e.data === ''),
      'the priming event',
    );
  }

  async close(): Promise<void> {
    // Abort closes the connection; cancel ends the read: an abort alone leaves a pending read hanging
    // when the body had just ended (undici in Node 20).
    this.controller.abort();
    await this.#reader.cancel().catch(() => undefined);
    await this.#pumped;
  }
}

/** Opens an SSE request (GET stream or POST) and reads it; the caller closes it. */
async function openSse(url: string, init: RequestInit): Promise<SseReader> {
  const controller = new AbortController();
  const response = await fetch(url, { ...init, signal: controller.signal });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  return new SseReader(response, controller);
}

function getStream(url: string, headers: Record<string, string>): Promise<SseReader> {
  return openSse(url, { method: 'GET', headers: { Accept: 'text/event-stream', ...headers } });
}

/** A raw HTTP request (fetch does not let a test choose the Host header). */
function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A WebSocket to /connect with `token`; resolves once open (rejects with the handshake's error). */
function connectWs(relay: RelayServer, token: string): Promise<WebSocket> {
  const ws = new WebSocket(new URL('/connect', relay.url.href.replace(/^http/, 'ws')), {
    headers: auth(token),
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function closeWs(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    ws.once('close', () => resolve());
    ws.terminate();
  });
}

/** An agent with only the slow server ("slow"), connected to `relay` and ready to serve. */
async function startSlowAgent(owned: Owned, relay: RelayServer, subject = 'alice'): Promise<AgentFixture> {
  const agent = owned.add(await startAgent(relay, { subject, servers: { slow: slowServer() } }), (a) =>
    a.close(),
  );
  await linkState(agent.gateway, 'connected');
  await waitForStatus(agent.gateway.servers, 'slow', (s) => s.state === 'running');
  return agent;
}

async function startOwnedRelay(owned: Owned, options: Partial<RelayOptions> = {}): Promise<RelayServer> {
  return owned.add(await startRelay(options), (relay) => relay.close());
}

const textOf = (response: Json) =>
  ((response['result'] as { content?: { text?: string }[] } | undefined)?.content ?? [])
    .map((c) => c.text ?? '')
    .join('');

// ── one relay, one agent with server-everything and the slow server ──────────────────────────────────────

describe('RelayServer with a real agent', () => {
  const owned = new Owned();
  const ORIGIN = 'https://app.example';
  let relay: RelayServer;
  let agent: AgentFixture;
  let everything: string;
  let slow: string;

  beforeAll(async () => {
    // A proxy in front of it names it relay.example.com (the /agents test).
    relay = await startOwnedRelay(owned, { allowedOrigins: [ORIGIN], allowedHosts: ['relay.example.com'] });
    agent = owned.add(await startAgent(relay), (a) => a.close());
    await linkState(agent.gateway, 'connected');
    await waitForStatus(agent.gateway.servers, 'everything', (s) => s.state === 'running');
    await waitForStatus(agent.gateway.servers, 'slow', (s) => s.state === 'running');
    everything = endpoint(relay, 'alice', 'everything');
    slow = endpoint(relay, 'alice', 'slow');
  });
  afterAll(() => owned.closeAll());

  const perTest = new Owned();
  afterEach(async () => {
    await perTest.closeAll();
    // Every test closes what it opened: no stream of one test leaks into the next one's counts.
    await until(() => relay.openStreams() === 0, 5000, 'the relay to see every stream closed');
  });

  describe('auth', () => {
    const ping = rpc(1, 'ping');

    it('answers 401 with WWW-Authenticate to a client route without a bearer', async () => {
      const res = await post(everything, ping, { Accept: BOTH });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
      expect(await res.json()).toEqual(rpcFailure(expect.stringMatching(/bearer/i)));
      // The existing remote's plain-JSON callers keep their body (COMPAT.md).
      const plain = await post(everything, ping);
      expect(plain.status).toBe(401);
      expect(await plain.json()).toEqual({ ok: false, error: expect.stringMatching(/bearer/i) as unknown });
      const get = await fetch(everything, { headers: { Accept: 'text/event-stream' } });
      expect(get.status).toBe(401);
      await get.body?.cancel();
    });

    it('answers 401 to a malformed token, a token signed with another secret, and an expired one', async () => {
      const otherSecret = await new SignJWT({ role: 'agent', capabilities: ['*'] })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('alice')
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode('another-secret-0123456789abcdef'));
      const expired = await new SignJWT({ role: 'agent', capabilities: ['*'] })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('alice')
        .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
        .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
        .sign(new TextEncoder().encode(SECRET));
      for (const [token, error] of [
        ['not-a-jwt', /not valid/],
        [otherSecret, /not valid/],
        [expired, /expired/],
      ] as const) {
        const res = await post(everything, ping, { ...auth(token), Accept: BOTH });
        expect(res.status, token).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
        expect(await res.json()).toEqual(rpcFailure(expect.stringMatching(error)));
      }
    });

    it("answers 403 to another subject's token and to a token whose capabilities lack the server", async () => {
      const bob = await relay.tokens.issue('bob', ['*'], 5);
      const res = await post(everything, ping, { ...auth(bob), Accept: BOTH });
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual(rpcFailure());

      const slowOnly = await relay.tokens.issue('alice', ['slow'], 5);
      const denied = await post(everything, ping, { ...auth(slowOnly), Accept: BOTH });
      expect(denied.status).toBe(403);
      expect(await denied.json()).toEqual(rpcFailure(expect.stringContaining('everything')));
      const allowed = await post(slow, ping, { ...auth(slowOnly), Accept: 'application/json' });
      expect(allowed.status).toBe(200);
      expect(await allowed.json()).toEqual({ jsonrpc: '2.0', id: 1, result: {} });
    });

    it('/agents needs a token and lists only the agent of its subject', async () => {
      const none = await fetch(new URL('/agents', relay.url));
      expect(none.status).toBe(401);
      await none.body?.cancel();
      const bad = await fetch(new URL('/agents', relay.url), { headers: auth('nope') });
      expect(bad.status).toBe(401);
      await bad.body?.cancel();

      const mine = (await (
        await fetch(new URL('/agents', relay.url), { headers: auth(agent.token) })
      ).json()) as { agents: Json[] };
      expect(mine.agents).toHaveLength(1);
      expect(mine.agents[0]).toMatchObject({
        subject: 'alice',
        capabilities: expect.arrayContaining(['everything', 'slow']) as unknown,
        endpoints: { everything, slow },
      });

      const bob = await relay.tokens.issue('bob', ['*'], 5);
      const theirs = await fetch(new URL('/agents', relay.url), { headers: auth(bob) });
      expect(theirs.status).toBe(200);
      expect(await theirs.json()).toEqual({ agents: [] });
    });

    it('/agents reports endpoint URLs for the Host (and X-Forwarded-Proto) the request came to', async () => {
      const res = await rawRequest(new URL('/agents', relay.url).href, {
        headers: { ...auth(agent.token), Host: 'relay.example.com', 'X-Forwarded-Proto': 'https' },
      });
      expect(res.status).toBe(200);
      const { agents } = JSON.parse(res.body) as { agents: Json[] };
      expect(agents[0]?.['endpoints']).toEqual({
        everything: 'https://relay.example.com/alice/everything/mcp',
        slow: 'https://relay.example.com/alice/slow/mcp',
      });
    });

    it('/healthz is open', async () => {
      const res = await fetch(new URL('/healthz', relay.url));
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ ok: true, agents: 1 });
    });
  });

  describe('Streamable HTTP', () => {
    it('initialize answers with an Mcp-Session-Id and the negotiated version', async () => {
      const res = await post(everything, rpc(1, 'initialize', INITIALIZE_PARAMS), {
        ...auth(agent.token),
        Accept: BOTH,
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('mcp-session-id')).toMatch(/^[\x21-\x7e]+$/);
      const body = (await res.json()) as { result: Json };
      expect(body.result['protocolVersion']).toBe('2025-11-25');
      expect(body.result['serverInfo']).toMatchObject({
        name: expect.stringContaining('everything') as unknown,
      });
    });

    it('initialize over SSE (Accept: text/event-stream) also answers with an Mcp-Session-Id', async () => {
      const reader = perTest.add(
        await openSse(everything, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', ...auth(agent.token), Accept: 'text/event-stream' },
          body: JSON.stringify(
            rpc('i', 'initialize', { ...INITIALIZE_PARAMS, protocolVersion: '2025-06-18' }),
          ),
        }),
        (r) => r.close(),
      );
      const session = reader.response.headers.get('mcp-session-id');
      expect(session).toBeTruthy();
      const response = await reader.message((m) => m['id'] === 'i', 'the initialize response');
      expect((response['result'] as Json)['protocolVersion']).toBe('2025-06-18');
      // Clients before 2025-11-25 get no priming event: older SDKs fail on its empty data.
      expect(reader.events.filter((e) => e.data === '')).toEqual([]);
      const ping = await post(everything, rpc(1, 'ping'), {
        ...auth(agent.token),
        Accept: 'application/json',
        'Mcp-Session-Id': session!,
        'MCP-Protocol-Version': '2025-06-18',
      });
      expect(ping.status).toBe(200);
      await ping.body?.cancel();
    });

    it('answers 404 to an unknown session id, and to a session of another server', async () => {
      const res = await post(everything, rpc(1, 'ping'), {
        ...auth(agent.token),
        Accept: BOTH,
        'Mcp-Session-Id': 'no-such-session',
      });
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual(rpcFailure(expect.stringContaining('session'), -32001));

      const session = await initialize(everything, agent.token);
      const elsewhere = await post(slow, rpc(2, 'ping'), {
        ...auth(agent.token),
        Accept: BOTH,
        'Mcp-Session-Id': session,
      });
      expect(elsewhere.status).toBe(404);
      await elsewhere.body?.cancel();
    });

    it('DELETE ends a session (204, then 404 for its id); DELETE without a session is 400', async () => {
      const session = await initialize(everything, agent.token);
      const headers = { ...auth(agent.token), 'Mcp-Session-Id': session };
      const deleted = await fetch(everything, { method: 'DELETE', headers });
      expect(deleted.status).toBe(204);
      const after = await post(everything, rpc(1, 'ping'), { ...headers, Accept: BOTH });
      expect(after.status).toBe(404);
      await after.body?.cancel();
      const again = await fetch(everything, { method: 'DELETE', headers });
      expect(again.status).toBe(404);
      await again.body?.cancel();

      const without = await fetch(everything, { method: 'DELETE', headers: auth(agent.token) });
      expect(without.status).toBe(400);
      expect(await without.json()).toMatchObject({ ok: false });
    });

    it('refuses an unsupported MCP-Protocol-Version with 400 and accepts the supported ones', async () => {
      const session = await initialize(everything, agent.token);
      const headers = { ...auth(agent.token), Accept: BOTH, 'Mcp-Session-Id': session };
      const bad = await post(everything, rpc(1, 'ping'), {
        ...headers,
        'MCP-Protocol-Version': '1999-01-01',
      });
      expect(bad.status).toBe(400);
      expect(await bad.json()).toEqual(rpcFailure(expect.stringContaining('1999-01-01')));
      for (const version of ['2025-11-25', '2025-06-18', '2025-03-26']) {
        const res = await post(everything, rpc(version, 'ping'), {
          ...headers,
          'MCP-Protocol-Version': version,
        });
        expect(res.status, version).toBe(200);
        // A 2025-11-25 client that accepts both gets a resumable SSE stream; older ones get JSON.
        const sse = version === '2025-11-25';
        expect(res.headers.get('content-type'), version).toBe(sse ? 'text/event-stream' : 'application/json');
        const text = await res.text();
        const body = sse ? text.match(/^data: (\{.*)$/m)?.[1] : text;
        expect(JSON.parse(body ?? 'null')).toEqual({ jsonrpc: '2.0', id: version, result: {} });
      }
    });

    it('answers with JSON to Accept: application/json', async () => {
      const session = await initialize(everything, agent.token);
      const res = await post(everything, callTool(7, 'echo', { message: 'json please' }), {
        ...auth(agent.token),
        Accept: 'application/json',
        'Mcp-Session-Id': session,
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const body = (await res.json()) as Json;
      expect(body).toMatchObject({ jsonrpc: '2.0', id: 7 });
      expect(textOf(body)).toContain('json please');
    });

    it('answers with SSE to Accept: text/event-stream; its events carry ids and the response', async () => {
      const session = await initialize(everything, agent.token);
      const reader = perTest.add(
        await openSse(everything, {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            ...auth(agent.token),
            Accept: 'text/event-stream',
            'Mcp-Session-Id': session,
          },
          body: JSON.stringify(callTool(8, 'echo', { message: 'sse please' })),
        }),
        (r) => r.close(),
      );
      await reader.waitFor(() => reader.ended, 'the stream to end after the response');
      expect(reader.retry).toBeGreaterThan(0);
      const priming = reader.events[0]!;
      expect(priming).toMatchObject({ id: expect.stringMatching(/^\d+$/) as unknown, data: '' });
      const responseEvent = reader.events.find((e) => e.data.includes('"id":8'));
      expect(responseEvent?.id).toMatch(/^\d+$/);
      expect(Number(responseEvent!.id)).toBeGreaterThan(Number(priming.id));
      const response = JSON.parse(responseEvent!.data) as Json;
      expect(response).toMatchObject({ jsonrpc: '2.0', id: 8 });
      expect(textOf(response)).toContain('sse please');
    });

    it('streams progress notifications, then the response, when the request has a progressToken', async () => {
      const session = await initialize(everything, agent.token);
      const reader = perTest.add(
        await openSse(everything, {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            ...auth(agent.token),
            Accept: BOTH,
            'Mcp-Session-Id': session,
          },
          body: JSON.stringify(
            callTool(
              9,
              'trigger-long-running-operation',
              { duration: 0.3, steps: 3 },
              { progressToken: 'p-9' },
            ),
          ),
        }),
        (r) => r.close(),
      );
      await reader.waitFor(() => reader.ended, 'the stream to end after the response');
      const messages = reader.messages;
      const progress = messages.filter((m) => m['method'] === 'notifications/progress');
      expect(progress.map((m) => (m['params'] as Json)['progress'])).toEqual([1, 2, 3]);
      for (const m of progress) expect((m['params'] as Json)['progressToken']).toBe('p-9');
      expect(messages.at(-1)).toMatchObject({ jsonrpc: '2.0', id: 9 });
      expect(textOf(messages.at(-1)!)).toMatch(/completed/i);
      const ids = reader.events.map((e) => Number(e.id));
      expect(ids.every((id) => Number.isInteger(id))).toBe(true);
      expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    });

    it('answers 202 to a notification', async () => {
      const session = await initialize(everything, agent.token);
      const res = await post(
        everything,
        { jsonrpc: '2.0', method: 'notifications/roots/list_changed' },
        { ...auth(agent.token), Accept: BOTH, 'Mcp-Session-Id': session },
      );
      expect(res.status).toBe(202);
      expect(await res.text()).toBe('');
    });

    it('refuses a JSON-RPC batch and invalid JSON with 400', async () => {
      const headers = { ...auth(agent.token), Accept: BOTH };
      const batch = await post(everything, [rpc(1, 'ping'), rpc(2, 'ping')], headers);
      expect(batch.status).toBe(400);
      expect(await batch.json()).toEqual(rpcFailure(expect.stringMatching(/batch/i), -32600));
      const invalid = await post(everything, '{"jsonrpc": "2.0", "id": 1, "method": ', headers);
      expect(invalid.status).toBe(400);
      expect(await invalid.json()).toEqual(rpcFailure(expect.stringMatching(/JSON/), -32700));
      const notRpc = await post(everything, { hello: 'world' }, headers);
      expect(notRpc.status).toBe(400);
      await notRpc.body?.cancel();
    });

    it('refuses a foreign Origin with 403 and lets a listed one (and its own) through', async () => {
      const headers = { ...auth(agent.token), Accept: 'application/json' };
      const foreign = await post(everything, rpc(1, 'ping'), { ...headers, Origin: 'https://evil.example' });
      expect(foreign.status).toBe(403);
      expect(await foreign.json()).toMatchObject({
        ok: false,
        error: expect.stringContaining('Origin') as unknown,
      });
      const listed = await post(everything, rpc(2, 'ping'), { ...headers, Origin: ORIGIN });
      expect(listed.status).toBe(200);
      expect(await listed.json()).toEqual({ jsonrpc: '2.0', id: 2, result: {} });
      const own = await post(everything, rpc(3, 'ping'), { ...headers, Origin: relay.url.origin });
      expect(own.status).toBe(200);
      await own.body?.cancel();
    });
  });

  describe('GET stream', () => {
    it('opens with retry: and a priming event, and carries server-wide notifications', async () => {
      const session = await initialize(slow, agent.token);
      const headers = { ...auth(agent.token), 'Mcp-Session-Id': session };
      const reader = perTest.add(await getStream(slow, headers), (r) => r.close());
      const priming = await reader.priming();
      expect(reader.text.startsWith('retry:')).toBe(true);
      expect(reader.retry).toBeGreaterThan(0);
      expect(priming.id).toMatch(/^\d+$/);

      // From another request: the slow server's announce sends list_changed and a log message.
      const res = await post(slow, callTool(1, 'announce'), {
        ...headers,
        Accept: 'application/json',
      });
      expect(textOf((await res.json()) as Json)).toBe('sent');
      const listChanged = await reader.message(
        (m) => m['method'] === 'notifications/tools/list_changed',
        'tools/list_changed',
      );
      expect(listChanged).toMatchObject({ jsonrpc: '2.0' });
      const log = await reader.message((m) => m['method'] === 'notifications/message', 'the log message');
      expect((log['params'] as Json)['data']).toBe('announced');
      for (const event of reader.events) expect(event.id).toMatch(/^\d+$/);
    });

    it('sends no priming event (empty data) to clients of versions before 2025-11-25', async () => {
      for (const version of ['2025-06-18', '2025-03-26']) {
        const session = await initialize(slow, agent.token, version);
        const headers = { ...auth(agent.token), 'Mcp-Session-Id': session, 'MCP-Protocol-Version': version };
        const get = perTest.add(await getStream(slow, headers), (r) => r.close());
        try {
          const call = perTest.add(
            await openSse(slow, {
              method: 'POST',
              headers: { 'Content-Type': 'application/json', ...headers, Accept: 'text/event-stream' },
              body: JSON.stringify(callTool(1, 'announce')),
            }),
            (r) => r.close(),
          );
          await call.waitFor(() => call.ended, 'the POST stream to end');
          expect(call.events.map((e) => e.data === '')).toEqual([false]);
          expect(textOf(call.messages[0]!)).toBe('sent');
          await get.message((m) => m['method'] === 'notifications/message', `the log message (${version})`);
          expect(
            get.events.filter((e) => e.data === ''),
            version,
          ).toEqual([]);
          // Events still carry ids: the client can resume from the last one it saw.
          for (const event of [...get.events, ...call.events]) expect(event.id).toMatch(/^\d+$/);
        } finally {
          await get.close();
        }
      }
    });

    it('answers 405 to a GET without Accept: text/event-stream', async () => {
      const session = await initialize(slow, agent.token);
      const res = await fetch(slow, {
        headers: { ...auth(agent.token), 'Mcp-Session-Id': session, Accept: 'application/json' },
      });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBeTruthy();
      await res.body?.cancel();
    });
  });

  describe('resumption', () => {
    it('replays the notifications a closed GET stream missed, from Last-Event-ID', async () => {
      const session = await initialize(slow, agent.token);
      const headers = { ...auth(agent.token), 'Mcp-Session-Id': session };
      const first = perTest.add(await getStream(slow, headers), (r) => r.close());
      const priming = await first.priming();
      await first.close();
      await until(() => relay.openStreams() === 0, 5000, 'the relay to see the stream closed');

      const res = await post(slow, callTool(1, 'announce'), { ...headers, Accept: 'application/json' });
      expect(textOf((await res.json()) as Json)).toBe('sent');

      const resumed = perTest.add(await getStream(slow, { ...headers, 'Last-Event-ID': priming.id! }), (r) =>
        r.close(),
      );
      await resumed.waitFor(
        () =>
          resumed.messages.some((m) => m['method'] === 'notifications/tools/list_changed') &&
          resumed.messages.some((m) => m['method'] === 'notifications/message'),
        'the missed notifications',
      );
      const replayed = resumed.events.filter((e) => e.data !== '');
      for (const event of replayed) {
        expect(event.id).toMatch(/^\d+$/);
        expect(Number(event.id)).toBeGreaterThan(Number(priming.id));
      }
      // The session still delivers live notifications on the resumed stream.
      await (await post(slow, callTool(2, 'announce'), { ...headers, Accept: 'application/json' })).json();
      await resumed.waitFor(
        () => resumed.messages.filter((m) => m['method'] === 'notifications/message').length >= 2,
        'a live notification after the replay',
      );
    });

    it('delivers the response of a POST stream cut before it, on a GET with the priming id', async () => {
      const session = await initialize(slow, agent.token);
      const headers = { ...auth(agent.token), 'Mcp-Session-Id': session };
      const cut = perTest.add(
        await openSse(slow, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', ...headers, Accept: 'text/event-stream' },
          body: JSON.stringify(callTool(42, 'wait', { ms: 500, label: 'cut-stream' })),
        }),
        (r) => r.close(),
      );
      const priming = await cut.priming();
      await cut.close();
      expect(cut.messages).toEqual([]);

      const resumed = perTest.add(await getStream(slow, { ...headers, 'Last-Event-ID': priming.id! }), (r) =>
        r.close(),
      );
      const response = await resumed.message((m) => m['id'] === 42, 'the response of the cut stream');
      expect(textOf(response)).toBe('waited for cut-stream');
      const event = resumed.events.find((e) => e.data.includes('"id":42'));
      expect(Number(event?.id)).toBeGreaterThan(Number(priming.id));
      // The response was the last message of that stream: the resumed stream ends with it.
      await resumed.waitFor(() => resumed.ended, 'the resumed stream to end');
    });
  });

  describe('compat with the existing remote', () => {
    it('answers a sessionless call without initialize with plain JSON', async () => {
      const res = await post(everything, callTool(1, 'echo', { message: 'no session' }), auth(agent.token));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('mcp-session-id')).toBeNull();
      const body = (await res.json()) as Json;
      expect(body).toMatchObject({ jsonrpc: '2.0', id: 1 });
      expect(textOf(body)).toContain('no session');
    });

    it('accepts the {"payload": …} wrapper', async () => {
      const res = await post(
        everything,
        { payload: callTool('wrapped', 'echo', { message: 'wrapped' }) },
        auth(agent.token),
      );
      expect(res.status).toBe(200);
      const body = (await res.json()) as Json;
      expect(body).toMatchObject({ jsonrpc: '2.0', id: 'wrapped' });
      expect(textOf(body)).toContain('wrapped');
    });

    it('answers POST /{subject}/{server}/sse with SSE events, whatever the Accept header', async () => {
      const sse = new URL('/alice/everything/sse', relay.url).href;
      const reader = perTest.add(
        await openSse(sse, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', ...auth(agent.token), Accept: 'application/json' },
          body: JSON.stringify(callTool(5, 'echo', { message: 'over sse' })),
        }),
        (r) => r.close(),
      );
      await reader.waitFor(() => reader.ended, 'the stream to end after the response');
      expect(reader.messages).toHaveLength(1);
      expect(textOf(reader.messages[0]!)).toContain('over sse');
      const get = await fetch(sse, { headers: { ...auth(agent.token), Accept: 'text/event-stream' } });
      expect(get.status).toBe(405);
      await get.body?.cancel();
    });

    it('holds a sessionless GET stream that carries server notifications', async () => {
      const reader = perTest.add(await getStream(slow, auth(agent.token)), (r) => r.close());
      await reader.waitFor(() => reader.comments.length > 0, 'the first comment');
      expect(reader.text.startsWith('retry:')).toBe(true);
      const res = await post(slow, callTool(1, 'announce'), auth(agent.token));
      expect(textOf((await res.json()) as Json)).toBe('sent');
      await reader.message((m) => m['method'] === 'notifications/tools/list_changed', 'tools/list_changed');
      await reader.message((m) => m['method'] === 'notifications/message', 'the log message');
    });

    it('answers 404 {ok:false} without a session and 503 with one when no agent is connected', async () => {
      const nobody = await relay.tokens.issue('nobody', ['*'], 5);
      const url = endpoint(relay, 'nobody', 'everything');
      const sessionless = await post(url, callTool(1, 'echo', { message: 'x' }), auth(nobody));
      expect(sessionless.status).toBe(404);
      expect(await sessionless.json()).toEqual({
        ok: false,
        error: expect.stringContaining('nobody') as unknown,
      });
      // An initialize starts a session: an MCP client that saw 404 there would loop re-initializing.
      const init = await post(url, rpc(1, 'initialize', INITIALIZE_PARAMS), {
        ...auth(nobody),
        Accept: BOTH,
      });
      expect(init.status).toBe(503);
      expect(await init.json()).toEqual(rpcFailure(expect.stringContaining('nobody')));
      const get = await fetch(url, { headers: { ...auth(nobody), Accept: 'text/event-stream' } });
      expect(get.status).toBe(404);
      await get.body?.cancel();
    });

    it('answers 503 to a session whose agent has gone', async () => {
      const carol = await startSlowAgent(perTest, relay, 'carol');
      const url = endpoint(relay, 'carol', 'slow');
      const session = await initialize(url, carol.token);
      await carol.close();
      await until(() => !relay.agents().some((a) => a.subject === 'carol'), 5000, 'carol to leave');
      const headers = { ...auth(carol.token), Accept: BOTH, 'Mcp-Session-Id': session };
      const res = await post(url, rpc(1, 'ping'), headers);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual(rpcFailure(expect.stringContaining('carol')));
      const get = await fetch(url, { headers: { ...headers, Accept: 'text/event-stream' } });
      expect(get.status).toBe(503);
      await get.body?.cancel();
    });
  });
});

// ── relays with other options ────────────────────────────────────────────────────────────────────────────

describe('RelayServer options', () => {
  const owned = new Owned();
  afterEach(() => owned.closeAll());

  it('ALLOW_UNAUTH (allowUnauthMcp) lets a call through without a bearer', async () => {
    const relay = await startOwnedRelay(owned, { allowUnauthMcp: true });
    await startSlowAgent(owned, relay);
    const res = await post(endpoint(relay, 'alice', 'slow'), callTool(1, 'echo', { message: 'open door' }), {
      Accept: 'application/json',
    });
    expect(res.status).toBe(200);
    expect(textOf((await res.json()) as Json)).toBe('open door');
    // /agents still needs a token.
    const agents = await fetch(new URL('/agents', relay.url));
    expect(agents.status).toBe(401);
    await agents.body?.cancel();
  });

  it('sends keep-alive comments on the GET stream every keepAliveMs', async () => {
    const relay = await startOwnedRelay(owned, { keepAliveMs: 100 });
    const agent = await startSlowAgent(owned, relay);
    const url = endpoint(relay, 'alice', 'slow');
    const session = await initialize(url, agent.token);
    const reader = owned.add(await getStream(url, { ...auth(agent.token), 'Mcp-Session-Id': session }), (r) =>
      r.close(),
    );
    await reader.priming();
    await reader.waitFor(() => reader.comments.length >= 2, 'two keep-alive comments', 5000);
    expect(reader.comments[0]).toBe('keep-alive');
  });

  it('answers 413 to a body over maxBodyBytes', async () => {
    const relay = await startOwnedRelay(owned, { maxBodyBytes: 1024 });
    const token = await relay.tokens.issue('alice', ['*'], 5);
    const big = callTool(1, 'echo', { message: 'x'.repeat(2048) });
    const res = await post(endpoint(relay, 'alice', 'everything'), big, { ...auth(token), Accept: BOTH });
    expect(res.status).toBe(413);
    // The size and the limit, as people read them.
    expect(await res.json()).toEqual(
      rpcFailure(expect.stringMatching(/^the body is 2(\.\d)? KiB, over the 1 KiB limit$/)),
    );
    // Without Content-Length (chunked), the limit holds while reading.
    const chunked = await rawRequest(endpoint(relay, 'alice', 'everything'), {
      method: 'POST',
      headers: { ...auth(token), 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
      body: JSON.stringify(big),
    });
    expect(chunked.status).toBe(413);
  });

  it('refuses a Host that names neither the relay nor an allowed host with 403 (DNS rebinding; also on /connect)', async () => {
    const relay = await startOwnedRelay(owned, {
      publicBaseUrl: 'https://relay.example.com',
      allowedHosts: ['other.example', 'tunnel.example:8443'],
    });
    const token = await relay.tokens.issue('alice', ['*'], 5);
    const status = async (host: string, path = '/agents') =>
      (await rawRequest(new URL(path, relay.url).href, { headers: { ...auth(token), Host: host } })).status;
    // The listening address (any loopback name and port, as a local tunnel gives), PUBLIC_BASE_URL's host, and
    // ALLOWED_HOSTS entries (a name alone: any port).
    for (const host of [relay.url.host, `localhost:${relay.url.port}`, '[::1]:9', 'relay.example.com'])
      expect(await status(host), host).toBe(200);
    for (const host of ['other.example', 'other.example:81', 'tunnel.example:8443'])
      expect(await status(host), host).toBe(200);
    for (const host of [
      'evil.example',
      `evil.example:${relay.url.port}`,
      'relay.example.com:8443',
      'tunnel.example',
    ])
      expect(await status(host), host).toBe(403);
    // A health probe (a load balancer's, by IP) may name any host.
    expect(await status('10.1.2.3:8000', '/healthz')).toBe(200);

    const mcp = await rawRequest(endpoint(relay, 'alice', 'everything'), {
      method: 'POST',
      headers: { ...auth(token), Host: 'evil.example', 'Content-Type': 'application/json' },
      body: JSON.stringify(rpc(1, 'ping')),
    });
    expect(mcp.status).toBe(403);
    expect(JSON.parse(mcp.body)).toMatchObject({
      ok: false,
      error: expect.stringContaining('Host') as unknown,
    });

    const ws = new WebSocket(new URL('/connect', relay.url.href.replace(/^http/, 'ws')), {
      headers: { ...auth(token), Host: 'evil.example' },
    });
    await expect(
      new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      }),
    ).rejects.toThrow(/403/);
  });

  it('answers 504 {ok:false} to a plain JSON caller and a -32001 error to an MCP client when a call times out', async () => {
    const relay = await startOwnedRelay(owned, { requestTimeoutMs: 300 });
    const agent = await startSlowAgent(owned, relay);
    const url = endpoint(relay, 'alice', 'slow');
    const json = await post(
      url,
      callTool(1, 'wait', { ms: 2000, label: 'too-slow-json' }),
      auth(agent.token),
    );
    expect(json.status).toBe(504);
    expect(await json.json()).toEqual({ ok: false, error: expect.any(String) as unknown });
    // A Streamable HTTP client answered in JSON gets the call's own JSON-RPC error, with its id.
    const rpcClient = await post(url, callTool(3, 'wait', { ms: 2000, label: 'too-slow-rpc' }), {
      ...auth(agent.token),
      Accept: BOTH,
    });
    expect(rpcClient.status).toBe(504);
    expect(await rpcClient.json()).toMatchObject({ jsonrpc: '2.0', id: 3, error: { code: -32001 } });

    const session = await initialize(url, agent.token);
    const reader = owned.add(
      await openSse(url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          ...auth(agent.token),
          Accept: 'text/event-stream',
          'Mcp-Session-Id': session,
        },
        body: JSON.stringify(callTool(2, 'wait', { ms: 2000, label: 'too-slow-sse' })),
      }),
      (r) => r.close(),
    );
    const error = await reader.message((m) => m['id'] === 2, 'the timeout error');
    expect(error).toMatchObject({ jsonrpc: '2.0', id: 2, error: { code: -32001 } });
    await reader.waitFor(() => reader.ended, 'the stream to end');
  });

  it('answers 503 to a third concurrent call with maxInFlightPerAgent: 2', async () => {
    const relay = await startOwnedRelay(owned, { maxInFlightPerAgent: 2 });
    const agent = await startSlowAgent(owned, relay);
    const url = endpoint(relay, 'alice', 'slow');
    const calls = [1, 2].map((id) =>
      post(url, callTool(id, 'wait', { ms: 1000, label: `busy-${id}` }), auth(agent.token)),
    );
    await until(() => relay.agents()[0]?.inFlight === 2, 5000, 'two calls in flight');
    const third = await post(url, callTool(3, 'echo', { message: 'third' }), auth(agent.token));
    expect(third.status).toBe(503);
    expect(await third.json()).toEqual({ ok: false, error: expect.stringContaining('in flight') as unknown });
    for (const [i, call] of calls.entries()) {
      const res = await call;
      expect(res.status).toBe(200);
      expect(textOf((await res.json()) as Json)).toBe(`waited for busy-${i + 1}`);
    }
    const after = await post(url, callTool(4, 'echo', { message: 'fourth' }), auth(agent.token));
    expect(textOf((await after.json()) as Json)).toBe('fourth');
  });

  it('reports endpoints under PUBLIC_BASE_URL to a registering agent', async () => {
    const relay = await startOwnedRelay(owned, { publicBaseUrl: 'https://public.example/relay' });
    const ws = owned.add(await connectWs(relay, await relay.tokens.issue('gina', ['*'], 5)), closeWs);
    const registered = new Promise<Json>((resolve) =>
      ws.once('message', (data: Buffer) => resolve(JSON.parse(data.toString('utf8')) as Json)),
    );
    ws.send(JSON.stringify({ type: 'register', subject: 'gina', capabilities: ['files', 'notes'] }));
    expect(await registered).toEqual({
      type: 'registered',
      subject: 'gina',
      endpoints: {
        files: 'https://public.example/relay/gina/files/mcp',
        notes: 'https://public.example/relay/gina/notes/mcp',
      },
      max_frame_bytes: MAX_FRAME_BYTES,
      features: ['server-requests', 'stream-close'],
    });
  });
});

// ── /manage/jwt ──────────────────────────────────────────────────────────────────────────────────────────

describe('/manage/jwt/issue and /manage/jwt/revoke', () => {
  const owned = new Owned();
  afterEach(() => owned.closeAll());

  const issue = (relay: RelayServer, body: unknown, headers: Record<string, string> = {}) =>
    post(new URL('/manage/jwt/issue', relay.url).href, body, headers);
  const revoke = (relay: RelayServer, token: string) =>
    post(new URL('/manage/jwt/revoke', relay.url).href, { token });

  it('is 404 unless jwtFallbackEnabled', async () => {
    const relay = await startOwnedRelay(owned);
    const res = await issue(relay, { subject: 'dave', expiry_minutes: 5, capabilities: ['*'] });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({
      ok: false,
      error: expect.stringContaining('JWT_FALLBACK') as unknown,
    });
  });

  it('issues tokens with sub, role, capabilities, iat, exp, jti, iss and aud; checks expiry and taken subjects', async () => {
    const relay = await startOwnedRelay(owned, {
      jwtFallbackEnabled: true,
      jwtIssuer: 'https://relay.test',
      jwtAudience: 'mcpassistant',
    });
    const res = await issue(relay, { subject: 'dave', expiry_minutes: 30, capabilities: ['everything'] });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json;
    expect(body).toMatchObject({
      subject: 'dave',
      expiry_minutes: 30,
      capabilities: ['everything'],
      auth_mode: 'jwt_fallback',
    });
    const claims = decodeJwt(body['token'] as string);
    expect(claims).toMatchObject({
      sub: 'dave',
      role: 'agent',
      capabilities: ['everything'],
      iss: 'https://relay.test',
      aud: 'mcpassistant',
    });
    expect(claims.jti).toEqual(expect.any(String) as unknown);
    expect(claims.exp! - claims.iat!).toBe(30 * 60);
    expect(Math.abs(claims.iat! - Date.now() / 1000)).toBeLessThan(60);
    expect((await relay.tokens.verify(body['token'] as string)).ok).toBe(true);

    for (const minutes of [0, 1441, 1.5, '10']) {
      const bad = await issue(relay, { subject: `e-${String(minutes)}`, expiry_minutes: minutes });
      expect(bad.status, String(minutes)).toBe(400);
      expect(await bad.json()).toMatchObject({
        ok: false,
        error: expect.stringContaining('expiry_minutes') as unknown,
      });
    }
    for (const minutes of [1, 1440]) {
      const edge = await issue(relay, { subject: `edge-${minutes}`, expiry_minutes: minutes });
      expect(edge.status, String(minutes)).toBe(200);
      await edge.body?.cancel();
    }

    const taken = await issue(relay, { subject: 'dave', expiry_minutes: 5 });
    expect(taken.status).toBe(409);
    expect(await taken.json()).toMatchObject({
      ok: false,
      error: expect.stringContaining('dave') as unknown,
    });
    const otherHolder = await issue(
      relay,
      { subject: 'dave', expiry_minutes: 5 },
      auth(await relay.tokens.issue('eve', ['*'], 5)),
    );
    expect(otherHolder.status).toBe(409);
    await otherHolder.body?.cancel();
    const holder = await issue(relay, { subject: 'dave', expiry_minutes: 5 }, auth(body['token'] as string));
    expect(holder.status).toBe(200);
    expect(decodeJwt(((await holder.json()) as Json)['token'] as string).sub).toBe('dave');
  });

  it('refuses a foreign Origin and a body that is not a JSON object', async () => {
    const relay = await startOwnedRelay(owned, { jwtFallbackEnabled: true });
    // A cross-site form or text/plain fetch needs no preflight: without this check a page could claim subjects.
    const foreign = await post(
      new URL('/manage/jwt/issue', relay.url).href,
      JSON.stringify({ subject: 'victim' }),
      { 'Content-Type': 'text/plain', Origin: 'https://evil.example' },
    );
    expect(foreign.status).toBe(403);
    await foreign.body?.cancel();
    const agents = await fetch(new URL('/agents', relay.url), {
      headers: { ...auth(await relay.tokens.issue('victim', ['*'], 5)), Origin: 'https://evil.example' },
    });
    expect(agents.status).toBe(403);
    await agents.body?.cancel();

    for (const body of ['null', '[]', '"dave"', '12']) {
      const res = await issue(relay, body);
      expect(res.status, body).toBe(400);
      expect(await res.json()).toEqual({ ok: false, error: 'the body must be a JSON object' });
      const rev = await post(new URL('/manage/jwt/revoke', relay.url).href, body);
      expect(rev.status, body).toBe(400);
      await rev.body?.cancel();
    }
    // The subject was not claimed by any of these.
    const res = await issue(relay, { subject: 'victim', expiry_minutes: 5 });
    expect(res.status).toBe(200);
    await res.body?.cancel();
  });

  it('refuses a revoked token on client routes and /connect, and closes its agent with 4401', async () => {
    const relay = await startOwnedRelay(owned, { jwtFallbackEnabled: true });
    const issued = (await (
      await issue(relay, { subject: 'frank', expiry_minutes: 10, capabilities: ['*'] })
    ).json()) as { token: string };
    const token = issued.token;
    const url = endpoint(relay, 'frank', 'everything');

    // A raw agent connected with the token.
    const ws = owned.add(await connectWs(relay, token), closeWs);
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    const registered = new Promise<Json>((resolve) =>
      ws.once('message', (data: Buffer) => resolve(JSON.parse(data.toString('utf8')) as Json)),
    );
    ws.send(JSON.stringify({ type: 'register', subject: 'frank', capabilities: ['everything'] }));
    expect(await registered).toEqual({
      type: 'registered',
      subject: 'frank',
      endpoints: { everything: `${relay.url.origin}/frank/everything/mcp` },
      max_frame_bytes: MAX_FRAME_BYTES,
      features: ['server-requests', 'stream-close'],
    });
    // Before revocation the token passes auth (an agent that never answers: a notification is enough).
    const before = await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, auth(token));
    expect(before.status).toBe(202);

    const revoked = await revoke(relay, token);
    expect(revoked.status).toBe(200);
    expect(await revoked.json()).toEqual({ revoked: true });
    expect(await closed).toEqual({ code: 4401, reason: 'token revoked' });

    const res = await post(url, rpc(1, 'ping'), { ...auth(token), Accept: BOTH });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual(rpcFailure(expect.stringContaining('revoked')));
    await expect(connectWs(relay, token)).rejects.toThrow(/401/);
    // Only tokens signed by this relay can be revoked.
    const foreign = await revoke(relay, 'not-a-jwt');
    expect(foreign.status).toBe(400);
    await foreign.body?.cancel();
  });
});

// ── environment ──────────────────────────────────────────────────────────────────────────────────────────

describe('relayOptionsFromEnv', () => {
  const secret = 'a-secret-of-at-least-16-characters';

  it("has the existing remote's defaults, except ALLOW_UNAUTH_MCP_TRANSPORT=false", () => {
    const options = relayOptionsFromEnv({ JWT_SECRET: secret });
    expect(options).toMatchObject({
      host: '0.0.0.0',
      port: 8000,
      jwtSecret: secret,
      jwtAlgorithm: 'HS256',
      requestTimeoutMs: 20_000,
      allowUnauthMcp: false,
      jwtFallbackEnabled: false,
      allowedOrigins: [],
      logLevel: 'info',
    });
    expect(options.jwtIssuer).toBeUndefined();
    expect(options.jwtAudience).toBeUndefined();
  });

  it('reads every variable', () => {
    const options = relayOptionsFromEnv({
      JWT_SECRET: secret,
      HOST: '127.0.0.1',
      PORT: '0',
      REQUEST_TIMEOUT_SECONDS: '2.5',
      JWT_ALGORITHM: 'HS512',
      JWT_ISSUER: 'https://relay.test',
      JWT_AUDIENCE: 'mcpassistant',
      PUBLIC_BASE_URL: 'https://relay.example.com',
      ALLOWED_ORIGINS: 'https://a.example, https://b.example,',
      MAX_BODY_BYTES: '2048',
      MAX_IN_FLIGHT_PER_AGENT: '8',
      LOG_LEVEL: 'debug',
    });
    expect(options).toMatchObject({
      host: '127.0.0.1',
      port: 0,
      requestTimeoutMs: 2500,
      jwtAlgorithm: 'HS512',
      jwtIssuer: 'https://relay.test',
      jwtAudience: 'mcpassistant',
      publicBaseUrl: 'https://relay.example.com',
      allowedOrigins: ['https://a.example', 'https://b.example'],
      maxBodyBytes: 2048,
      maxInFlightPerAgent: 8,
      logLevel: 'debug',
    });
  });

  it('reads booleans as 1/true/yes/on (any case), everything else as false', () => {
    for (const value of ['true', 'TRUE', '1', 'yes', 'On', ' true ']) {
      const options = relayOptionsFromEnv({
        JWT_SECRET: secret,
        ALLOW_UNAUTH_MCP_TRANSPORT: value,
        JWT_FALLBACK_ENABLED: value,
      });
      expect(options.allowUnauthMcp, value).toBe(true);
      expect(options.jwtFallbackEnabled, value).toBe(true);
    }
    for (const value of ['false', 'False', '0', 'no', 'off', '']) {
      const options = relayOptionsFromEnv({
        JWT_SECRET: secret,
        ALLOW_UNAUTH_MCP_TRANSPORT: value,
        JWT_FALLBACK_ENABLED: value,
      });
      expect(options.allowUnauthMcp, value).toBe(false);
      expect(options.jwtFallbackEnabled, value).toBe(false);
    }
  });

  it('names JWT_SECRET when it is missing, empty or short', () => {
    expect(() => relayOptionsFromEnv({})).toThrow(/^JWT_SECRET: JWT_SECRET is required/);
    expect(() => relayOptionsFromEnv({ JWT_SECRET: '' })).toThrow(/JWT_SECRET is required/);
    expect(() => relayOptionsFromEnv({ JWT_SECRET: 'short' })).toThrow(
      /JWT_SECRET: JWT_SECRET must be at least 16 characters/,
    );
  });

  it('keeps MAX_BODY_BYTES within what one frame to the agent carries (16 MiB)', () => {
    expect(() =>
      relayOptionsFromEnv({ JWT_SECRET: secret, MAX_BODY_BYTES: String(32 * 1024 * 1024) }),
    ).toThrow(/^MAX_BODY_BYTES: .*16777216/);
    expect(relayOptionsFromEnv({ JWT_SECRET: secret }).maxFrameBytes).toBe(MAX_FRAME_BYTES);
  });

  it('lists every problem, one per line', () => {
    let message = '';
    try {
      relayOptionsFromEnv({ PORT: '70000', REQUEST_TIMEOUT_SECONDS: '0', LOG_LEVEL: 'loud' });
    } catch (error) {
      message = (error as Error).message;
    }
    const lines = message.split('\n');
    expect(lines).toHaveLength(4);
    expect(lines.map((l) => l.split(':')[0]).sort()).toEqual([
      'JWT_SECRET',
      'LOG_LEVEL',
      'PORT',
      'REQUEST_TIMEOUT_SECONDS',
    ]);
  });
});

// ── the standalone binary ────────────────────────────────────────────────────────────────────────────────

describe('mcpassistant-relay (bin/mcpassistant-relay.js)', () => {
  const bin = new URL('../bin/mcpassistant-relay.js', import.meta.url).pathname;
  const owned = new Owned();
  let cwd: string;

  beforeAll(async () => {
    if (!existsSync(new URL('../dist/src-relay/main.js', import.meta.url)))
      throw new Error('dist/src-relay/main.js is missing: run `node scripts/prepare.mjs` first');
    // An empty working directory: the relay reads a .env from its cwd, and the repository may have one.
    cwd = await mkdtemp(join(tmpdir(), 'mcpgw-relay-bin-'));
  });
  afterEach(() => owned.closeAll());
  afterAll(() => rm(cwd, { recursive: true, force: true }));

  function run(env: Record<string, string>): { child: ChildProcess; stderr: () => string } {
    const child = spawn(process.execPath, [bin], {
      cwd,
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    owned.add(child, async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((resolve) => c.once('exit', resolve));
      c.kill('SIGKILL');
      await exited;
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout.resume();
    return { child, stderr: () => stderr };
  }

  const exitOf = (child: ChildProcess) =>
    new Promise<number | null>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
      child.once('exit', (code) => resolve(code));
    });

  it('serves /healthz on the port it reports, and exits 0 on SIGTERM', async () => {
    const { child, stderr } = run({ HOST: '127.0.0.1', PORT: '0', JWT_SECRET: SECRET });
    const exit = exitOf(child);
    const url = await new Promise<string>((resolve, reject) => {
      const check = () => {
        const match = /listening on (http:\/\/\S+)/.exec(stderr());
        if (match) {
          child.stderr!.off('data', check);
          resolve(match[1]!);
        }
      };
      child.stderr!.on('data', check);
      void exit.then((code) =>
        reject(new Error(`the relay exited (${code}) before listening:\n${stderr()}`)),
      );
      check();
    });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(url).not.toMatch(/:0\/$/);
    const res = await fetch(new URL('/healthz', url));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, agents: 0 });
    const unauth = await post(new URL('/alice/everything/mcp', url).href, rpc(1, 'ping'));
    expect(unauth.status).toBe(401);
    await unauth.body?.cancel();

    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(stderr()).toContain('SIGTERM');
  });

  it('exits 1 with one line naming the address when the port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    owned.add(taken, (s) => new Promise((resolve) => s.close(resolve)));
    const port = String((taken.address() as AddressInfo).port);
    const { child, stderr } = run({ HOST: '127.0.0.1', PORT: port, JWT_SECRET: SECRET });
    expect(await exitOf(child)).toBe(1);
    expect(stderr().trim()).toBe(
      `mcpassistant-relay: cannot listen on 127.0.0.1:${port} (EADDRINUSE); set HOST and PORT`,
    );
  });

  it('exits 3 with a message naming JWT_SECRET when it is missing', async () => {
    const { child, stderr } = run({ HOST: '127.0.0.1', PORT: '0' });
    expect(await exitOf(child)).toBe(3);
    expect(stderr()).toContain('invalid configuration');
    expect(stderr()).toContain('JWT_SECRET');
  });
});

describe('a client that resets the connection during the upgrade', () => {
  it('does not crash the relay', async () => {
    const { createConnection } = await import('node:net');
    const { startRelay: start } = await import('../e2e/support/relay-fixture.js');
    const r = await start();
    try {
      for (let i = 0; i < 20; i++) {
        await new Promise<void>((resolve) => {
          const socket = createConnection(Number(r.url.port), '127.0.0.1', () => {
            socket.write(
              'GET /connect HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
                'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
                'Authorization: Bearer not-a-token\r\n\r\n',
            );
            socket.resetAndDestroy();
            resolve();
          });
          socket.on('error', () => resolve());
        });
      }
      const health = await fetch(new URL('/healthz', r.url));
      expect(health.status).toBe(200);
    } finally {
      await r.close();
    }
  });
});

describe('CORS for browser MCP clients', () => {
  it('answers the preflight of an allowed origin, refuses others, and lets the page read Mcp-Session-Id', async () => {
    const { startRelay: start } = await import('../e2e/support/relay-fixture.js');
    const r = await start({ allowedOrigins: ['https://inspector.example'] });
    try {
      const url = new URL('/alice/everything/mcp', r.url);
      const preflight = await fetch(url, {
        method: 'OPTIONS',
        headers: {
          Origin: 'https://inspector.example',
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'authorization, content-type, mcp-session-id',
        },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe('https://inspector.example');
      expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Authorization.*Mcp-Session-Id/);
      const foreign = await fetch(url, { method: 'OPTIONS', headers: { Origin: 'https://evil.example' } });
      expect(foreign.status).toBe(403);
      // A real request from the allowed page (no agent here: 404) still carries the CORS headers.
      const post = await fetch(url, {
        method: 'POST',
        headers: { Origin: 'https://inspector.example', 'content-type': 'application/json' },
        body: '{}',
      });
      expect(post.headers.get('access-control-allow-origin')).toBe('https://inspector.example');
      expect(post.headers.get('access-control-expose-headers')).toContain('Mcp-Session-Id');
    } finally {
      await r.close();
    }
  });
});

describe('an agent attached in-process (the local endpoint, issue 11)', () => {
  const owned = new Owned();
  afterEach(() => owned.closeAll());

  /** An in-process agent's end: every frame and close it receives, as the relay handed them over. */
  function peer() {
    const frames: Json[] = [];
    const closes: { code: number; reason: string }[] = [];
    return {
      frames,
      closes,
      receive: (frame: object) => void frames.push(frame as Json),
      closed: (code: number, reason: string) => void closes.push({ code, reason }),
    };
  }

  async function relay(): Promise<RelayServer> {
    const { startRelay } = await import('../e2e/support/relay-fixture.js');
    return owned.add(await startRelay({ requestTimeoutMs: 3000 }), (r) => r.close());
  }

  it('refuses what /connect refuses: no valid token (401), a client token (403)', async () => {
    const r = await relay();
    expect(await r.attachAgent('not-a-token', peer())).toMatchObject({ ok: false, status: 401 });
    const client = await r.tokens.issue('alice', ['*'], 5, 'client');
    expect(await r.attachAgent(client, peer())).toMatchObject({
      ok: false,
      status: 403,
      error: expect.stringContaining('needs an agent token') as unknown,
    });
  });

  it('registers with the same rules, forwards calls as frame objects, and is superseded like a socket', async () => {
    const r = await relay();
    const token = await r.tokens.issue('alice', ['everything'], 5);

    const wrong = peer();
    const refused = await r.attachAgent(token, wrong);
    if (!refused.ok) throw new Error(refused.error);
    refused.link.send({ type: 'register', subject: 'bob', capabilities: [] });
    await until(() => wrong.closes.length > 0, 2000, 'the refusal');
    expect(wrong.closes).toEqual([{ code: 4403, reason: 'subject mismatch' }]);

    const first = peer();
    const attached = await r.attachAgent(token, first);
    if (!attached.ok) throw new Error(attached.error);
    attached.link.send({
      type: 'register',
      subject: 'alice',
      capabilities: ['everything'],
      features: ['cancel'],
    });
    await until(() => first.frames.length > 0, 2000, 'registered');
    expect(first.frames[0]).toMatchObject({
      type: 'registered',
      subject: 'alice',
      endpoints: { everything: endpoint(r, 'alice', 'everything') },
    });
    expect(r.agents()).toHaveLength(1);
    expect(r.agents()[0]!.ws).toBeUndefined();

    // A compat JSON POST: the agent gets the invoke as an object and answers with one.
    const answer = post(endpoint(r, 'alice', 'everything'), rpc(7, 'ping'), auth(token));
    await until(() => first.frames.some((f) => f['type'] === 'invoke'), 2000, 'the invoke');
    const invoke = first.frames.find((f) => f['type'] === 'invoke')!;
    expect(invoke).toMatchObject({ mcp_server: 'everything', payload: rpc(7, 'ping') });
    attached.link.send({
      type: 'result',
      request_id: invoke['request_id'] as string,
      result: { jsonrpc: '2.0', id: 7, result: {} },
    });
    const res = await answer;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ jsonrpc: '2.0', id: 7, result: {} });

    // The same subject registering again supersedes the first link (1012), as on /connect.
    const second = peer();
    const again = await r.attachAgent(token, second);
    if (!again.ok) throw new Error(again.error);
    again.link.send({ type: 'register', subject: 'alice', capabilities: ['everything'] });
    await until(() => first.closes.length > 0, 2000, 'the first link to end');
    expect(first.closes).toEqual([{ code: 1012, reason: 'superseded' }]);
    expect(r.agents()).toHaveLength(1);

    // The agent ending its link ends its registration, and its end hears the close too.
    again.link.close(1000, 'agent stopping');
    await until(() => second.closes.length > 0, 2000, 'the close');
    expect(second.closes).toEqual([{ code: 1000, reason: 'agent stopping' }]);
    expect(r.agents()).toHaveLength(0);
  });
});
