// mcpassistant-gateway-bridge: each stdio server of mcp.json served as a local HTTP endpoint, Streamable HTTP
// at http://127.0.0.1:<port>/mcp and the legacy SSE pair at /sse + /message, through the relay's own
// McpFront. Unlike supergateway:
// - many client sessions share one child (the SDK session gives every forwarded request its own id, and
//   each reply goes back to the HTTP request that asked; progress goes only to its own request's stream),
//   or, with `isolate`, each session gets its own child, ended with the session;
// - it listens on loopback unless told otherwise, checks Host and Origin (DNS rebinding), and can require
//   a bearer token;
// - idle sessions expire even while their GET stream is open, a crashed child restarts while its sessions
//   get a clear error, and every child ends with the process.
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import {
  applyCors,
  bearer,
  HttpError,
  isLoopbackOrigin,
  rpcError,
  sendError,
  sendJson,
} from '../../src-relay/http-util.js';
import { McpFront, type McpTarget } from '../../src-relay/mcp-front.js';
import type { McpSession } from '../../src-relay/mcp-sessions.js';
import type { JsonRpcMessage } from '../../src-shared/wire.js';
import { Dispatcher } from '../core/bridge/dispatcher.js';
import type { ServerSpec } from '../core/config/mcp-config.js';
import { GatewayError } from '../core/errors.js';
import type { Gateway } from '../core/gateway.js';
import { PRODUCT } from '../core/gateway.js';
import type { Logger, LogHub } from '../core/logging/log-hub.js';
import { ManagedServer } from '../core/servers/managed-server.js';

const SUBJECT = 'local';

export interface GatewayBridgeOptions {
  host: string;
  /** Only this server (by name). */
  name?: string;
  /** Bearer token clients must send, when set. */
  token?: string;
  /** Every server isolated, whatever its entry says. */
  isolate?: boolean;
  /** Browser origins allowed besides loopback ones. */
  allowedOrigins?: string[];
  /** Extra Host header values to accept (a non-loopback --host's names). */
  allowedHosts?: string[];
  sessionIdleMs: number;
  requestTimeoutMs: number;
  startTimeoutMs?: number;
}

export interface BridgeEndpoint {
  name: string;
  isolate: boolean;
  url: string;
  sseUrl: string;
  via?: 'supergateway';
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1)$/;
/** Children at most for isolated sessions: each is a process, and sessions cost a client nothing. */
const MAX_ISOLATED_SESSIONS = 64;

