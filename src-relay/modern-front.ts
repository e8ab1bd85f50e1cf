// The 2026-07-28 era of MCP Streamable HTTP on the same URL as the 2025 era (McpFront routes a request here
// when its MCP-Protocol-Version header, or its `_meta` envelope, says 2026-07-28). Stateless: no initialize,
// no session; every request carries its client's protocol version, info and capabilities in
// `params._meta["io.modelcontextprotocol/…"]`, and the routing headers Mcp-Method (and Mcp-Name) repeat the
// body. `server/discover` is answered from the local server's own initialize result (the agent answers
// `initialize` without touching the server); every other method goes to the agent as a 2025-era request with
// the envelope taken off, and its result gets the 2026 fields (`resultType`, caching hints). Closing the
// response stream cancels the call.
//
// `subscriptions/listen` streams get the local server's list-changed notifications they asked for.
//
// Not served yet: resource subscriptions on a listen stream, input-required results (a local server's
// elicitation, sampling or roots request during a 2026-era call gets an error), tasks.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { JsonRpcMessage } from '../src-shared/wire.js';
import { SUPPORTED_PROTOCOL_VERSIONS } from '../src-shared/wire.js';
import { InvokeError } from './agent-connection.js';
import { header, HttpError, type Json, sendJson } from './http-util.js';
import type { McpTarget } from './mcp-front.js';
import { openSse, writeEvent, writeKeepAlive } from './sse-stream.js';

/** The modern revisions this front serves. */
export const MODERN_PROTOCOL_VERSIONS = ['2026-07-28'] as const;

const META = 'io.modelcontextprotocol/';

/** JSON-RPC error codes of the 2026-07-28 revision. */
const CODE = {
  invalidParams: -32602,
  methodNotFound: -32601,
  headerMismatch: -32020,
  unsupportedVersion: -32022,
} as const;

/** Methods of the 2025 era that 2026-07-28 removed: 404 with -32601, as for an unknown method. */
const REMOVED_METHODS = new Set([
  'initialize',
  'ping',
  'logging/setLevel',
  'resources/subscribe',
  'resources/unsubscribe',
]);

/** Results that carry caching hints (`ttlMs`, `cacheScope`) in 2026-07-28. */
const CACHEABLE_METHODS = new Set([
  'server/discover',
  'tools/list',
  'prompts/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
]);

/** Whether an MCP-Protocol-Version header value is of the modern era. */
export function isModernVersion(version: string): boolean {
  return version >= MODERN_PROTOCOL_VERSIONS[0];
}

/** Whether a message carries the 2026-07-28 per-request envelope (a modern client that sent no header). */
export function hasModernEnvelope(message: JsonRpcMessage): boolean {
  const meta = (message.params as { _meta?: Record<string, unknown> } | undefined)?._meta;
  return typeof meta === 'object' && meta !== null && `${META}protocolVersion` in meta;
}

/** A failure answered as a JSON-RPC error with an HTTP status (2026-07-28 answers errors in-band). */
class ModernError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

/** Which listen-stream filter flag lets a server notification through (2026-07-28, subscriptions/listen). */
const LISTEN_FILTERS: Record<string, string> = {
  'notifications/tools/list_changed': 'toolsListChanged',
  'notifications/prompts/list_changed': 'promptsListChanged',
  'notifications/resources/list_changed': 'resourcesListChanged',
};

interface ListenStream {
  res: ServerResponse;
  subscriptionId: string;
  filter: Record<string, unknown>;
}

export interface ModernFrontOptions {
  requestTimeoutMs: number;
  /** The target of `server` for `subject`; throws HttpError when there is none. */
  target(subject: string, server: string): McpTarget | Promise<McpTarget>;
}

export class ModernFront {
  /** Open subscriptions/listen streams, by `subject/server`. */
  readonly #listening = new Map<string, Set<ListenStream>>();

  constructor(private readonly options: ModernFrontOptions) {}

