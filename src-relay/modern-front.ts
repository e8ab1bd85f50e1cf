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
// A local server's elicitation, sampling or roots request during a 2026-era call becomes an input-required
// result, and the client's retry delivers the answer (see #call).
//
// Not served yet: resource subscriptions on a listen stream, tasks.
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { JsonRpcMessage } from '../src-shared/wire.js';
import { SUPPORTED_PROTOCOL_VERSIONS } from '../src-shared/wire.js';
import { InvokeError, type InvokeOptions } from './agent-connection.js';
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

/** Methods whose handler may ask the client for input (2026-07-28, input-required results). */
const MRTR_METHODS = new Set(['tools/call', 'prompts/get', 'resources/read']);

/** The client capability each server request needs. */
const NEEDED_CAPABILITY: Record<string, string> = {
  'elicitation/create': 'elicitation',
  'sampling/createMessage': 'sampling',
  'roots/list': 'roots',
};

/** A local server's request during a modern call, waiting for the client's retry. */
interface Ask {
  key: string;
  request: JsonRpcMessage;
  answer(response: JsonRpcMessage): void;
}

/** A modern call still in flight at the agent across input-required rounds. */
interface Held {
  id: string;
  /** What a retry must repeat: method and name or URI. */
  binding: string;
  controller: AbortController;
  round: number;
  /** The stream of the current round's response, when it is SSE (notifications go there). */
  stream: ServerResponse | undefined;
  response: Promise<Json>;
  nextAsk(): Promise<Ask>;
  current?: Ask;
  expiry?: NodeJS.Timeout;
}

function bindingOf(method: string, params: Record<string, unknown> | undefined): string {
  const name = params?.['name'] ?? params?.['uri'];
  return `${method}\n${typeof name === 'string' ? name : ''}`;
}