export class GatewayBridge {
  readonly #front: McpFront;
  readonly #http: Server[] = [];
  /** Servers served with one child per session: their spec; shared ones: undefined. */
  readonly #isolatedServers = new Map<string, ServerSpec | undefined>();
  /** Each isolated session's own child. */
  readonly #isolated = new Map<string, { server: ManagedServer; dispatcher: Dispatcher }>();
  /** Stops of ended sessions' children still under way. */
  readonly #ending = new Set<Promise<void>>();
  readonly #inFlight = new Map<string, AbortController>();
  readonly #shared: Dispatcher;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly gateway: Gateway,
    private readonly logs: LogHub,
    private readonly options: GatewayBridgeOptions,
  ) {
    this.#log = logs.logger('bridge');
    this.#shared = new Dispatcher(gateway.servers, gateway.settings.values.mcpProtocolVersion);
    this.#front = new McpFront({
      requestTimeoutMs: options.requestTimeoutMs,
      maxBodyBytes: 4 * 1024 * 1024,
      sessionIdleMs: options.sessionIdleMs,
      expireOpenSessions: true,
      target: (_subject, server, { session }) => this.#target(server, session),
      onSessionEnd: (session) => this.#endSession(session),
    });
    // Server-wide notifications of a shared child go to every session of that server.
    gateway.servers.on('notification', (name, notification) =>
      this.#front.notify(SUBJECT, name, { jsonrpc: '2.0', ...notification }),
    );
  }

  /**
   * The servers to serve, with their bridge settings: every enabled stdio server, or the one named `name`,
   * which may also be an HTTP (`url`) server — bridged, it gains this front's checks, an optional bearer,
   * the legacy SSE pair and the 2026-07-28 era. HTTP servers are left out unless named, so that a config's
   * remote servers are not put on local ports unasked. Throws GatewayError('usage') when nothing matches.
   */
  static select(gateway: Gateway, specs: ServerSpec[], name: string | undefined): ServerSpec[] {
    const enabled = specs.filter((spec) => !spec.disabled);
    const chosen = name
      ? enabled.filter((spec) => spec.name === name)
      : enabled.filter((spec) => spec.transport.kind === 'stdio');
    if (!chosen.length) {
      const what = name ? `no enabled server named "${name}"` : 'no enabled stdio server';
      throw new GatewayError(
        'usage',
        `${gateway.configFile.path} has ${what}. Servers with "command" can be bridged, and one with "url" when --name names it.`,
      );
    }
    return chosen;
  }

  /** Listens for each server; resolves with their URLs. */
  async listen(specs: ServerSpec[]): Promise<BridgeEndpoint[]> {
    const endpoints: BridgeEndpoint[] = [];
    for (const spec of specs) {
      const isolate = this.options.isolate || (spec.bridge?.isolate ?? false);
      const hosts: string[] = [];
      const http = createServer((req, res) => void this.#route(req, res, spec.name, hosts));
      this.#http.push(http);
      await new Promise<void>((resolve, reject) => {
        http.once('error', (error: NodeJS.ErrnoException) =>
          reject(
            error.code === 'EADDRINUSE'
              ? new GatewayError(
                  'usage',
                  `port ${spec.bridge?.port} of server "${spec.name}" is in use; change its "port" in mcp.json`,
                )
              : error,
          ),
        );
        http.listen(spec.bridge?.port ?? 0, this.options.host, resolve);
      });
      const { port } = http.address() as AddressInfo;
      hosts.push(`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`);
      if (!LOOPBACK.test(this.options.host)) hosts.push(`${this.options.host}:${port}`);
      for (const extra of this.options.allowedHosts ?? [])
        hosts.push(extra.includes(':') ? extra : `${extra}:${port}`);
      const shown =
        LOOPBACK.test(this.options.host) || this.options.host === '0.0.0.0' ? '127.0.0.1' : this.options.host;
      endpoints.push({
        name: spec.name,
        isolate,
        url: `http://${shown}:${port}/mcp`,
        sseUrl: `http://${shown}:${port}/sse`,
        ...(spec.bridge?.via ? { via: spec.bridge.via } : {}),
      });
      this.#isolatedServers.set(spec.name, isolate ? spec : undefined);
    }
    const tick = Math.max(50, Math.min(15_000, this.options.sessionIdleMs / 2));
    this.#timer = setInterval(() => this.#front.tick(), tick).unref();
    return endpoints;
  }

  get sessions(): number {
    return this.#front.sessions.size;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    // Ending the sessions stops their own children; wait for every one of those stops.
    this.#front.close();
    await Promise.all(this.#ending);
    for (const http of this.#http) http.closeAllConnections();
    await Promise.all(this.#http.map((http) => new Promise<void>((resolve) => http.close(() => resolve()))));
  }

  async #route(req: IncomingMessage, res: ServerResponse, name: string, hosts: string[]): Promise<void> {
    try {
      this.#check(req, hosts);
      // A browser's preflight carries no bearer: it is answered once Host and Origin passed.
      if (applyCors(req, res)) return;
      this.#checkToken(req);
      const url = new URL(req.url ?? '/', 'http://bridge');
      if (url.pathname === '/mcp' || url.pathname === '/mcp/')
        return await this.#front.handle(req, res, SUBJECT, name, 'mcp');
      if (url.pathname === '/sse' && req.method === 'GET')
        return await this.#front.legacyStream(req, res, SUBJECT, name, '/message');
      if (url.pathname === '/message' && req.method === 'POST') {
        return await this.#front.legacyMessage(req, res, url.searchParams.get('sessionId'), name);
      }
      throw new HttpError(404, 'served here: /mcp (Streamable HTTP), /sse and /message (legacy SSE)');
    } catch (error) {
      if (!(error instanceof HttpError))
        this.#log.error(`unexpected error on ${req.method} ${req.url}:`, error);
      // Every client of the bridge is an MCP client: its refusals are JSON-RPC error objects (id null), with
      // the status saying the kind (spec 2025-11-25, "Sending Messages to the Server", lets an HTTP error carry
      // a JSON-RPC error response without an id). The existing remote's {"ok": false} body is for that remote's
      // own routes, which the bridge does not serve.
      if (sendError(res, error, true)) return;
      sendJson(
        res,
        500,
        rpcError(
          null,
          -32603,
          'internal error of mcpassistant-gateway-bridge; its log (--log-level error) says what',
        ),
      );
    }
  }

  /** DNS-rebinding protection: the Host and the browser Origin must be ours. */
  #check(req: IncomingMessage, hosts: string[]): void {
    if (!hosts.includes((req.headers.host ?? '').toLowerCase()))
      throw new HttpError(403, 'unexpected Host header');
    const origin = req.headers.origin;
    if (origin) {
      let parsed: URL | undefined;
      try {
        parsed = new URL(origin);
      } catch {
        // handled below: an unparsable Origin is refused
      }
      if (!parsed || !(isLoopbackOrigin(parsed) || this.options.allowedOrigins?.includes(origin))) {
        throw new HttpError(403, `Origin ${origin} is not allowed`);
      }
    }
  }

  /** The optional bearer, compared in constant time. */
  #checkToken(req: IncomingMessage): void {
    const expected = this.options.token;
    if (expected === undefined) return;
    const a = Buffer.from(bearer(req) ?? '');
    const b = Buffer.from(expected);
    if (a.length !== b.length || !timingSafeEqual(a, b)) {
      throw new HttpError(401, 'missing or wrong bearer token', {
        'WWW-Authenticate': 'Bearer realm="mcpassistant-gateway-bridge"',
      });
    }
  }

  async #target(server: string, session: McpSession | undefined): Promise<McpTarget> {
    const spec = this.#isolatedServers.get(server);
    let dispatcher = this.#shared;
    if (spec) {
      if (!session)
        throw new HttpError(
          400,
          `server "${server}" gives each session its own process: initialize a session first`,
        );
      dispatcher = await this.#isolatedDispatcher(spec, session);
    }
    // Scoped by session (and server, for sessionless callers): ids are chosen by each client.
    const key = (rpcId: unknown) => `${session?.id ?? `-:${server}`}:${JSON.stringify(rpcId)}`;
    return {
      invoke: async (
        message: JsonRpcMessage,
        { timeoutMs, onNotification, onServerRequest, onStreamClosed, signal, clientEra },
      ) => {
        const controller = new AbortController();
        signal?.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
        const id = key(message.id);
        if (message.id !== undefined) this.#inFlight.set(id, controller);
        try {
          return await dispatcher.handle(server, message, {
            signal: controller.signal,
            timeoutMs,
            notify: onNotification ?? (() => undefined),
            ask: onServerRequest && ((request, _signal, inputKey) => onServerRequest(request, inputKey)),
            ...(clientEra ? { clientEra } : {}),
            streamClosed: onStreamClosed,
          });
        } finally {
          if (this.#inFlight.get(id) === controller) this.#inFlight.delete(id);
        }
      },
      cancel: (rpcId, reason) => {
        const controller = this.#inFlight.get(key(rpcId));
        // The reason as it is: the SDK sends String(reason) on to the server.
        controller?.abort(reason);
        return controller !== undefined;
      },
    };
  }

  /** The session's own child (isolate), started on its first call; the call waits for it. */
  async #isolatedDispatcher(spec: ServerSpec, session: McpSession): Promise<Dispatcher> {
    let entry = this.#isolated.get(session.id);
    if (!entry && this.#isolated.size >= MAX_ISOLATED_SESSIONS) {
      throw new HttpError(
        503,
        `${MAX_ISOLATED_SESSIONS} sessions already have their own process; end one (DELETE) or try later`,
      );
    }
    if (!entry) {
      const server = new ManagedServer(
        { ok: true, spec },
        {
          log: this.logs.logger(`server:${spec.name}:${session.id.slice(0, 8)}`),
          redactor: this.logs.redactor,
          clientInfo: { name: PRODUCT.name, version: PRODUCT.version },
          startTimeoutMs: this.options.startTimeoutMs,
        },
      );
      server.on('notification', (notification) => session.send('get', { jsonrpc: '2.0', ...notification }));
      const dispatcher = new Dispatcher(
        { get: () => server, list: () => [server.status] },
        this.gateway.settings.values.mcpProtocolVersion,
      );
      entry = { server, dispatcher };
      this.#isolated.set(session.id, entry);
      server.start();
    }
    const { server } = entry;
    if (!(await server.ready(this.options.startTimeoutMs ?? 60_000))) {
      const { state, lastError } = server.status;
      throw new HttpError(
        503,
        `server "${spec.name}" could not start for this session: ${lastError ?? state}`,
      );
    }
    return entry.dispatcher;
  }

  #endSession(session: McpSession): void {
    const entry = this.#isolated.get(session.id);
    if (!entry) return;
    this.#isolated.delete(session.id);
    const ending = entry.server.stop();
    this.#ending.add(ending);
    void ending.finally(() => this.#ending.delete(ending));
  }
}