  /** Open listen streams (for /healthz and tests). */
  openStreams(): number {
    let count = 0;
    for (const set of this.#listening.values()) count += set.size;
    return count;
  }

  /** A server-wide notification to the listen streams of that server that asked for its kind. */
  notify(subject: string, server: string, payload: JsonRpcMessage): void {
    const flag = payload.method === undefined ? undefined : LISTEN_FILTERS[payload.method];
    if (!flag) return;
    for (const stream of this.#listening.get(`${subject}/${server}`) ?? []) {
      if (stream.filter[flag] !== true || stream.res.writableEnded) continue;
      const params = (payload.params ?? {}) as Json;
      const meta = {
        ...(params['_meta'] as Json | undefined),
        [`${META}subscriptionId`]: stream.subscriptionId,
      };
      writeEvent(stream.res, JSON.stringify({ ...payload, params: { ...params, _meta: meta } }));
    }
  }

  tick(): void {
    for (const set of this.#listening.values()) for (const stream of set) writeKeepAlive(stream.res);
  }

  close(): void {
    for (const set of this.#listening.values()) for (const stream of set) stream.res.end();
    this.#listening.clear();
  }

  /** Answers one POSTed message of a modern client. Never throws: every failure is a JSON-RPC error. */
  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    subject: string,
    server: string,
    message: JsonRpcMessage,
  ): Promise<void> {
    const id = message.id ?? null;
    try {
      const meta = this.#validate(req, message);
      const target = await Promise.resolve()
        .then(() => this.options.target(subject, server))
        .catch((error: unknown) => {
          if (error instanceof HttpError) throw new ModernError(error.status, -32000, error.message);
          throw error;
        });
      if (message.id === undefined || message.id === null) {
        // Notifications and stray responses: nothing to answer (2026-07-28 cancels by closing the stream).
        res.writeHead(202).end();
        return;
      }
      if (message.method === 'server/discover') return await this.#discover(res, target, message, meta);
      if (message.method === 'subscriptions/listen') return this.#listen(res, subject, server, message);
      await this.#call(req, res, target, message, meta);
    } catch (error) {
      if (res.headersSent) return void res.end();
      if (!(error instanceof ModernError)) throw error;
      const body = {
        code: error.code,
        message: error.message,
        ...(error.data === undefined ? {} : { data: error.data }),
      };
      sendJson(res, error.status, { jsonrpc: '2.0', id, error: body });
    }
  }

  /**
   * The envelope and the routing headers (2026-07-28, "Streamable HTTP" and "Request metadata"): `_meta` with
   * `protocolVersion` and `clientCapabilities` (-32602), MCP-Protocol-Version equal to it, Mcp-Method equal to
   * the method and Mcp-Name to the name or URI it acts on (-32020), a version this front serves (-32022), a
   * method 2026-07-28 still has (-32601, HTTP 404). Returns the envelope.
   */
  #validate(req: IncomingMessage, message: JsonRpcMessage): Record<string, unknown> {
    const params = message.params as { _meta?: unknown; name?: unknown; uri?: unknown } | undefined;
    const isRequest = message.id !== undefined && message.id !== null && message.method !== undefined;
    const meta = params?._meta;
    if (isRequest) {
      if (typeof meta !== 'object' || meta === null)
        throw new ModernError(400, CODE.invalidParams, 'the request has no _meta envelope');
      for (const key of ['protocolVersion', 'clientCapabilities']) {
        if (!(`${META}${key}` in meta))
          throw new ModernError(400, CODE.invalidParams, `_meta has no "${META}${key}"`);
      }
    }
    const envelope = (meta ?? {}) as Record<string, unknown>;
    const declared = envelope[`${META}protocolVersion`];
    const headerVersion = header(req, 'mcp-protocol-version')?.trim();
    if (headerVersion === undefined || (declared !== undefined && headerVersion !== declared)) {
      throw new ModernError(
        400,
        CODE.headerMismatch,
        `MCP-Protocol-Version (${headerVersion ?? 'absent'}) does not match _meta's protocolVersion (${String(declared)})`,
      );
    }
    if (!MODERN_PROTOCOL_VERSIONS.includes(headerVersion as never)) {
      const supported = [...MODERN_PROTOCOL_VERSIONS, ...SUPPORTED_PROTOCOL_VERSIONS];
      throw new ModernError(400, CODE.unsupportedVersion, `Unsupported protocol version: ${headerVersion}`, {
        supported,
        requested: headerVersion,
      });
    }
    if (message.method !== undefined) {
      const method = header(req, 'mcp-method')?.trim();
      if (method !== message.method) {
        throw new ModernError(
          400,
          CODE.headerMismatch,
          `Mcp-Method (${method ?? 'absent'}) does not match the body's method (${message.method})`,
        );
      }
      const named =
        message.method === 'tools/call' || message.method === 'prompts/get'
          ? params?.name
          : message.method === 'resources/read'
            ? params?.uri
            : undefined;
      const name = header(req, 'mcp-name')?.trim();
      if (typeof named === 'string' && name !== named) {
        throw new ModernError(
          400,
          CODE.headerMismatch,
          `Mcp-Name (${name ?? 'absent'}) does not match the body's ${message.method === 'resources/read' ? 'uri' : 'name'}`,
        );
      }
      if (isRequest && REMOVED_METHODS.has(message.method))
        throw new ModernError(
          404,
          CODE.methodNotFound,
          `Method not found: ${message.method} (removed in 2026-07-28)`,
        );
    }
    return envelope;
  }

  /** server/discover, from the local server's initialize result as the agent reports it. */
  async #discover(
    res: ServerResponse,
    target: McpTarget,
    message: JsonRpcMessage,
    meta: Record<string, unknown>,
  ): Promise<void> {
    const initialize: JsonRpcMessage = {
      jsonrpc: '2.0',
      id: message.id,
      method: 'initialize',
      params: {
        protocolVersion: SUPPORTED_PROTOCOL_VERSIONS[0],
        capabilities: meta[`${META}clientCapabilities`] ?? {},
        clientInfo: meta[`${META}clientInfo`] ?? { name: 'unknown', version: '0' },
      },
    };
    const response = await this.#invoke(target, initialize, {});
    const result = response['result'] as
      { capabilities?: unknown; serverInfo?: unknown; instructions?: unknown } | undefined;
    if (!result) return sendJson(res, 200, response);
    sendJson(res, 200, {
      jsonrpc: '2.0',
      id: message.id,
      result: {
        supportedVersions: [...MODERN_PROTOCOL_VERSIONS],
        capabilities: result.capabilities ?? {},
        ...(result.instructions === undefined ? {} : { instructions: result.instructions }),
        _meta: { [`${META}serverInfo`]: result.serverInfo },
        resultType: 'complete',
        ttlMs: 0,
        cacheScope: 'private',
      },
    });
  }

