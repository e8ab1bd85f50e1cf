// The 2026-07-28 era of MCP Streamable HTTP on the same URL as the 2025 era (McpFront routes a request here
// when its MCP-Protocol-Version header, or its `_meta` envelope, says 2026-07-28). Stateless: no initialize,
// no session; every request carries its client's protocol version, info and capabilities in
// `params._meta["io.modelcontextprotocol/…"]`, and the routing headers Mcp-Method (and Mcp-Name) repeat the
// body. `server/discover` is answered from the local server's own initialize result (the agent answers
// `initialize` without touching the server); every other method goes to the agent as a 2025-era request with
// the envelope taken off, and its result gets the 2026 fields (`resultType`, caching hints). Closing the
// response stream cancels the call.
//
// `subscriptions/listen` streams get the local server's list-changed notifications and the resource updates
// they asked for.
//
// A local server's elicitation, sampling or roots request during a 2026-era call becomes an input-required
// result; the client's retry runs the call again and its answers reach the server (see #call). A 2026-07-28
// server's requests keep the input keys it gave them (the agent passes them on); a 2025 server's are named here.
//
// Not served yet: tasks (an extension).
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
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
  missingCapability: -32021,
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

/** A ModernError as the JSON-RPC error response to request `id`. */
function errorResponse(id: JsonRpcMessage['id'], error: ModernError): Json {
  const body = {
    code: error.code,
    message: error.message,
    ...(error.data === undefined ? {} : { data: error.data }),
  };
  return { jsonrpc: '2.0', id: id ?? null, error: body };
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

/**
 * How long a round waits, after the local server's latest request, for another one before it answers the client
 * (ms). A 2025 server asks the questions of one round at once (the SDK's legacy shim sends them all, then
 * awaits them all): they arrive back to back, and the client must get them in one input-required result.
 */
const ROUND_SETTLE_MS = 50;

/**
 * How long the x-mcp-header annotations of a server's tools are trusted without a new tools/list (ms): a server
 * that changes its tools without notifications/tools/list_changed is read again after this.
 */
const PARAM_HEADERS_TTL_MS = 60_000;

/** How long a requestState stays valid: a person may take a while to answer (ms). */
const REQUEST_STATE_TTL_MS = 15 * 60_000;

/** JSON with sorted keys: the same value always gives the same text (for keys and bindings). */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, item]) => item !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonical(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const digest = (text: string) => createHash('sha256').update(text).digest('base64url');

/**
 * What a retry must repeat to use a requestState: the method, the name or URI it acts on and its arguments
 * (2026-07-28: the state is bound to the request that earned it).
 */
function bindingOf(method: string, params: Record<string, unknown>): string {
  const name = params['name'] ?? params['uri'];
  return digest(canonical([method, typeof name === 'string' ? name : '', params['arguments'] ?? null]));
}

/**
 * The input key of a local server's request: its kind and a digest of what it asks. The same question gets the
 * same key in every round, so an answer given once answers it again when the call runs again. `_meta` and the
 * URL-mode `elicitationId` (fresh in every run) are left out.
 */
function inputKey(request: JsonRpcMessage): string {
  const {
    _meta: _ignored,
    elicitationId: _fresh,
    ...asked
  } = (request.params ?? {}) as Record<string, unknown>;
  const kind = (request.method ?? 'request').split('/')[0];
  return `${kind}-${digest(canonical([request.method, asked])).slice(0, 12)}`;
}

/**
 * An object with no prototype, for maps keyed by input keys (the server's or the client's strings): a key such
 * as `__proto__` or `constructor` is then an entry like any other, never Object.prototype's.
 */
function dictionary<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** A local server's request that the client is to answer in the next round. */
interface Ask {
  key: string;
  request: JsonRpcMessage;
}

/** How one run of a call at the agent ended. */
type Round =
  | { kind: 'response'; response: Json }
  | { kind: 'input'; asks: Ask[]; used: Record<string, unknown> }
  | { kind: 'missing'; capabilities: string[] };

/** A tool argument that a client also sends as an `Mcp-Param-<header>` header (SEP-2243, `x-mcp-header`). */
interface ParamHeader {
  argument: string;
  header: string;
}

/** The x-mcp-header arguments of each tool in a tools/list result, by tool name. */
function paramHeadersOf(result: unknown): Map<string, ParamHeader[]> {
  const tools = (result as { tools?: unknown } | undefined)?.tools;
  const found = new Map<string, ParamHeader[]>();
  for (const tool of Array.isArray(tools) ? (tools as Json[]) : []) {
    const properties = (tool['inputSchema'] as { properties?: unknown } | undefined)?.properties;
    if (typeof tool['name'] !== 'string' || !properties || typeof properties !== 'object') continue;
    const params: ParamHeader[] = [];
    for (const [argument, schema] of Object.entries(properties as Record<string, unknown>)) {
      const header = (schema as { 'x-mcp-header'?: unknown } | null)?.['x-mcp-header'];
      if (typeof header === 'string' && header.length > 0) params.push({ argument, header });
    }
    found.set(tool['name'], params);
  }
  return found;
}

/**
 * An `Mcp-Param-*` header's value as text (SEP-2243): `=?base64?<data>?=` is Base64 (strict: its alphabet and
 * padding; undefined when invalid), anything else is literal.
 */
function decodeParamHeader(value: string): string | undefined {
  const wrapped = /^=\?base64\?(.*)\?=$/.exec(value);
  if (!wrapped) return value;
  const data = wrapped[1]!;
  if (data.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(data)) return undefined;
  return Buffer.from(data, 'base64').toString('utf8');
}

function timingSafeEqualText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A resource URI that listen streams want: how many, and whether the server agreed to `resources/subscribe`. */
interface Watch {
  streams: number;
  agreed: Promise<boolean>;
}

interface ListenStream {
  res: ServerResponse;
  subscriptionId: string;
  filter: Record<string, unknown>;
  /** The resourceSubscriptions URIs the server agreed to (resources/updated for these). */
  resources: string[];
}

export interface ModernFrontOptions {
  requestTimeoutMs: number;
  /** The target of `server` for `subject`; throws HttpError when there is none. */
  target(subject: string, server: string): McpTarget | Promise<McpTarget>;
  /**
   * The key that signs requestState (default: random, per process). Relays behind one URL share one, so that a
   * client's retry may reach another relay than the round that asked (issue 13).
   */
  requestStateKey?: Uint8Array;
}

export class ModernFront {
  /** Open subscriptions/listen streams, by `subject/server`. */
  readonly #listening = new Map<string, Set<ListenStream>>();
  /**
   * The x-mcp-header arguments of each tool, by `subject/server`, from the tools/list results relayed or fetched
   * (dropped on tools/list_changed, read again after PARAM_HEADERS_TTL_MS). A pending fetch is shared.
   */
  readonly #paramHeaders = new Map<string, { at: number; tools: Promise<Map<string, ParamHeader[]>> }>();
  /** The resource URIs listen streams want, by `subject/server` (see #listen). */
  readonly #watched = new Map<string, Map<string, Watch>>();
  /** Signs requestState: a client cannot forge or alter it (per relay process, unless the options give one). */
  readonly #stateKey: Uint8Array;

  constructor(private readonly options: ModernFrontOptions) {
    this.#stateKey = options.requestStateKey ?? randomBytes(32);
  }

  /** Open listen streams (for /healthz and tests). */
  openStreams(): number {
    let count = 0;
    for (const set of this.#listening.values()) count += set.size;
    return count;
  }

  /** A server-wide notification to the listen streams of that server that asked for its kind. */
  notify(subject: string, server: string, payload: JsonRpcMessage): void {
    if (payload.method === 'notifications/tools/list_changed')
      this.#paramHeaders.delete(`${subject}/${server}`);
    const params = (payload.params ?? {}) as Json;
    const flag = payload.method === undefined ? undefined : LISTEN_FILTERS[payload.method];
    const updated = payload.method === 'notifications/resources/updated' ? params['uri'] : undefined;
    if (!flag && typeof updated !== 'string') return;
    for (const stream of this.#listening.get(`${subject}/${server}`) ?? []) {
      if (stream.res.writableEnded) continue;
      if (flag ? stream.filter[flag] !== true : !stream.resources.includes(updated as string)) continue;
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
    this.endListenStreams();
    this.#listening.clear();
  }

  /**
   * Ends every listen stream (each one's close handler forgets it and unsubscribes its resources): with
   * several relays, notifications may have been missed, and a client that listens again misses nothing more.
   */
  endListenStreams(): void {
    for (const set of this.#listening.values()) for (const stream of set) stream.res.end();
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
      if (message.method === 'subscriptions/listen')
        return await this.#listen(res, target, subject, server, message);
      await this.#call(req, res, target, message, meta, `${subject}/${server}`);
    } catch (error) {
      if (res.headersSent) return void res.end();
      if (!(error instanceof ModernError)) throw error;
      sendJson(res, error.status, errorResponse(id, error));
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
   * subscriptions/listen: an SSE stream that stays open, first acknowledged (with the filter it honours), then
   * carrying the server's list-changed notifications the request's `notifications` filter asks for, and
   * `notifications/resources/updated` for the URIs of its `resourceSubscriptions`, each tagged with the stream's
   * subscription id. Closing it ends the subscription.
   *
   * A 2025 server learns of the URIs by `resources/subscribe` through the agent (once per URI while any listen
   * stream of that server wants it; `resources/unsubscribe` when the last one closes). The agent has one
   * session per local server, shared by every client: a 2025-era client's own subscribe and unsubscribe of the
   * same URI go to that session too, as they did before. A URI the server refuses is left out of the
   * acknowledgement.
   */
  async #listen(
    res: ServerResponse,
    target: McpTarget,
    subject: string,
    server: string,
    message: JsonRpcMessage,
  ): Promise<void> {
    const filter = ((message.params as { notifications?: unknown } | undefined)?.notifications ?? {}) as Json;
    const asked = Array.isArray(filter['resourceSubscriptions'])
      ? [...new Set(filter['resourceSubscriptions'].filter((uri): uri is string => typeof uri === 'string'))]
      : [];
    const key = `${subject}/${server}`;
    const resources: string[] = [];
    for (const uri of asked) if (await this.#watch(target, key, uri)) resources.push(uri);
    const stream: ListenStream = { res, subscriptionId: randomUUID(), filter, resources };
    const set = this.#listening.get(key) ?? new Set<ListenStream>();
    this.#listening.set(key, set.add(stream));
    const end = () => {
      set.delete(stream);
      if (set.size === 0 && this.#listening.get(key) === set) this.#listening.delete(key);
      for (const uri of resources) this.#unwatch(target, key, uri);
    };
    if (res.destroyed) return end(); // the client left while the server was subscribing
    res.on('close', end);
    const honoured: Json = Object.fromEntries(
      Object.values(LISTEN_FILTERS)
        .filter((flag) => filter[flag] === true)
        .map((flag) => [flag, true]),
    );
    if (asked.length > 0) honoured['resourceSubscriptions'] = resources;
    openSse(res);
    writeEvent(
      res,
      JSON.stringify({
        jsonrpc: '2.0',
        method: 'notifications/subscriptions/acknowledged',
        params: { notifications: honoured, _meta: { [`${META}subscriptionId`]: stream.subscriptionId } },
      }),
    );
  }

  /**
   * Counts one more listen stream on `uri`; the first subscribes at the server, and every stream that comes
   * while that is under way waits for it. Whether the server agreed (a stream it did not is not counted).
   */
  async #watch(target: McpTarget, key: string, uri: string): Promise<boolean> {
    const watched = this.#watched.get(key) ?? new Map<string, Watch>();
    this.#watched.set(key, watched);
    let watch = watched.get(uri);
    if (!watch) {
      const subscribe = {
        jsonrpc: '2.0' as const,
        id: `listen-${randomUUID()}`,
        method: 'resources/subscribe',
        params: { uri },
      };
      const agreed = this.#invoke(target, subscribe, {}).then(
        (response) => 'result' in response,
        () => false, // the agent is unreachable
      );
      watch = { streams: 0, agreed };
      watched.set(uri, watch);
      void agreed.then((yes) => {
        if (!yes && watched.get(uri) === watch) watched.delete(uri);
      });
    }
    if (!(await watch.agreed)) return false;
    // The last stream may have left meanwhile and unsubscribed: then subscribe anew.
    if (this.#watched.get(key)?.get(uri) !== watch) return this.#watch(target, key, uri);
    watch.streams += 1;
    return true;
  }

  /** Counts one listen stream less on `uri`; after the last one, the server is unsubscribed. */
  #unwatch(target: McpTarget, key: string, uri: string): void {
    const watched = this.#watched.get(key);
    const watch = watched?.get(uri);
    if (!watched || !watch || --watch.streams > 0) return;
    watched.delete(uri);
    if (watched.size === 0) this.#watched.delete(key);
    const unsubscribe = {
      jsonrpc: '2.0' as const,
      id: `listen-${randomUUID()}`,
      method: 'resources/unsubscribe',
      params: { uri },
    };
    void this.#invoke(target, unsubscribe, {}).catch(() => undefined); // ignore: the agent may be gone
  }

  /**
   * Any other method: the envelope off, the call to the agent, the 2026 fields on its result.
   *
   * A local server's requests to its client during `tools/call`, `prompts/get` or `resources/read` (2025 era:
   * elicitation, sampling, roots) become an input-required result (2026-07-28, "Multi round-trip requests"),
   * the stateless way that revision intends: the run at the agent is cancelled, the client gets the questions
   * (under the local server's own input keys when it gave them, else keyed by what they ask: see inputKey) and a signed requestState holding the answers given so far, and its
   * retry runs the call again, answering each question the server repeats from those answers and the retry's
   * `inputResponses`. Nothing waits at the relay or the agent between rounds, so a client that never retries
   * leaves nothing behind. The price: a 2025 server's tool runs again from its start in every round.
   *
   * A question whose capability the client did not declare is never put to it (2026-07-28): an elicitation is
   * declined on its behalf (the server decides what that means); a round that needs sampling or roots and
   * has nothing else to ask answers the client -32021 (HTTP 400) with the capabilities it lacks.
   */
  async #call(
    req: IncomingMessage,
    res: ServerResponse,
    target: McpTarget,
    message: JsonRpcMessage,
    meta: Record<string, unknown>,
    serverKey: string,
  ): Promise<void> {
    const method = message.method!;
    const params = { ...(message.params as Record<string, unknown>) };
    if (method === 'tools/call') await this.#checkParamHeaders(req, target, serverKey, params);
    const accept = header(req, 'accept') ?? '';
    const legacyMeta = Object.fromEntries(Object.entries(meta).filter(([key]) => !key.startsWith(META)));
    const sse =
      accept.includes('text/event-stream') &&
      (!accept.includes('application/json') || 'progressToken' in legacyMeta);

    const binding = bindingOf(method, params);
    const { answers, issued } =
      typeof params['requestState'] === 'string'
        ? this.#openState(params['requestState'], binding)
        : { answers: dictionary<unknown>(), issued: dictionary<string>() };
    const responses = params['inputResponses'];
    if (
      responses !== undefined &&
      (responses === null || typeof responses !== 'object' || Array.isArray(responses))
    )
      throw new ModernError(
        400,
        CODE.invalidParams,
        'inputResponses must be an object of answers by input key',
      );
    // An answer must be an object (an elicitation, sampling or roots result); anything else is asked again.
    for (const [key, answer] of Object.entries((responses ?? {}) as Record<string, unknown>)) {
      if (answer && typeof answer === 'object' && !Array.isArray(answer)) answers[key] = answer;
    }
    delete params['requestState'];
    delete params['inputResponses'];
    if (Object.keys(legacyMeta).length > 0) params['_meta'] = legacyMeta;
    else delete params['_meta'];

    if (sse) openSse(res);
    let round: Round;
    try {
      round = await this.#run(target, { ...message, params }, meta, { answers, issued }, res, sse);
    } catch (error) {
      // On an open stream the failure goes in-band (the status is sent); handle() answers it otherwise.
      if (!sse || !(error instanceof ModernError)) throw error;
      round = { kind: 'response', response: errorResponse(message.id, error) };
    }
    if (round.kind === 'missing') {
      const failure = new ModernError(
        400,
        CODE.missingCapability,
        `the server asked for what the client's ${round.capabilities.join(' and ')} capability would answer, and the request did not declare it`,
        { requiredCapabilities: Object.fromEntries(round.capabilities.map((name) => [name, {}])) },
      );
      if (!sse) throw failure;
      round = { kind: 'response', response: errorResponse(message.id, failure) };
    }
    let response: Json;
    if (round.kind === 'input') {
      response = {
        jsonrpc: '2.0',
        id: message.id ?? null,
        result: {
          resultType: 'input_required',
          inputRequests: Object.fromEntries(
            round.asks.map(({ key, request }) => [
              key,
              { method: request.method, params: request.params ?? {} },
            ]),
          ),
          requestState: this.#sealState(binding, round.used, {
            ...issued,
            ...Object.fromEntries(round.asks.map(({ key, request }) => [key, request.method ?? ''])),
          }),
        },
      };
    } else {
      response = { ...round.response, id: message.id };
      const result = response['result'];
      if (result && typeof result === 'object' && !Array.isArray(result)) {
        const fields = result as Json;
        fields['resultType'] ??= 'complete';
        if (method === 'tools/list' && params['cursor'] === undefined)
          this.#paramHeaders.set(serverKey, {
            at: Date.now(),
            tools: Promise.resolve(paramHeadersOf(fields)),
          });
        if (CACHEABLE_METHODS.has(method)) {
          fields['ttlMs'] ??= 0;
          fields['cacheScope'] ??= 'private';
        }
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

  /**
   * One run of a call at the agent (see #call): resolves with its response, or, once the local server has asked
   * what `answers` cannot answer and ROUND_SETTLE_MS pass without another question, with those questions (the run
   * cancelled). Notifications go to the SSE stream when there is one. Closing `res` cancels the run.
   */
  async #run(
    target: McpTarget,
    message: JsonRpcMessage,
    meta: Record<string, unknown>,
    known: { answers: Record<string, unknown>; issued: Record<string, string> },
    res: ServerResponse,
    sse: boolean,
  ): Promise<Round> {
    const { answers, issued } = known;
    const capabilities = (meta[`${META}clientCapabilities`] ?? {}) as Record<string, unknown>;
    const wantsLogs = `${META}logLevel` in meta;
    const controller = new AbortController();
    // Cancellation in 2026-07-28: the client closes the response stream.
    const onClose = () => {
      if (!res.writableFinished) controller.abort('the client closed the request stream');
    };
    res.on('close', onClose);
    const asks: Ask[] = [];
    const missing = new Set<string>();
    /** The server requests still waiting for an answer: answered with an error when the run ends. */
    const waiting = new Set<(response: JsonRpcMessage) => void>();
    const used = dictionary<unknown>();
    let settle: (round: Round) => void = () => undefined;
    const settled = new Promise<Round>((resolve) => (settle = resolve));
    let quiet: NodeJS.Timeout | undefined;
    const asked = () => {
      clearTimeout(quiet);
      quiet = setTimeout(
        () =>
          settle(
            asks.length > 0 ? { kind: 'input', asks, used } : { kind: 'missing', capabilities: [...missing] },
          ),
        ROUND_SETTLE_MS,
      );
    };
    const onServerRequest = (request: JsonRpcMessage, serverKey?: string) =>
      new Promise<JsonRpcMessage>((answer) => {
        // A 2026-07-28 local server's own key, as it named the request (SEP-2322); ours for a 2025 server's.
        const key = serverKey ?? inputKey(request);
        // Its own key; else, for a key of ours, the one answer, not used yet in this run, to a question of the same
        // method asked in an earlier round (a server whose question differs a little every run: a time, a random
        // id). A server's own key names its question: no other answer stands in for it.
        const spare =
          serverKey === undefined
            ? Object.keys(answers).filter((k) => issued[k] === request.method && !(k in used))
            : [];
        const answeredAs = key in answers ? key : spare.length === 1 ? spare[0] : undefined;
        if (answeredAs !== undefined) {
          used[answeredAs] = answers[answeredAs];
          return answer({ jsonrpc: '2.0', id: 0, result: answers[answeredAs] });
        }
        const needed = request.method === undefined ? undefined : NEEDED_CAPABILITY[request.method];
        if (needed && !(needed in capabilities)) {
          if (request.method === 'elicitation/create')
            return answer({ jsonrpc: '2.0', id: 0, result: { action: 'decline' } });
          missing.add(needed);
        } else if (!asks.some((ask) => ask.key === key)) asks.push({ key, request });
        waiting.add(answer);
        asked();
      });
    const running = this.#invoke(target, message, {
      signal: controller.signal,
      onNotification: (payload) => {
        if (payload.method === 'notifications/message' && !wantsLogs) return;
        if (sse && !res.writableEnded) writeEvent(res, JSON.stringify(payload));
      },
      onServerRequest: MRTR_METHODS.has(message.method ?? '') ? onServerRequest : undefined,
      // A local server of both eras is spoken to in this client's era, so its own input keys reach it.
      clientEra: 'modern',
    }).then((response): Round => ({ kind: 'response', response }));
    try {
      const round = await Promise.race([running, settled]);
      if (round.kind !== 'response') {
        controller.abort(
          'the client is asked for input (input-required result); its retry runs the call again',
        );
        running.catch(() => undefined); // ignore: the run was cancelled on purpose
      }
      return round;
    } finally {
      clearTimeout(quiet);
      res.off('close', onClose);
      for (const answer of waiting) {
        answer({
          jsonrpc: '2.0',
          id: 0,
          error: {
            code: -32000,
            message: 'the relay ended this run of the call; the client answers in its retry',
          },
        });
      }
    }
  }

  /**
   * SEP-2243 custom headers: for every argument the tool marks with `x-mcp-header`, the `Mcp-Param-<name>` header
   * must be there when the argument is, and say the same (after Base64 decoding); else 400 with -32020. The
   * tools' annotations come from the server's tools/list (fetched once if no client listed them through here).
   */
  async #checkParamHeaders(
    req: IncomingMessage,
    target: McpTarget,
    key: string,
    params: Record<string, unknown>,
  ): Promise<void> {
    const name = params['name'];
    if (typeof name !== 'string') return;
    let known = this.#paramHeaders.get(key);
    if (!known || Date.now() - known.at > PARAM_HEADERS_TTL_MS) {
      const entry = {
        at: Date.now(),
        tools: this.#invoke(
          target,
          { jsonrpc: '2.0', id: `headers-${randomUUID()}`, method: 'tools/list' },
          {},
        ).then(
          (response) => paramHeadersOf(response['result']),
          () => {
            // Unknown this time (the agent is away): nothing to check against, and ask again next call.
            if (this.#paramHeaders.get(key) === entry) this.#paramHeaders.delete(key);
            return new Map<string, ParamHeader[]>();
          },
        ),
      };
      this.#paramHeaders.set(key, entry);
      known = entry;
    }
    const tool = (await known.tools).get(name) ?? [];
    const args = (params['arguments'] ?? {}) as Record<string, unknown>;
    for (const { argument, header: suffix } of tool) {
      const value = args[argument];
      const sent = header(req, `mcp-param-${suffix.toLowerCase()}`);
      const mismatch = (why: string) =>
        new ModernError(
          400,
          CODE.headerMismatch,
          `Mcp-Param-${suffix} ${why} (SEP-2243: it repeats arguments.${argument})`,
        );
      if (sent === undefined) {
        if (value === undefined || value === null) continue;
        throw mismatch('is missing');
      }
      const decoded = decodeParamHeader(sent.trim());
      if (decoded === undefined) throw mismatch('is not valid Base64 inside =?base64?…?=');
      if (
        value === undefined ||
        value === null ||
        decoded !== (typeof value === 'string' ? value : JSON.stringify(value))
      )
        throw mismatch('does not match the body');
    }
  }

  /**
   * A requestState: the answers given so far and the method of every key issued, bound to the request, with an
   * expiry; HMAC-signed (signed, not encrypted: the client already knows all of it).
   */
  #sealState(binding: string, answers: Record<string, unknown>, issued: Record<string, string>): string {
    const expires = Date.now() + REQUEST_STATE_TTL_MS;
    const body = Buffer.from(
      JSON.stringify({ binding, answers, issued, expires, nonce: randomUUID() }),
    ).toString('base64url');
    return `${body}.${this.#sign(body)}`;
  }

  /** What a requestState holds; -32602 when it is forged, altered, expired or another request's. */
  #openState(
    state: string,
    binding: string,
  ): { answers: Record<string, unknown>; issued: Record<string, string> } {
    const [body, mac, extra] = state.split('.');
    const invalid = (why: string) =>
      new ModernError(400, CODE.invalidParams, `requestState is not valid for this request (${why})`);
    if (!body || !mac || extra !== undefined || !timingSafeEqualText(mac, this.#sign(body)))
      throw invalid('altered or not issued here');
    const sealed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as {
      binding: string;
      answers: Record<string, unknown>;
      issued: Record<string, string>;
      expires: number;
    };
    if (sealed.binding !== binding) throw invalid('issued for another request');
    if (sealed.expires < Date.now()) throw invalid('expired: call again without it');
    return {
      answers: Object.assign(dictionary<unknown>(), sealed.answers),
      issued: Object.assign(dictionary<string>(), sealed.issued),
    };
  }

  #sign(text: string): string {
    return createHmac('sha256', this.#stateKey).update(text).digest('base64url');
  }

  /** The target's answer as a JSON-RPC response (a failure of the link becomes a JSON-RPC error). */
  async #invoke(
    target: McpTarget,
    message: JsonRpcMessage,
    options: Pick<InvokeOptions, 'signal' | 'onNotification' | 'onServerRequest' | 'clientEra'>,
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
