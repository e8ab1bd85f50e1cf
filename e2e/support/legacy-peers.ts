// Stand-ins for the existing Python system (../shared/COMPAT.md), speaking only its frames over plain `ws`:
// - LegacyRemote: the existing remote's /connect, to drive OUR agent;
// - LegacyAgent: the existing agent (register, then a result per invoke), to drive OUR relay.
// Both log what they receive and ignore frame types they do not know, as the originals do.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

import { jwtVerify } from 'jose';
import WebSocket, { WebSocketServer } from 'ws';

type Json = Record<string, unknown>;

/** One received frame: the parsed JSON, or the raw text when it is not JSON. */
export type Received = { json: Json; text: string } | { json: undefined; text: string };

/** Frames received on one socket, with a way to wait for the next one that matches. */
class FrameLog extends EventEmitter<{ frame: [Received] }> {
  readonly frames: Received[] = [];

  push(text: string): void {
    let json: Json | undefined;
    try {
      json = JSON.parse(text) as Json;
    } catch {
      json = undefined;
    }
    const frame = { json, text };
    this.frames.push(frame);
    this.emit('frame', frame);
  }

  /** The first frame (already received or to come) whose JSON satisfies `predicate`. */
  waitFor(predicate: (json: Json) => boolean, timeoutMs = 10_000, what = 'a frame'): Promise<Json> {
    const found = this.frames.find((f) => f.json && predicate(f.json));
    if (found?.json) return Promise.resolve(found.json);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('frame', check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const check = (frame: Received) => {
        if (!frame.json || !predicate(frame.json)) return;
        clearTimeout(timer);
        this.off('frame', check);
        resolve(frame.json);
      };
      this.on('frame', check);
    });
  }
}

function closedPromise(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
}

// ── the existing remote ────────────────────────────────────────────────────────────────────────────────

export class LegacyRemoteConnection extends FrameLog {
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(
    readonly ws: WebSocket,
    readonly request: IncomingMessage,
  ) {
    super();
    this.closed = closedPromise(ws);
    ws.on('message', (data) => this.push((data as Buffer).toString('utf8')));
  }

  /** The first frame, which must be register. */
  register(timeoutMs = 10_000): Promise<Json> {
    return this.waitFor((f) => f['type'] === 'register', timeoutMs, 'the register frame');
  }

  send(frame: Json | string): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Sends an invoke as the existing remote does and resolves with the agent's `result` object. */
  async invoke(
    server: string,
    payload: Json,
    {
      key = 'mcp_server',
      timeoutMs = 20_000,
    }: { key?: 'mcp_server' | 'capability'; timeoutMs?: number } = {},
  ): Promise<Json> {
    const requestId = randomUUID();
    this.send({ type: 'invoke', request_id: requestId, [key]: server, payload });
    return this.resultOf(requestId, timeoutMs);
  }

  /** The `result` of the result frame for `requestId`. */
  async resultOf(requestId: string, timeoutMs = 20_000): Promise<Json> {
    const frame = await this.waitFor(
      (f) => f['type'] === 'result' && f['request_id'] === requestId,
      timeoutMs,
      `the result of ${requestId}`,
    );
    return frame['result'] as Json;
  }
}

export interface LegacyRemoteOptions {
  maxPayload?: number;
  /** Holds every upgrade until it resolves: a slow handshake, to act while the agent is still connecting. */
  beforeAccept?: () => Promise<void>;
}

/**
 * The existing remote's /connect on 127.0.0.1:0: refuses a missing or bad bearer with HTTP 403 before
 * accepting, as the original does, and never acknowledges register.
 */
export class LegacyRemote extends EventEmitter<{ connection: [LegacyRemoteConnection] }> {
  /** Every upgrade request, accepted or not. */
  readonly upgrades: IncomingMessage[] = [];
  readonly connections: LegacyRemoteConnection[] = [];
  readonly #wss: WebSocketServer;