  /**
   * subscriptions/listen: an SSE stream that stays open, first acknowledged, then carrying the server's
   * list-changed notifications the request's `notifications` filter asks for, each tagged with the stream's
   * subscription id. Closing it ends the subscription.
   */
  #listen(res: ServerResponse, subject: string, server: string, message: JsonRpcMessage): void {
    const filter = ((message.params as { notifications?: unknown } | undefined)?.notifications ?? {}) as Json;
    const stream: ListenStream = { res, subscriptionId: randomUUID(), filter };
    const key = `${subject}/${server}`;
    const set = this.#listening.get(key) ?? new Set<ListenStream>();
    this.#listening.set(key, set.add(stream));
    res.on('close', () => {
      set.delete(stream);
      if (set.size === 0 && this.#listening.get(key) === set) this.#listening.delete(key);
    });
    openSse(res);
    writeEvent(
      res,
      JSON.stringify({
        jsonrpc: '2.0',
        method: 'notifications/subscriptions/acknowledged',
        params: { _meta: { [`${META}subscriptionId`]: stream.subscriptionId } },
      }),
    );
  }

  /** Any other method: the envelope off, the call to the agent, the 2026 fields on its result. */
  async #call(
    req: IncomingMessage,
    res: ServerResponse,
    target: McpTarget,
    message: JsonRpcMessage,
    meta: Record<string, unknown>,
  ): Promise<void> {
    const method = message.method!;
    const params = { ...(message.params as Record<string, unknown>) };
    const legacyMeta = Object.fromEntries(Object.entries(meta).filter(([key]) => !key.startsWith(META)));
    if (Object.keys(legacyMeta).length > 0) params['_meta'] = legacyMeta;
    else delete params['_meta'];
    const accept = header(req, 'accept') ?? '';
    const sse =
      accept.includes('text/event-stream') &&
      (!accept.includes('application/json') || 'progressToken' in legacyMeta);
    // Log messages only for a client that asked for them in its envelope (2026-07-28: no logLevel, no logs).
    const wantsLogs = `${META}logLevel` in meta;
    // Cancellation in 2026-07-28: the client closes the response stream.
    const closed = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) closed.abort('the client closed the request stream');
    });
    if (sse) openSse(res);
    const response = await this.#invoke(
      target,
      { ...message, params },
      {
        signal: closed.signal,
        onNotification: sse
          ? (payload) => {
              if (payload.method === 'notifications/message' && !wantsLogs) return;
              if (!res.writableEnded) writeEvent(res, JSON.stringify(payload));
            }
          : undefined,
      },
    );
    const result = response['result'];
    if (result && typeof result === 'object' && !Array.isArray(result)) {
      const fields = result as Json;
      fields['resultType'] ??= 'complete';
      if (CACHEABLE_METHODS.has(method)) {
        fields['ttlMs'] ??= 0;
        fields['cacheScope'] ??= 'private';
      }
    }
    if (sse) {
      if (!res.writableEnded) {
        writeEvent(res, JSON.stringify(response));
        res.end();
      }
      return;
    }
    const code = (response['error'] as { code?: unknown } | undefined)?.code;
    sendJson(res, code === CODE.methodNotFound ? 404 : 200, response);
  }

  /** The target's answer as a JSON-RPC response (a failure of the link becomes a JSON-RPC error). */
  async #invoke(
    target: McpTarget,
    message: JsonRpcMessage,
    options: { signal?: AbortSignal; onNotification?: (payload: JsonRpcMessage) => void },
  ): Promise<Json> {
    try {
      const result = await target.invoke(message, { timeoutMs: this.options.requestTimeoutMs, ...options });
      if ('jsonrpc' in result) return result;
      const reason = typeof result['error'] === 'string' ? result['error'] : 'the call failed';
      return { jsonrpc: '2.0', id: message.id ?? null, error: { code: -32000, message: reason } };
    } catch (error) {
      const failure = error instanceof InvokeError ? error : new InvokeError('disconnected', String(error));
      throw new ModernError(
        failure.kind === 'timeout' ? 504 : 503,
        failure.kind === 'timeout' ? -32001 : -32000,
        failure.message,
      );
    }
  }
}