function timingSafeEqualText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

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
  /** Calls waiting for an input-required retry, by id (the requestState names one). */
  readonly #held = new Map<string, Held>();
  /** Signs requestState: a client cannot forge or alter it (a new key per relay process). */
  readonly #stateKey = randomBytes(32);

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
    for (const held of this.#held.values()) {
      clearTimeout(held.expiry);
      held.controller.abort('the relay is shutting down');
    }
    this.#held.clear();
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
      // The versions server/discover lists: what a modern client can ask for here.
      throw new ModernError(400, CODE.unsupportedVersion, `Unsupported protocol version: ${headerVersion}`, {
        supported: [...MODERN_PROTOCOL_VERSIONS],
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

  /**
   * Any other method: the envelope off, the call to the agent, the 2026 fields on its result. A local server's
   * request to the client during `tools/call`, `prompts/get` or `resources/read` (2025 era: elicitation,
   * sampling, roots) becomes an input-required result (2026-07-28, "Multi round-trip requests"): the call
   * stays in flight at the agent, the client retries with `inputResponses` and the `requestState` it got, and
   * its answer goes to the waiting server request; the retry gets the result, or the next input-required round.
   */
  async #call(
    req: IncomingMessage,
    res: ServerResponse,
    target: McpTarget,
    message: JsonRpcMessage,
    meta: Record<string, unknown>,
  ): Promise<void> {
    const method = message.method!;
    const params = { ...(message.params as Record<string, unknown>) };
    const accept = header(req, 'accept') ?? '';
    const legacyMeta = Object.fromEntries(Object.entries(meta).filter(([key]) => !key.startsWith(META)));
    const sse =
      accept.includes('text/event-stream') &&
      (!accept.includes('application/json') || 'progressToken' in legacyMeta);
    const respond = (response: Json) => {
      if (sse) {
        if (!res.writableEnded) {
          writeEvent(res, JSON.stringify(response));
          res.end();
        }
        return;
      }
      const code = (response['error'] as { code?: unknown } | undefined)?.code;
      sendJson(res, code === CODE.methodNotFound ? 404 : 200, response);
    };

    let held: Held;
    if (typeof params['requestState'] === 'string') {
      held = this.#resume(params['requestState'], bindingOf(method, params));
    } else {
      if (Object.keys(legacyMeta).length > 0) params['_meta'] = legacyMeta;
      else delete params['_meta'];
      held = this.#start(target, { ...message, params }, meta, sse ? res : undefined);
    }
    // Cancellation in 2026-07-28: the client closes the response stream (of the first request or a retry).
    res.on('close', () => {
      if (!res.writableFinished) held.controller.abort('the client closed the request stream');
    });
    if (sse) openSse(res);
    held.stream = sse ? res : undefined;
    if (held.current) {
      const answer = (params['inputResponses'] as Record<string, unknown> | undefined)?.[held.current.key];
      // No answer to what was asked: the same question again.
      if (answer === undefined) return respond(this.#inputRequired(message.id, held));
      held.current.answer({ jsonrpc: '2.0', id: 0, result: answer });
      held.current = undefined;
    }
    const next = await Promise.race([
      held.response.then((response) => ({ response })),
      held.nextAsk().then((ask) => ({ ask })),
    ]);
    if ('ask' in next) {
      held.current = next.ask;
      return respond(this.#inputRequired(message.id, held));
    }
    this.#held.delete(held.id);
    clearTimeout(held.expiry);
    const response: Json = { ...next.response, id: message.id };
    const result = response['result'];
    if (result && typeof result === 'object' && !Array.isArray(result)) {
      const fields = result as Json;
      fields['resultType'] ??= 'complete';
      if (CACHEABLE_METHODS.has(method)) {
        fields['ttlMs'] ??= 0;
        fields['cacheScope'] ??= 'private';
      }
    }
    respond(response);
  }

  /** Starts a call at the agent; its server requests queue up as input requests (see #call). */
  #start(
    target: McpTarget,
    message: JsonRpcMessage,
    meta: Record<string, unknown>,
    stream: ServerResponse | undefined,
  ): Held {
    const method = message.method!;
    const capabilities = (meta[`${META}clientCapabilities`] ?? {}) as Record<string, unknown>;
    const wantsLogs = `${META}logLevel` in meta;
    const queue: Ask[] = [];
    let waiting: ((ask: Ask) => void) | undefined;
    const held: Held = {
      id: randomUUID(),
      binding: bindingOf(method, message.params),
      controller: new AbortController(),
      round: 0,
      stream,
      response: Promise.resolve({}),
      nextAsk: () => {
        const ask = queue.shift();
        return ask ? Promise.resolve(ask) : new Promise((resolve) => (waiting = resolve));
      },
    };
    const askable = MRTR_METHODS.has(method);
    held.response = this.#invoke(target, message, {
      signal: held.controller.signal,
      onNotification: (payload) => {
        if (payload.method === 'notifications/message' && !wantsLogs) return;
        if (held.stream && !held.stream.writableEnded) writeEvent(held.stream, JSON.stringify(payload));
      },
      onServerRequest: askable
        ? (request) =>
            new Promise<JsonRpcMessage>((answer) => {
              const needed = request.method === undefined ? undefined : NEEDED_CAPABILITY[request.method];
              if (needed && !(needed in capabilities)) {
                // 2026-07-28: never ask for what the client did not declare (-32021).
                return answer({
                  jsonrpc: '2.0',
                  id: 0,
                  error: {
                    code: -32021,
                    message: `the client did not declare the ${needed} capability`,
                    data: { requiredCapabilities: { [needed]: {} } },
                  },
                });
              }
              const ask = { key: `input-${++held.round}`, request, answer };
              if (waiting) {
                const resolve = waiting;
                waiting = undefined;
                resolve(ask);
              } else queue.push(ask);
            })
        : undefined,
    }).catch((error: unknown) => {
      if (error instanceof ModernError) {
        const body = { code: error.code, message: error.message };
        return { jsonrpc: '2.0', id: message.id ?? null, error: body };
      }
      throw error;
    });
    this.#held.set(held.id, held);
    // A call whose client never retries ends with its timeout at the latest (the agent's call times out too).
    held.expiry = setTimeout(() => {
      this.#held.delete(held.id);
      held.controller.abort('the client did not retry with the input asked for');
    }, this.options.requestTimeoutMs).unref();
    return held;
  }

  /** The held call a retry's requestState names; -32602 when it is forged, altered, expired or another call's. */
  #resume(state: string, binding: string): Held {
    const [id, mac] = state.split('.');
    const held = id ? this.#held.get(id) : undefined;
    if (
      !id ||
      !mac ||
      !held ||
      !timingSafeEqualText(mac, this.#sign(id, held.binding)) ||
      held.binding !== binding
    )
      throw new ModernError(
        400,
        CODE.invalidParams,
        'requestState is not valid for this request (altered, expired, or of another call)',
      );
    return held;
  }

  /** The input-required result for the held call's current question; requestState names the call, HMAC-bound. */
  #inputRequired(id: JsonRpcMessage['id'], held: Held): Json {
    const { key, request } = held.current!;
    return {
      jsonrpc: '2.0',
      id: id ?? null,
      result: {
        resultType: 'input_required',
        inputRequests: { [key]: { method: request.method, params: request.params ?? {} } },
        requestState: `${held.id}.${this.#sign(held.id, held.binding)}`,
      },
    };
  }

  #sign(id: string, binding: string): string {
    return createHmac('sha256', this.#stateKey).update(`${id}\n${binding}`).digest('base64url');
  }

  /** The target's answer as a JSON-RPC response (a failure of the link becomes a JSON-RPC error). */
  async #invoke(
    target: McpTarget,
    message: JsonRpcMessage,
    options: Pick<InvokeOptions, 'signal' | 'onNotification' | 'onServerRequest'>,
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