  private constructor(secret: string, options: LegacyRemoteOptions) {
    super();
    const key = new TextEncoder().encode(secret);
    this.#wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      path: '/connect',
      maxPayload: options.maxPayload,
      verifyClient: (info, done) => {
        this.upgrades.push(info.req);
        const token = /^Bearer (\S+)$/.exec(info.req.headers.authorization ?? '')?.[1];
        if (!token) return done(false, 403);
        Promise.resolve(options.beforeAccept?.())
          .then(() => jwtVerify(token, key, { algorithms: ['HS256'] }))
          .then(
            () => done(true),
            () => done(false, 403),
          );
      },
    });
    this.#wss.on('connection', (ws, req) => {
      const connection = new LegacyRemoteConnection(ws, req);
      this.connections.push(connection);
      this.emit('connection', connection);
    });
  }

  static async start(secret: string, options: LegacyRemoteOptions = {}): Promise<LegacyRemote> {
    const remote = new LegacyRemote(secret, options);
    await new Promise<void>((resolve) => remote.#wss.once('listening', resolve));
    return remote;
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.#wss.address() as AddressInfo).port}/connect`;
  }

  /** The `n`-th accepted connection (0-based), already open or to come. */
  connection(n: number, timeoutMs = 20_000): Promise<LegacyRemoteConnection> {
    const existing = this.connections[n];
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('connection', check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for connection #${n + 1}`));
      }, timeoutMs);
      const check = () => {
        const connection = this.connections[n];
        if (!connection) return;
        clearTimeout(timer);
        this.off('connection', check);
        resolve(connection);
      };
      this.on('connection', check);
    });
  }

  async close(): Promise<void> {
    for (const client of this.#wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }
}

// ── the existing agent ─────────────────────────────────────────────────────────────────────────────────

/**
 * The existing agent: `register`, then one `result` per `invoke`, answered by a hand-made MCP server with
 * an `echo` tool ("legacy: <message>"). Everything else it receives is logged (kept in `frames`) and ignored.
 */
export class LegacyAgent extends FrameLog {
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(
    readonly ws: WebSocket,
    answer: boolean,
  ) {
    super();
    this.closed = closedPromise(ws);
    ws.on('error', () => undefined); // ignore: the close code is what the tests look at
    ws.on('message', (data) => {
      const text = (data as Buffer).toString('utf8');
      this.push(text);
      const frame = this.frames.at(-1)?.json;
      if (!answer || frame?.['type'] !== 'invoke') return;
      const requestId = frame['request_id'] as string;
      const server = (frame['mcp_server'] ?? frame['capability']) as string;
      ws.send(
        JSON.stringify({
          type: 'result',
          request_id: requestId,
          result: legacyAnswer(server, frame['payload'] as Json),
        }),
      );
    });
  }

  /** Connects to `wsUrl` with the bearer and sends register. `answer: false` leaves invokes unanswered. */
  static async connect(
    wsUrl: string,
    token: string,
    register: { subject: string; capabilities: string[] },
    { answer = true }: { answer?: boolean } = {},
  ): Promise<LegacyAgent> {
    const ws = new WebSocket(wsUrl, { headers: { Authorization: `Bearer ${token}` } });
    const agent = new LegacyAgent(ws, answer);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.send(JSON.stringify({ type: 'register', ...register }));
    return agent;
  }

  /** The invoke frames received so far. */
  get invokes(): Json[] {
    return this.frames.flatMap((f) => (f.json?.['type'] === 'invoke' ? [f.json] : []));
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.terminate();
    await this.closed;
  }
}

/** What the existing agent answers: initialize, ping, tools/list, tools/call; {} for a notification. */
function legacyAnswer(server: string, payload: Json): Json {
  const id = payload['id'];
  if (id === undefined || id === null) return {};
  const params = (payload['params'] ?? {}) as Json;
  const ok = (result: unknown) => ({ jsonrpc: '2.0', id, result });
  switch (payload['method']) {
    case 'initialize':
      return ok({
        protocolVersion: params['protocolVersion'] ?? '2025-06-18',
        capabilities: { tools: {} },
        serverInfo: { name: `legacy-${server}`, version: '0.1.7' },
      });
    case 'ping':
      return ok({});
    case 'tools/list':
      return ok({
        tools: [
          {
            name: 'echo',
            inputSchema: { type: 'object', properties: { message: { type: 'string' } } },
          },
        ],
      });
    case 'tools/call': {
      const message = (params['arguments'] as Json | undefined)?.['message'];
      return ok({ content: [{ type: 'text', text: `legacy: ${String(message)}` }] });
    }
    default:
      return { jsonrpc: '2.0', id, error: { code: -32000, message: 'unsupported method' } };
  }
}
