// One local MCP server under supervision: an SDK v2 Client over stdio (a child process we own) or HTTP
// (Streamable HTTP, falling back to legacy SSE), spoken to in the server's own protocol era: the first start
// probes with `server/discover` (2026-07-28) and falls back to `initialize` (2025), and the verdict is kept for
// later starts of the same entry (issue 11). It restarts after a crash or a failed start with capped
// exponential backoff, reports its status on every change, and never outlives stop(). A Streamable HTTP server
// of both eras also gets a stateless 2026-07-28 client, for callers of that era (#connectModern).
import { EventEmitter } from 'node:events';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';

import {
  Client,
  type InputRequiredResult,
  isInputRequiredResult,
  type McpSubscription,
  type Notification,
  type PriorDiscovery,
  type ProgressNotification,
  type ProtocolEra,
  ProtocolError,
  SdkError,
  SdkErrorCode,
  SdkHttpError,
  SSEClientTransport,
  SseError,
  StreamableHTTPClientTransport,
  type Transport,
} from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import pidtree from 'pidtree';
import which from 'which';
import { z } from 'zod';

import { formatBytes, type JsonRpcMessage, MAX_MESSAGE_BYTES } from '../../../src-shared/wire.js';
import type { ServerConfigResult, ServerSpec } from '../config/mcp-config.js';
import { needsRestart } from '../config/mcp-config.js';
import { errorMessage, fetchFailure, GatewayError } from '../errors.js';
import type { Logger } from '../logging/log-hub.js';
import type { Redactor } from '../logging/redactor.js';
import { type CallSignal, LegacyCalls, PASS_THROUGH_METHODS } from './legacy-calls.js';
import { limitStdioLines, LineReadBuffer } from './line-read-buffer.js';
import { loginShellPath, mergePath } from './login-shell-path.js';

export type ServerState = 'stopped' | 'starting' | 'running' | 'restarting' | 'error';

export interface ServerStatus {
  name: string;
  state: ServerState;
  description?: string;
  disabled: boolean;
  transport?: 'stdio' | 'streamable-http' | 'sse';
  /**
   * The protocol era the server is spoken to in: `modern` (2026-07-28, `server/discover`) or `legacy` (2025,
   * `initialize`); learned by the first start of its entry and kept while the entry stays the same.
   */
  era?: ProtocolEra;
  /** The command line (stdio) or URL (HTTP), as launched. */
  target?: string;
  pid?: number;
  /** Epoch ms when the server last became running; uptime is derived from it. */
  startedAt?: number;
  lastError?: string;
  /** Restarts after a crash or a failed start since the gateway started this server. */
  restarts: number;
  /** Epoch ms of the next restart attempt, while one is scheduled. */
  nextRetryAt?: number;
  serverInfo?: { name: string; version: string; title?: string };
  counts?: { tools: number; resources: number; prompts: number };
}

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** A server that stays up this long gets its backoff reset. */
  stableMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000, stableMs: 30_000 };

export interface ManagedServerOptions {
  log: Logger;
  redactor: Redactor;
  clientInfo: { name: string; version: string };
  backoff?: BackoffOptions;
  /** How long the child may take to answer initialize. An `npx -y` first download can be slow. */
  startTimeoutMs?: number;
}

const STDERR_TAIL_LINES = 10;

/** How long a server may take to answer initialize by default: an `npx -y` first download can be slow. */
export const DEFAULT_START_TIMEOUT_MS = 60_000;
/**
 * How long a stdio server's `server/discover` probe may take (on the SDK's disposable sibling process) before
 * the server is taken for a 2025-era one that ignores unknown requests before `initialize`. A 2026 server
 * answers within its start-up time (well under a second for a Node server); a silent legacy server costs this
 * once per entry, since the verdict is kept. An HTTP probe has the whole start timeout: silence there is an
 * outage, not an era (the SDK rejects instead of falling back).
 */
export const STDIO_PROBE_TIMEOUT_MS = 5_000;
/**
 * How long a learned era verdict is trusted before the next start probes again. A stale `legacy` verdict
 * would hide an upgrade forever (an upgraded server still answers `initialize`); a stale `modern` one fails
 * loudly at its first request, and a failed start drops the verdict anyway.
 */
export const ERA_VERDICT_MAX_AGE_MS = 24 * 60 * 60 * 1000;
/** How many input_required rounds one call to a 2026-07-28 server may take (the SDK's own default cap). */
export const MAX_INPUT_ROUNDS = 10;
/** How long stop() waits for an abandoned stdio connect to settle (it does at once when its transport closes). */
const SETTLE_WAIT_MS = 5_000;
/** The pause before a retry that carries only `requestState` (no question was asked), as the SDK paces it. */
const STATE_ONLY_ROUND_PAUSE_MS = 250;
/**
 * Asks a remote client, through the call it is making, a request of the local server (sampling, elicitation,
 * roots: `id` is the asker's to choose) and resolves with the client's JSON-RPC response. `signal` aborts when
 * the local server cancels its request. `inputKey` is the key a 2026-07-28 server gave the request in its
 * `input_required` result (SEP-2322); absent for a 2025-era server request, which has none.
 */
export type ServerRequestAsker = (
  request: JsonRpcMessage,
  signal: AbortSignal,
  inputKey?: string,
) => Promise<JsonRpcMessage>;

/**
 * How long the `server/discover` probe after a Streamable HTTP server's `initialize` may take before the server
 * is taken for a 2025-era one only (ms). A server that speaks both eras answers it as fast as any request.
 */
export const DUAL_ERA_PROBE_TIMEOUT_MS = 5_000;

/** The 2026-07-28 revision a server of both eras is spoken to in, for callers of that era. */
const MODERN_REVISION = '2026-07-28';

export class ManagedServer extends EventEmitter<{ status: [ServerStatus]; notification: [Notification] }> {
  #config: ServerConfigResult;
  #status: ServerStatus;
  #client: Client | undefined;
  #transport: Transport | undefined;
  /**
   * A Streamable HTTP server that speaks both eras: a second, stateless client pinned to 2026-07-28 on the same
   * URL, for 2026-07-28 callers (request's `clientEra`); #client keeps the 2025 session for everyone else.
   */
  #modernClient: Client | undefined;
  /** The listen stream of #modernClient, while one is open. */
  #modernListen: McpSubscription | undefined;
  /** The last (re)opening of #modernListen, settled either way (#listenModern runs them one at a time). */
  #relistening: Promise<void> = Promise.resolve();
  /** The resource URIs subscribed on a both-eras server's 2025 session (#subscribeBoth). */
  readonly #subscribedUris = new Set<string>();
  /** The x-mcp-header arguments of each tool of a 2026-07-28 connection, by tool name (#paramHeaders). */
  #toolHeaders:
    { client: Client; tools: Promise<Map<string, { argument: string; header: string }[]>> } | undefined;
  /** Bumped by every launch and stop, so callbacks of an older launch do nothing. */
  #generation = 0;
  #attempt = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #stableTimer: NodeJS.Timeout | undefined;
  #stderrTail: string[] = [];
  /** The same for the era probe's sibling: what is said when the server itself has said nothing yet. */
  #probeTail: string[] = [];
  /** The launch in progress (it never rejects: failures become statuses). */
  #launching: Promise<void> | undefined;
  /** Whether the current client finished initialize (a close after that is a crash). */
  #connected = false;
  /** Rejects the connect of a launch in progress (set while one is). */
  #abandonConnect: (() => void) | undefined;
  /** The last stdio connect, settled either way (stop() waits for it, within SETTLE_WAIT_MS). */
  #settling: Promise<unknown> | undefined;
  readonly #progressRoutes = new Map<string, (params: ProgressNotification['params']) => void>();
  /** The remote calls in progress that can carry a server request. */
  readonly #askers: ServerRequestAsker[] = [];
  readonly #backoff: BackoffOptions;
  readonly #log: Logger;
  /** The SDK's disposable sibling process that runs a stdio server's era probe, while one exists. */
  #probe: StdioClientTransport | undefined;
  /** Streamable HTTP: the calls whose response stream closed before their answer can be told (see request). */
  readonly #resumable = new ResumableCalls();

  constructor(
    config: ServerConfigResult,
    private readonly options: ManagedServerOptions,
  ) {
    super();
    // Every call waiting for a (re)start listens for the status: many may wait at once.
    this.setMaxListeners(0);
    this.#config = config;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#log = options.log;
    const spec = config.ok ? config.spec : undefined;
    this.#status = {
      name: this.name,
      state: 'stopped',
      disabled: spec?.disabled ?? false,
      restarts: 0,
      description: spec?.description,
    };
  }

  get name(): string {
    return this.#config.ok ? this.#config.spec.name : this.#config.name;
  }

  get status(): ServerStatus {
    return { ...this.#status };
  }

  /**
   * An HTTP server's origin (scheme, host and port: not its path or query, which may hold a key), for messages;
   * undefined for a stdio server.
   */
  get origin(): string | undefined {
    const transport = this.#config.ok ? this.#config.spec.transport : undefined;
    if (transport?.kind !== 'http') return undefined;
    return URL.canParse(transport.url) ? new URL(transport.url).origin : undefined;
  }

  /**
   * The pid of its child process while one exists: starting (the era probe's sibling process first, then the
   * server's own), running or being stopped.
   */
  get processId(): number | undefined {
    const own = this.#transport instanceof StdioClientTransport ? this.#transport.pid : null;
    return own ?? this.#probe?.pid ?? undefined;
  }

  /** The connected SDK client, while the server is running. */
  get client(): Client | undefined {
    return this.#status.state === 'running' ? this.#client : undefined;
  }

  /**
   * Routes `notifications/progress` carrying `token` to `listener` until the returned function is called.
   * The SDK's own `onprogress` drops a progress notification that arrives just before its response (it
   * removes the handler synchronously but dispatches notifications a microtask later); routing ourselves
   * keeps the last step of every progress sequence.
   */
  routeProgress(token: string, listener: (params: ProgressNotification['params']) => void): () => void {
    this.#progressRoutes.set(token, listener);
    return () => this.#progressRoutes.delete(token);
  }

  /**
   * While a remote call runs: the server's requests to its client (sampling/createMessage, elicitation/create,
   * roots/list) go to that call's client. The 2025 era does not say which call a server request belongs to, so
   * with several calls in flight it is refused rather than put to a client that may not be the one asked.
   * Returns the function that ends it.
   */
  askVia(asker: ServerRequestAsker): () => void {
    this.#askers.push(asker);
    return () => {
      const index = this.#askers.lastIndexOf(asker);
      if (index >= 0) this.#askers.splice(index, 1);
    };
  }

  /**
   * Sends one request of a remote client to the server on `client` (from ready()) and resolves with its
   * result, in the server's era. The server's questions during the call reach the caller through `ask` (the
   * relay puts them to the remote client in that client's own era: a server→client request over its stream
   * for a 2025 client, input-required for a 2026-07-28 one):
   * - a 2025-era server sends elicitation/create, sampling/createMessage or roots/list requests, which go to
   *   `ask` while this call is the only one in flight (see askVia);
   * - a 2026-07-28 server answers `input_required` instead; each embedded request is put to `ask` (this call's
   *   own caller, so several calls in flight are no problem) and the request is sent again with the answers
   *   (`inputResponses`) and the server's `requestState` echoed, for up to MAX_INPUT_ROUNDS rounds.
   * `timeoutMs` bounds the whole call, rounds included. Rejects with the SDK's ProtocolError for a JSON-RPC
   * error (the server's, or the caller's answer to a question), SdkError for a timeout, a cancellation or a
   * lost connection.
   *
   * `clientEra: 'modern'` (a 2026-07-28 caller) sends the request to a server of both eras in the 2026-07-28
   * era, on the second client #connectModern made, so that its own input_required results, keys and all, reach
   * the caller; a 2025-era caller, and every caller of a one-era server, uses `client`.
   *
   * `onStreamClosed` (2025 era, Streamable HTTP): called each time the server closed the call's SSE stream
   * before its answer and the SDK resumes it (GET with Last-Event-ID, spec 2025-11-25 "Resumability and
   * Redelivery", SEP-1699 polling); the answer still resolves this call when it comes.
   */
  async request(
    client: Client,
    request: { method: string; params?: Record<string, unknown> },
    options: {
      signal: AbortSignal;
      timeoutMs: number;
      ask?: ServerRequestAsker;
      abort?: CallSignal;
      clientEra?: 'modern';
      onStreamClosed?: () => void;
    },
  ): Promise<Record<string, unknown>> {
    const modern = this.#modernClient;
    if (modern && client === this.#client) {
      if (options.clientEra === 'modern') {
        try {
          return await this.#requestModern(modern, request, options);
        } catch (error) {
          // A method the 2026-07-28 era lacks (the SDK refuses it before sending) stays the 2025 session's.
          if (!(error instanceof SdkError && error.code === SdkErrorCode.MethodNotSupportedByProtocolVersion))
            throw error;
        }
      } else if (request.method === 'resources/subscribe' || request.method === 'resources/unsubscribe') {
        return this.#subscribeBoth(client, modern, request, options);
      }
    }
    if (client.getProtocolEra() !== 'modern') {
      const leave = options.ask && this.askVia(options.ask);
      const watch =
        options.onStreamClosed && this.#transport instanceof StreamableHTTPClientTransport
          ? this.#resumable.watch(options.onStreamClosed)
          : undefined;
      try {
        // The common methods skip the SDK client's per-request validation (legacy-calls.ts says why).
        const calls = PASS_THROUGH_METHODS.has(request.method) ? legacyCalls(client) : undefined;
        if (calls) {
          const signal = options.abort ?? options.signal;
          return await calls.request(request.method, request.params, {
            signal,
            timeoutMs: options.timeoutMs,
            onresumptiontoken: watch?.token,
          });
        }
        return await client.request(request, AnyResult, {
          signal: options.signal,
          timeout: options.timeoutMs,
          onresumptiontoken: watch?.token,
        });
      } finally {
        leave?.();
        watch?.end();
      }
    }
    return this.#requestModern(client, request, options);
  }

  /** request() on a 2026-07-28 connection: input_required rounds, SEP-2243 headers, in-band errors. */
  async #requestModern(
    client: Client,
    request: { method: string; params?: Record<string, unknown> },
    options: { signal: AbortSignal; timeoutMs: number; ask?: ServerRequestAsker },
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + options.timeoutMs;
    let params = request.params;
    // SEP-2243 headers exist on HTTP only (stdio has no headers to mirror arguments in).
    const mirrored = request.method === 'tools/call' && this.#status.transport === 'streamable-http';
    let headersRead = !mirrored;
    for (let round = 0; ; round++) {
      const send = async () =>
        client.request({ method: request.method, params }, AnyResult, {
          signal: options.signal,
          timeout: Math.max(1, deadline - Date.now()),
          allowInputRequired: true,
          headers: mirrored ? await this.#paramHeaders(client, request.params) : undefined,
        });
      let result: Record<string, unknown>;
      try {
        result = await send().catch((error: unknown) => {
          throw inBandError(error);
        });
      } catch (error) {
        // SEP-2243: the server's tools changed their x-mcp-header arguments since they were read: read them
        // again, once, and send again.
        if (!(error instanceof ProtocolError && error.code === HEADER_MISMATCH) || headersRead) throw error;
        headersRead = true;
        this.#toolHeaders = undefined;
        result = await send().catch((error: unknown) => {
          throw inBandError(error);
        });
      }
      if (!isInputRequiredResult(result)) return result;
      if (round + 1 >= MAX_INPUT_ROUNDS) {
        throw new ProtocolError(
          -32603,
          `"${this.name}" still required input for ${request.method} after ${MAX_INPUT_ROUNDS} rounds`,
        );
      }
      const responses = await this.#answerInputRequests(result, request.method, options);
      if (responses === undefined) await pause(STATE_ONLY_ROUND_PAUSE_MS, options.signal);
      params = {
        ...request.params,
        ...(responses === undefined ? {} : { inputResponses: responses }),
        ...(result.requestState === undefined ? {} : { requestState: result.requestState }),
      };
    }
  }

  /**
   * The `Mcp-Param-<name>` headers a 2026-07-28 server wants with a tools/call (SEP-2243): one for every argument
   * the tool's input schema marks `x-mcp-header`, when the call gives it a primitive value; the value as is when
   * it is visible ASCII without leading or trailing spaces, else `=?base64?<UTF-8 in Base64>?=`. The tools'
   * marks come from one tools/list (every page) on `client`, kept until a tools/list_changed or a -32020.
   */
  async #paramHeaders(
    client: Client,
    params: Record<string, unknown> | undefined,
  ): Promise<Record<string, string> | undefined> {
    const name = params?.['name'];
    if (typeof name !== 'string') return undefined;
    let known = this.#toolHeaders;
    if (known?.client !== client) {
      const tools = listParamHeaders(client).catch((error: unknown) => {
        this.#log.debug(`could not read the tools' x-mcp-header arguments: ${errorMessage(error)}`);
        if (this.#toolHeaders === known) this.#toolHeaders = undefined;
        return new Map<string, { argument: string; header: string }[]>();
      });
      known = { client, tools };
      this.#toolHeaders = known;
    }
    const args = (params?.['arguments'] ?? {}) as Record<string, unknown>;
    const headers: Record<string, string> = {};
    for (const { argument, header } of (await known.tools).get(name) ?? []) {
      const value = args[argument];
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') continue;
      const text = String(value);
      headers[`Mcp-Param-${header}`] = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(text)
        ? text
        : `=?base64?${Buffer.from(text, 'utf8').toString('base64')}?=`;
    }
    return Object.keys(headers).length > 0 ? headers : undefined;
  }

  /**
   * resources/subscribe or resources/unsubscribe from a 2025 caller (or the relay's own, for a 2026-07-28 listen
   * stream) on a server of both eras: on the 2025 session as always, and the 2026-07-28 connection's listen
   * stream follows it (its resourceSubscriptions), so an update the server publishes only to that era's
   * listeners (a change made by a 2026-07-28 caller) reaches the subscriber too.
   */
  async #subscribeBoth(
    client: Client,
    modern: Client,
    request: { method: string; params?: Record<string, unknown> },
    options: { signal: AbortSignal; timeoutMs: number },
  ): Promise<Record<string, unknown>> {
    const result = await client.request(request, AnyResult, {
      signal: options.signal,
      timeout: options.timeoutMs,
    });
    const uri = request.params?.['uri'];
    if (typeof uri === 'string') {
      if (request.method === 'resources/subscribe') this.#subscribedUris.add(uri);
      else this.#subscribedUris.delete(uri);
      await this.#listenModern(modern);
    }
    return result;
  }

  /**
   * (Re)opens the listen stream of a both-eras server's 2026-07-28 connection: the list changes its server can
   * announce and the URIs subscribed on the 2025 session. One at a time (a subscribe and an unsubscribe at once
   * must not leave two streams). A server that refuses, or does not acknowledge within
   * DUAL_ERA_PROBE_TIMEOUT_MS, costs a warning.
   */
  #listenModern(modern: Client): Promise<void> {
    const next = this.#relistening.then(() => this.#openModernListen(modern));
    this.#relistening = next;
    return next;
  }

  async #openModernListen(modern: Client): Promise<void> {
    const previous = this.#modernListen;
    this.#modernListen = undefined;
    await previous?.close().catch(() => undefined); // ignore: it may have ended already
    const caps = modern.getServerCapabilities() ?? {};
    const filter = {
      ...(caps.tools?.listChanged ? { toolsListChanged: true } : {}),
      ...(caps.prompts?.listChanged ? { promptsListChanged: true } : {}),
      ...(caps.resources?.listChanged ? { resourcesListChanged: true } : {}),
      ...(this.#subscribedUris.size > 0 && caps.resources?.subscribe
        ? { resourceSubscriptions: [...this.#subscribedUris] }
        : {}),
    };
    if (Object.keys(filter).length === 0 || this.#modernClient !== modern) return;
    try {
      const subscription = await modern.listen(filter, {
        timeout: Math.min(DUAL_ERA_PROBE_TIMEOUT_MS, this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS),
      });
      if (this.#modernClient === modern) this.#modernListen = subscription;
      else await subscription.close().catch(() => undefined); // ignore: stopped meanwhile
    } catch (error) {
      this.#log.warn(`could not open a 2026-07-28 listen stream: ${errorMessage(error)}`);
    }
  }

  /**
   * The caller's answers to the requests embedded in an input_required result, keyed as they were asked;
   * undefined when it embeds none (a `requestState`-only round). The first answer that is a JSON-RPC error
   * fails the call with it, and the other questions of the round are withdrawn.
   */
  async #answerInputRequests(
    result: InputRequiredResult,
    method: string,
    options: { signal: AbortSignal; ask?: ServerRequestAsker },
  ): Promise<Record<string, unknown> | undefined> {
    const entries = Object.entries(result.inputRequests ?? {});
    if (entries.length === 0) return undefined;
    const ask = options.ask;
    if (!ask) {
      throw new ProtocolError(
        -32601,
        `"${this.name}" asked for input during ${method}, and this caller cannot be asked (it has no stream for questions)`,
      );
    }
    const round = new AbortController();
    const withdraw = () => round.abort(options.signal.reason);
    options.signal.addEventListener('abort', withdraw, { once: true });
    try {
      const answers = await Promise.all(
        entries.map(async ([key, entry]) => {
          const embedded = entry as { method: string; params?: JsonRpcMessage['params'] };
          try {
            const response = await ask(
              { jsonrpc: '2.0', id: 0, method: embedded.method, params: embedded.params },
              round.signal,
              key,
            );
            return [key, resultOf(response, embedded.method)] as const;
          } catch (error) {
            round.abort(error);
            throw error;
          }
        }),
      );
      return Object.fromEntries(answers);
    } finally {
      options.signal.removeEventListener('abort', withdraw);
    }
  }

  /** A 2025-era server's request to its client, put to the client of the one call in flight (see askVia). */
  async #ask(request: { method: string; params?: unknown }, signal: AbortSignal): Promise<never> {
    const [asker, ...others] = this.#askers;
    if (!asker) {
      throw new ProtocolError(
        -32601,
        `no remote client is in a call to "${this.name}" to answer ${request.method}`,
      );
    }
    if (others.length > 0) {
      throw new ProtocolError(
        -32603,
        `${this.#askers.length} calls to "${this.name}" are in progress: which client to ask ${request.method} is unknown`,
      );
    }
    const response = await asker(
      { jsonrpc: '2.0', id: 0, method: request.method, params: request.params as JsonRpcMessage['params'] },
      signal,
    );
    // The SDK validates the result against the method's schema before the server gets it.
    return resultOf(response, request.method) as never;
  }

  /**
   * The client once the server is running: at once if it is, after the (re)start if one is under way, or
   * undefined when it is stopped or failed, or `timeoutMs` passes, or `signal` aborts.
   */
  ready(timeoutMs: number, signal?: AbortSignal): Promise<Client | undefined> {
    const busy = (state: ServerState) => state === 'starting' || state === 'restarting';
    if (!busy(this.#status.state) || signal?.aborted) return Promise.resolve(this.client);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.off('status', check);
        signal?.removeEventListener('abort', done);
        resolve(this.client);
      };
      const check = (status: ServerStatus) => !busy(status.state) && done();
      const timer = setTimeout(done, timeoutMs);
      this.on('status', check);
      signal?.addEventListener('abort', done);
    });
  }

  /** Starts the server unless it is disabled or its entry is invalid (then its status says why). */
  start(): void {
    if (!this.#config.ok) {
      this.#set({ state: 'error', lastError: this.#config.error });
      return;
    }
    if (this.#config.spec.disabled) {
      this.#set({ state: 'stopped', disabled: true });
      return;
    }
    this.#attempt = 0;
    this.#launching = this.#launch();
  }

  /** Closes the client and the child (stdin closed → SIGTERM → SIGKILL) and cancels any pending restart. */
  async stop(): Promise<void> {
    this.#generation++;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#stableTimer);
    const wasActive = this.#status.state !== 'stopped' || this.#transport !== undefined;
    await this.#teardown();
    this.#abandonConnect?.();
    // A launch under way sees the new generation and gives up; wait for it, so that nothing it started
    // outlives stop().
    await this.#launching;
    const settling = this.#settling;
    this.#settling = undefined;
    if (settling) await Promise.race([settling, delay(SETTLE_WAIT_MS)]);
    if (wasActive) this.#log.info('stopped');
    this.#set({
      state: 'stopped',
      pid: undefined,
      startedAt: undefined,
      nextRetryAt: undefined,
      counts: undefined,
    });
  }

  /** Applies a changed entry: restarts only when what it runs changed (and only if `start` allows). */
  async update(config: ServerConfigResult, start = true): Promise<void> {
    const before = this.#config;
    this.#config = config;
    const spec = config.ok ? config.spec : undefined;
    if (before.ok && spec && !needsRestart(before.spec, spec)) {
      this.#set({ description: spec.description });
      return;
    }
    await this.stop();
    this.#status.restarts = 0;
    // What it runs changed: its era is learned again at its next start.
    this.#set({
      description: spec?.description,
      disabled: spec?.disabled ?? false,
      lastError: undefined,
      era: undefined,
    });
    if (start) this.start();
  }

  async #launch(): Promise<void> {
    const generation = ++this.#generation;
    const spec = (this.#config as { ok: true; spec: ServerSpec }).spec;
    this.#set({
      state: this.#attempt === 0 ? 'starting' : 'restarting',
      pid: undefined,
      startedAt: undefined,
      nextRetryAt: undefined,
    });
    try {
      const client = await this.#connect(spec, generation);
      if (generation !== this.#generation) return; // stopped while starting; stop() closed the transport
      this.#client = client;
      // Counted before saying "running", so every running status carries them.
      const counts = await this.#count(client);
      if (generation !== this.#generation || this.#client !== client) return; // crashed or stopped meanwhile
      this.#set({
        state: 'running',
        startedAt: Date.now(),
        lastError: undefined,
        serverInfo: client.getServerVersion(),
        counts,
        pid: this.#transport instanceof StdioClientTransport ? (this.#transport.pid ?? undefined) : undefined,
      });
      const info = client.getServerVersion();
      this.#log.info(`running${info ? ` (${info.name} ${info.version})` : ''}`);
      clearTimeout(this.#stableTimer);
      this.#stableTimer = setTimeout(() => (this.#attempt = 0), this.#backoff.stableMs).unref();
    } catch (error) {
      if (generation !== this.#generation) return;
      await this.#teardown();
      this.#retryAfter('error', this.#explain(error, spec));
    }
  }

  /** Schedules the next launch with capped exponential backoff. */
  #retryAfter(state: 'error' | 'restarting', reason: string): void {
    const delay = Math.min(this.#backoff.maxMs, this.#backoff.initialMs * 2 ** this.#attempt);
    this.#attempt++;
    this.#status.restarts++;
    this.#log.warn(`${reason} Restarting in ${(delay / 1000).toFixed(1)} s.`);
    clearTimeout(this.#stableTimer);
    this.#set({
      state,
      lastError: reason,
      pid: undefined,
      startedAt: undefined,
      nextRetryAt: Date.now() + delay,
      counts: undefined,
    });
    this.#retryTimer = setTimeout(() => {
      this.#launching = this.#launch();
    }, delay);
  }

  /**
   * Passes `client`'s notifications on while `generation` is current: progress to the call that asked for it
   * (routeProgress), every other one as a `notification` event (the bridge forwards them to remote clients);
   * list changes also refresh the counts in the status and forget the tools' SEP-2243 headers.
   */
  #passNotifications(client: Client, generation: number): void {
    const forward = (notification: Notification) => {
      if (generation === this.#generation) this.emit('notification', withoutSubscriptionId(notification));
      return Promise.resolve();
    };
    client.fallbackNotificationHandler = forward;
    const listChanged = (notification: Notification) => {
      if (notification.method === 'notifications/tools/list_changed') this.#toolHeaders = undefined;
      void this.#refreshCounts(generation);
      return forward(notification);
    };
    client.setNotificationHandler('notifications/progress', (notification) => {
      this.#progressRoutes.get(String(notification.params.progressToken))?.(notification.params);
    });
    client.setNotificationHandler('notifications/tools/list_changed', listChanged);
    client.setNotificationHandler('notifications/resources/list_changed', listChanged);
    client.setNotificationHandler('notifications/prompts/list_changed', listChanged);
  }

  /**
   * Connects in the era learned for this entry; a first start goes straight to `initialize` (the 2025 era, no
   * probe), and only a server that refuses it is probed for 2026-07-28. A server of both eras so gets a 2025
   * session, for 2025-era callers: in that era its in-call requests, logging/setLevel and resources/subscribe
   * pass as they are. server/discover cannot tell which servers also speak 2025 (a server of both eras lists
   * only its 2026 revisions there), so a Streamable HTTP server is asked afterwards whether it also speaks
   * 2026-07-28 (#connectModern), for 2026-07-28 callers; a stdio one is not (docs/protocol.md, "Protocol eras").
   * And most servers today are 2025-era: they start without the probe's extra process or its wait.
   */
  async #connect(spec: ServerSpec, generation: number): Promise<Client> {
    const learned =
      spec.transport.kind === 'http' && spec.transport.mode === 'sse' ? undefined : this.#learned(spec);
    try {
      return await this.#connectTransport(spec, generation, learned ?? { kind: 'legacy' });
    } catch (error) {
      if (learned || generation !== this.#generation || !mayBeModernOnly(error)) throw error;
      await this.#teardown();
      this.#log.info(`initialize failed (${errorMessage(error)}); probing for the 2026-07-28 era`);
      try {
        return await this.#connectTransport(spec, generation, undefined);
      } catch {
        // Not a 2026-07-28 server either: what initialize got is the meaningful error.
        throw error;
      }
    }
  }

  /** One start over the entry's transport, with `prior` (undefined: the SDK probes for the era). */
  async #connectTransport(
    spec: ServerSpec,
    generation: number,
    prior: PriorDiscovery | undefined,
  ): Promise<Client> {
    const t = spec.transport;
    if (t.kind === 'stdio') {
      const transport = await this.#stdioTransport(spec.name, t);
      return this.#initialize(transport, generation, 'stdio', spec, prior);
    }
    for (const value of Object.values(t.headers)) this.options.redactor.addSecret(value);
    // Credentials in the URL itself (user:pass@, ?api_key=…) are secrets too.
    const parsed = new URL(t.url);
    this.options.redactor.addSecret(decodeURIComponent(parsed.password));
    for (const value of parsed.searchParams.values()) this.options.redactor.addSecret(value);
    const requestInit = { headers: t.headers };
    this.#set({ target: t.url });
    const sse = () =>
      this.#initialize(new SSEClientTransport(new URL(t.url), { requestInit }), generation, 'sse', spec, {
        kind: 'legacy',
      });
    if (t.mode === 'sse') {
      return sse().catch((error: unknown) => {
        throw authFailure(spec.name, t, error instanceof SseError ? error.code : undefined) ?? error;
      });
    }
    let status: number | undefined;
    try {
      return await this.#initialize(
        new StreamableHTTPClientTransport(new URL(t.url), { requestInit, fetch: this.#resumable.fetch }),
        generation,
        'streamable-http',
        spec,
        prior,
      );
    } catch (error) {
      // The spec's backwards-compatibility rule: a 4xx to the initialize POST means an old SSE-only server
      // (the SDK takes a 4xx to its server/discover probe for a legacy server, and the initialize that follows
      // gets the same 4xx). Not 401/403: that is this server refusing our credentials, and SSE would only hide
      // it (issue 8.5).
      status = error instanceof SdkHttpError ? error.status : undefined;
      if (generation !== this.#generation || status === undefined || status < 400 || status >= 500)
        throw error;
      const refused = authFailure(spec.name, t, status);
      if (refused) throw refused;
      this.#log.info(`Streamable HTTP answered ${status}; trying the legacy SSE transport`);
      await this.#teardown();
    }
    try {
      return await sse();
    } catch (error) {
      if (generation !== this.#generation) throw error;
      // The first answer is the meaningful one: say it, then what the fallback got.
      throw new GatewayError(
        'server-failed',
        `failed to start at ${t.url}: it answered HTTP ${status} to a Streamable HTTP initialize, and the legacy SSE ` +
          `transport failed too (${errorMessage(error)}). Check mcpServers.${spec.name}.url (a Streamable HTTP endpoint usually ends in /mcp).`,
        { cause: error },
      );
    }
  }

  /** The era learned for this same entry while it is fresh (ERA_VERDICT_MAX_AGE_MS), else undefined. */
  #learned(spec: ServerSpec): PriorDiscovery | undefined {
    const verdict = verdicts.get(verdictKey(spec));
    if (!verdict) return undefined;
    return Date.now() - verdict.learnedAt < ERA_VERDICT_MAX_AGE_MS ? verdict.prior : undefined;
  }

  async #initialize(
    transport: Transport,
    generation: number,
    kind: NonNullable<ServerStatus['transport']>,
    spec: ServerSpec,
    prior: PriorDiscovery | undefined,
  ): Promise<Client> {
    // stop() may have come while we resolved the command: then nothing may be spawned (it would have no
    // owner left to close it).
    if (generation !== this.#generation) throw new Error('stopped before it started');
    const startTimeoutMs = this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    // The remote clients answer these (through the call in progress, see request() and askVia).
    const client = new Client(this.options.clientInfo, {
      capabilities: { sampling: {}, elicitation: {}, roots: {} },
      versionNegotiation: {
        mode: 'auto',
        probe: {
          timeoutMs: kind === 'stdio' ? Math.min(STDIO_PROBE_TIMEOUT_MS, startTimeoutMs) : startTimeoutMs,
          maxRetries: 0,
        },
      },
    });
    client.setRequestHandler('sampling/createMessage', (request, ctx) =>
      this.#ask(request, ctx.mcpReq.signal),
    );
    client.setRequestHandler('elicitation/create', (request, ctx) => this.#ask(request, ctx.mcpReq.signal));
    client.setRequestHandler('roots/list', (request, ctx) => this.#ask(request, ctx.mcpReq.signal));
    this.#transport = transport;
    this.#client = client;
    this.#set({ transport: kind });
    client.onclose = () => {
      // Before initialize finished, connect() itself fails and #launch handles it.
      if (generation !== this.#generation || this.#client !== client || !this.#connected) return;
      const tail = this.#lastOutput().at(-1);
      void this.#teardown().then(() => {
        if (generation === this.#generation) {
          this.#retryAfter('restarting', `exited unexpectedly${tail ? ` (last output: ${tail})` : ''}.`);
        }
      });
    };
    this.#passNotifications(client, generation);
    this.#connected = false;
    // stop() abandons a connect in progress: a transport closed mid-start does not always settle it (the SDK's
    // SSE transport waits for an `endpoint` event forever), and an await on a promise that never settles,
    // with nothing else left to wait for, ends the process silently with exit code 0 (issue 8.7's `tools`).
    try {
      await new Promise<void>((resolve, reject) => {
        this.#abandonConnect = () => reject(new Error('stopped before it started'));
        const connecting = client.connect(transport, { timeout: startTimeoutMs, prior });
        connecting.then(resolve, reject);
        // A stdio connect does settle once its transport is closed (even mid-probe, where the SDK would
        // otherwise go on to spawn the server): stop() waits for that, so nothing is spawned after it.
        if (kind === 'stdio') this.#settling = connecting.catch(() => undefined);
      }).finally(() => {
        this.#abandonConnect = undefined;
        this.#probe = undefined; // the SDK reaped it before connect() settled
      });
    } catch (error) {
      // A verdict that no longer holds (the server changed under the same entry) is learned again next time.
      if (prior && kind !== 'sse') verdicts.delete(verdictKey(spec));
      throw error;
    }
    this.#connected = true;
    const era = client.getProtocolEra() ?? 'legacy';
    const discover = client.getDiscoverResult();
    if (kind !== 'sse' && !this.#learned(spec)) {
      keepVerdict(verdictKey(spec), discover ? { kind: 'modern', discover } : { kind: 'legacy' });
      this.#log.info(
        era === 'modern'
          ? 'speaks only the 2026-07-28 era (server/discover); kept for its next starts'
          : 'speaks the 2025 era (initialize); kept for its next starts',
      );
    }
    this.#set({ era });
    if (era === 'modern') await this.#listen(client);
    else if (kind === 'streamable-http' && spec.transport.kind === 'http')
      await this.#connectModern(spec.transport, generation);
    return client;
  }

  /**
   * After a Streamable HTTP server accepted `initialize`: whether it also speaks 2026-07-28, asked once per start
   * with one `server/discover` POST (a second SDK client pinned to that revision on the same URL: the SDK probes
   * with server/discover at connect, and a 2025-only server's refusal fails it). If it does, that client stays
   * (#modernClient) for 2026-07-28 callers, stateless (the 2026 era has no session), while the 2025 session
   * serves 2025 callers and carries the server's notifications (the agent's own list-change and resource
   * subscriptions stay there). A refusal, or silence for DUAL_ERA_PROBE_TIMEOUT_MS, only means 2025 only.
   * stdio servers are not asked: a second process would be a second server, with its own state.
   */
  async #connectModern(
    t: Extract<ServerSpec['transport'], { kind: 'http' }>,
    generation: number,
  ): Promise<void> {
    const timeout = Math.min(
      DUAL_ERA_PROBE_TIMEOUT_MS,
      this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
    );
    const client = new Client(this.options.clientInfo, {
      capabilities: { sampling: {}, elicitation: {}, roots: {} },
      versionNegotiation: { mode: { pin: MODERN_REVISION }, probe: { timeoutMs: timeout, maxRetries: 0 } },
    });
    // What the server announces to this era's listeners (a change a 2026-07-28 caller made) is announced as the
    // 2025 session's notifications are. A server that tells both eras of one change is heard twice: a list
    // change said twice only makes a client list again.
    this.#passNotifications(client, generation);
    try {
      await client.connect(
        new StreamableHTTPClientTransport(new URL(t.url), { requestInit: { headers: t.headers } }),
        {
          timeout,
        },
      );
    } catch (error) {
      await client.close().catch(() => undefined); // ignore: it never connected
      this.#log.debug(`does not speak ${MODERN_REVISION} as well (${errorMessage(error)})`);
      return;
    }
    if (generation !== this.#generation || this.#client === undefined) {
      await client.close().catch(() => undefined); // ignore: stopped meanwhile
      return;
    }
    this.#modernClient = client;
    await this.#listenModern(client);
    this.#log.info(
      `also speaks ${MODERN_REVISION}: its 2026-07-28 callers are served in that era, the others in the 2025 one`,
    );
  }

  /**
   * On a 2026-07-28 connection list changes come only on a `subscriptions/listen` stream the client opens: open
   * one for every list the server says can change, so counts stay current and remote clients hear of changes
   * as they do from a 2025 server. A server that refuses costs a warning, not the start.
   */
  async #listen(client: Client): Promise<void> {
    const caps = client.getServerCapabilities() ?? {};
    const filter = {
      ...(caps.tools?.listChanged ? { toolsListChanged: true } : {}),
      ...(caps.prompts?.listChanged ? { promptsListChanged: true } : {}),
      ...(caps.resources?.listChanged ? { resourcesListChanged: true } : {}),
    };
    if (Object.keys(filter).length === 0) return;
    try {
      await client.listen(filter, {
        timeout: this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
      });
    } catch (error) {
      this.#log.warn(`could not open a subscriptions/listen stream for list changes: ${errorMessage(error)}`);
    }
  }

  async #stdioTransport(
    name: string,
    t: Extract<ServerSpec['transport'], { kind: 'stdio' }>,
  ): Promise<StdioClientTransport> {
    this.options.redactor.addSecretEnv(t.env);
    const cwd = t.cwd;
    if (
      cwd !== undefined &&
      !(await stat(cwd).then(
        (s) => s.isDirectory(),
        () => false,
      ))
    ) {
      throw new GatewayError(
        'server-failed',
        `its working directory "${cwd}" does not exist. Fix mcpServers.${name}.cwd.`,
      );
    }
    const path = mergePath(t.env['PATH'] ?? process.env['PATH'], await loginShellPath());
    const command = await resolveCommand(t.command, path, cwd);
    if (!command) {
      const where = /[\\/]/.test(t.command)
        ? `at ${resolve(cwd ?? process.cwd(), t.command)}`
        : 'on the PATH';
      throw new GatewayError(
        'server-failed',
        `command "${t.command}" was not found ${where}. Install it, or set mcpServers.${name}.command to its full path.`,
      );
    }
    const commandLine = [command, ...t.args].map(quote).join(' ');
    this.#log.info(`starting: ${commandLine}${cwd ? ` (in ${cwd})` : ''}`);
    this.#set({ target: commandLine });
    // The SDK passes only a safe subset of our environment (HOME, USER, PATH…): the agent's own token must
    // never leak into a server. We add the merged PATH and the entry's env.
    const transport = new StdioClientTransport({
      command,
      args: t.args,
      env: { ...t.env, PATH: path },
      cwd,
      stderr: 'pipe',
    });
    // The SDK spawns the era probe's sibling with `new transport.constructor(params)` and hides it. A process
    // we started must be one we can name (pids() is the last-resort kill list, and stop() ends its tree), and
    // its output is the server's output, so the sibling is built by a subclass that notes itself. The transport itself stays exactly the SDK's class,
    // which is what makes the SDK probe on a sibling rather than on the server's one process.
    const noteProbe = (probe: StdioClientTransport) => {
      this.#probe = probe;
      this.#captureStderr(probe, this.#probeTail);
    };
    class ProbeSibling extends StdioClientTransport {
      constructor(params: ConstructorParameters<typeof StdioClientTransport>[0]) {
        super({ ...params, stderr: 'pipe' });
        noteProbe(this);
      }
    }
    Object.defineProperty(transport, 'constructor', { value: ProbeSibling });
    // Issue 8, item 2: a reply over the limit fails its own call, not the server and every call on it.
    const reader = new LineReadBuffer(MAX_MESSAGE_BYTES, (size, id) =>
      this.#log.warn(
        `dropped a message of ${formatBytes(size)} (over the ${formatBytes(MAX_MESSAGE_BYTES)} limit)${id === undefined ? '' : `; request ${id} fails with that error`}`,
      ),
    );
    if (!limitStdioLines(transport, reader))
      this.#log.warn('this SDK version hides its stdio reader: an oversized message will restart the server');
    coalesceWrites(transport);
    this.#stderrTail = [];
    this.#probeTail = [];
    this.#captureStderr(transport, this.#stderrTail);
    return transport;
  }

  /**
   * Logs what a process of this server writes to stderr, and keeps its last lines for error messages. The
   * era probe's sibling is captured too (the SDK would discard it): while a server silent to the probe keeps
   * the start waiting, what it says about itself ("loading the model…") is what the user needs to see.
   */
  #captureStderr(transport: StdioClientTransport, tail: string[]): void {
    // The server's own output has its own scope (and file): a chatty server keeps it to itself.
    const output = this.#log.child('stderr');
    if (!transport.stderr) return;
    createInterface({ input: transport.stderr as Readable }).on('line', (line) => {
      output.info(line);
      tail.push(this.options.redactor.redact(line));
      if (tail.length > STDERR_TAIL_LINES) tail.shift();
    });
  }

  /** The last lines the server wrote to stderr (its probe sibling's while the server itself has said none). */
  #lastOutput(): string[] {
    return this.#stderrTail.length > 0 ? this.#stderrTail : this.#probeTail;
  }

  #explain(error: unknown, spec: ServerSpec): string {
    if (error instanceof GatewayError) return error.message;
    const target = spec.transport.kind === 'http' ? ` at ${spec.transport.url}` : '';
    if (error instanceof SdkError && error.code === SdkErrorCode.RequestTimeout) {
      // The SDK's "Request timed out" does not say which request, nor that the server is still silent. (Over
      // HTTP this may be the server/discover probe: silence there is an outage too.)
      const seconds = (this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS) / 1000;
      const tail = this.#lastOutput().slice(-3);
      return (
        `did not answer initialize${target} within ${seconds} s.` +
        (tail.length ? ` Its last output: ${tail.join(' | ')}` : ' It wrote nothing to stderr.')
      );
    }
    const unreachable = fetchFailure(error);
    if (unreachable !== undefined)
      return `failed to start${target}: could not connect (${unreachable}); check that the server is running and mcpServers.${spec.name}.url.`;
    const tail = this.#lastOutput().at(-1);
    const output = tail ? ` Last output: ${tail}` : '';
    return `failed to start${target}: ${errorMessage(error)}.${output}`;
  }

  async #refreshCounts(generation: number): Promise<void> {
    const client = this.#client;
    if (!client) return;
    const counts = await this.#count(client);
    if (generation === this.#generation && this.#client === client && counts) this.#set({ counts });
  }

  /** Tools, resources and prompts the server offers (all pages), or undefined if listing failed. */
  async #count(client: Client): Promise<ServerStatus['counts']> {
    const caps = client.getServerCapabilities() ?? {};
    const count = async <T>(
      enabled: unknown,
      page: (cursor?: string) => Promise<{ nextCursor?: string } & T>,
      items: (r: T) => unknown[],
    ) => {
      if (!enabled) return 0;
      let total = 0;
      let cursor: string | undefined;
      do {
        const result = await page(cursor);
        total += items(result).length;
        cursor = result.nextCursor;
      } while (cursor);
      return total;
    };
    try {
      const [tools, resources, prompts] = await Promise.all([
        count(
          caps.tools,
          (cursor) => client.listTools({ cursor }),
          (r) => r.tools,
        ),
        count(
          caps.resources,
          (cursor) => client.listResources({ cursor }),
          (r) => r.resources,
        ),
        count(
          caps.prompts,
          (cursor) => client.listPrompts({ cursor }),
          (r) => r.prompts,
        ),
      ]);
      return { tools, resources, prompts };
    } catch (error) {
      this.#log.warn(`could not list its tools, resources or prompts: ${errorMessage(error)}`);
      return undefined;
    }
  }

  async #teardown(): Promise<void> {
    const client = this.#client;
    const transport = this.#transport;
    const modern = this.#modernClient;
    this.#client = undefined;
    this.#transport = undefined;
    this.#modernClient = undefined;
    this.#modernListen = undefined;
    this.#subscribedUris.clear();
    this.#toolHeaders = undefined;
    this.#connected = false;
    // A server started through a wrapper (npx, a shell script) has children of its own; the SDK only
    // signals the direct child. Note the tree now, and end whatever of it outlives the close.
    const pid = transport instanceof StdioClientTransport ? transport.pid : null;
    const probePid = this.#probe?.pid;
    this.#probe = undefined;
    const tree = [...(pid ? await processTree(pid) : []), ...(probePid ? await processTree(probePid) : [])];
    if (transport instanceof StreamableHTTPClientTransport && transport.sessionId) {
      await transport.terminateSession().catch(() => undefined); // ignore: the server may already be gone
    }
    try {
      if (client) await client.close();
      // During the era probe the client does not hold the transport yet, so its close() does not reach it;
      // closing the transport itself is what stops the SDK from going on to spawn the server (a second close
      // of a closed transport does nothing).
      await transport?.close();
      // Stateless: closing it only ends its open requests (a 2026-07-28 cancellation).
      if (modern) await modern.close();
    } catch (error) {
      this.#log.warn(`error while closing: ${errorMessage(error)}`); // cleanup: nothing more to do
    }
    killAll(tree);
  }

  #set(patch: Partial<ServerStatus>): void {
    // Statuses reach the CLI and the renderer: an error quoting a server's output must not carry its secrets.
    if (patch.lastError) patch.lastError = this.options.redactor.redact(patch.lastError);
    if (patch.target) patch.target = this.options.redactor.redact(patch.target);
    this.#status = { ...this.#status, ...patch };
    this.emit('status', this.status);
  }
}

/**
 * The calls of one Streamable HTTP server whose SSE response stream the server closed before their answer
 * (SEP-1699: a server MAY close a stream mid-call; the client resumes it). The SDK resumes such a stream on its
 * own, with a GET carrying the last event id it saw on it, after the server's `retry` interval; it tells no
 * one. Each watched call notes the event ids of its stream (the SDK's per-request `onresumptiontoken`), and
 * the fetch given to the SDK's transport recognises the GET that resumes one of them: the moment the SDK has
 * concluded that the stream ended without the answer. Event ids are the server's, unique per server (spec
 * 2025-11-25: "globally unique across all streams within that session").
 */
export class ResumableCalls {
  /** The newest event id seen on each watched call's stream, to that call's listener. */
  readonly #byToken = new Map<string, () => void>();

  /** The fetch for the SDK's StreamableHTTPClientTransport: plain fetch, noting resumptions of watched calls. */
  readonly fetch = (url: string | URL, init?: RequestInit): Promise<Response> => {
    if (this.#byToken.size > 0 && init?.method === 'GET') {
      const lastEventId = new Headers(init.headers).get('last-event-id');
      if (lastEventId !== null) this.#byToken.get(lastEventId)?.();
    }
    return fetch(url, init);
  };

  /**
   * Watches one call: `token` goes to the SDK's onresumptiontoken; `end` when the call ended. Event ids noted
   * after `end` are ignored: the SDK keeps reading (and resuming) the stream of a call that timed out or was
   * cancelled (2025 era: no per-request abort of the stream), and such a call must neither stay in the map
   * nor be reported closed once it is over.
   */
  watch(onStreamClosed: () => void): { token: (id: string) => void; end: () => void } {
    let last: string | undefined;
    let ended = false;
    return {
      token: (id) => {
        if (ended) return;
        if (last !== undefined) this.#byToken.delete(last);
        last = id;
        this.#byToken.set(id, onStreamClosed);
      },
      end: () => {
        ended = true;
        if (last !== undefined) this.#byToken.delete(last);
      },
    };
  }

  /** How many calls' streams are watched (for tests: none once every call ended). */
  get size(): number {
    return this.#byToken.size;
  }
}

/**
 * Makes the messages sent to a stdio server in one event-loop turn (the calls the relay's frames of one read
 * brought) leave in one write to its stdin, waking the server once: a write per message showed as the largest
 * remaining cost of a call at 64 in flight in the bench's profile (issue 11). Order is unchanged; a lone message
 * waits only for the end of the turn. Relies on the SDK transport's `_process` (as limitStdioLines relies on
 * its reader); without it, messages are written one by one as before.
 */
function coalesceWrites(transport: StdioClientTransport): void {
  const send = transport.send.bind(transport);
  let corked = false;
  transport.send = (message) => {
    const stdin = (transport as unknown as { _process?: { stdin?: Writable | null } })._process?.stdin;
    if (stdin && !corked) {
      stdin.cork();
      corked = true;
      setImmediate(() => {
        corked = false;
        stdin.uncork();
      });
    }
    return send(message);
  };
}

/** An HTTP server refused our credentials (401/403): see authFailure. */
class CredentialsRefused extends GatewayError {}

/**
 * The error for an HTTP server that refused our credentials (401/403), naming the fix; undefined for any
 * other status.
 */
function authFailure(
  name: string,
  t: Extract<ServerSpec['transport'], { kind: 'http' }>,
  status: number | undefined,
): GatewayError | undefined {
  if (status !== 401 && status !== 403) return undefined;
  const sent = Object.keys(t.headers).some((key) => key.toLowerCase() === 'authorization');
  return new CredentialsRefused(
    'server-failed',
    `${t.url} refused the connection with HTTP ${status} ${status === 401 ? 'Unauthorized' : 'Forbidden'}: ` +
      (sent
        ? `the Authorization header in mcpServers.${name}.headers was not accepted. Check the token it sends (is it current, and is a \${VAR} in it set?).`
        : `it wants credentials. Add them under mcpServers.${name}.headers, e.g. "Authorization": "Bearer \${MY_TOKEN}".`),
  );
}

/** `pid` and its descendants (empty when it is gone, or where the OS cannot list them). */
export async function processTree(pid: number): Promise<number[]> {
  try {
    return [pid, ...(await pidtree(pid))];
  } catch {
    return []; // ignore: the process is already gone
  }
}

/** SIGKILLs every pid still alive. */
export function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // ignore: already gone
    }
  }
}

/** The absolute path `command` runs, looked up on `path` unless it names a file itself. */
export async function resolveCommand(
  command: string,
  path: string,
  cwd: string | undefined,
): Promise<string | undefined> {
  if (/[\\/]/.test(command)) {
    const full = isAbsolute(command) ? command : resolve(cwd ?? process.cwd(), command);
    return access(full, constants.X_OK).then(
      () => full,
      () => undefined,
    );
  }
  return (await which(command, { path, nothrow: true })) ?? undefined;
}

/** One argument as the log and the window show a command line: bare when safe, else JSON-quoted. */
export function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : JSON.stringify(arg);
}

/**
 * Whether a failed `initialize` may come from a server of the 2026-07-28 era only (it answered, refusing the
 * 2025 handshake), so that a probe is worth it: not a timeout (silence is no era), not refused credentials.
 */
function mayBeModernOnly(error: unknown): boolean {
  if (error instanceof SdkError && error.code === SdkErrorCode.RequestTimeout) return false;
  return !(error instanceof CredentialsRefused);
}

/**
 * The era verdicts learned by probes, by what the entry runs (verdictKey), with when: a later start of the same
 * command or URL skips the probe (docs/advanced/gateway.md, "Caching discovery verdicts"). Process-wide, in
 * memory: every ManagedServer of that entry shares it (restarts of one server, the bridge's per-session
 * servers), and a changed command, URL or environment is probed again. At most MAX_VERDICTS, oldest dropped.
 */
const verdicts = new Map<string, { prior: PriorDiscovery; learnedAt: number }>();
const MAX_VERDICTS = 256;

function keepVerdict(key: string, prior: PriorDiscovery): void {
  verdicts.delete(key);
  verdicts.set(key, { prior, learnedAt: Date.now() });
  if (verdicts.size > MAX_VERDICTS) verdicts.delete(verdicts.keys().next().value!);
}

/** What an entry runs, as the key of its era verdict: another command, URL or environment is probed again. */
function verdictKey(spec: ServerSpec): string {
  return JSON.stringify(spec.transport);
}

/**
 * A notification as a 2025-era listener gets it: the subscription id a 2026-07-28 server tags a listen stream's
 * notifications with is this connection's, and means nothing to a remote client.
 */
function withoutSubscriptionId(notification: Notification): Notification {
  const meta = notification.params?._meta;
  if (!meta || !('io.modelcontextprotocol/subscriptionId' in meta)) return notification;
  const { 'io.modelcontextprotocol/subscriptionId': _dropped, ...rest } = meta;
  const { _meta: _tagged, ...params } = notification.params ?? {};
  return { ...notification, params: Object.keys(rest).length === 0 ? params : { ...params, _meta: rest } };
}

/** SEP-2243's error code: the request's headers and body disagree (a stale x-mcp-header list, here). */
const HEADER_MISMATCH = -32020;

/**
 * A 2026-07-28 server's JSON-RPC error, as the SDK's ProtocolError: that era answers errors with an HTTP status
 * (404 for an unknown method, 400 for a header mismatch), which the SDK's HTTP transport reports as an
 * SdkHttpError carrying the body. Any other error as it is.
 */
function inBandError(error: unknown): unknown {
  if (!(error instanceof SdkHttpError) || typeof error.data['text'] !== 'string') return error;
  try {
    const body = JSON.parse(error.data['text']) as {
      error?: { code?: unknown; message?: unknown; data?: unknown };
    };
    const rpc = body.error;
    if (!rpc || typeof rpc.code !== 'number' || typeof rpc.message !== 'string') return error;
    return new ProtocolError(rpc.code, rpc.message, rpc.data);
  } catch {
    return error; // not a JSON-RPC body: the HTTP failure is the error
  }
}

/** The x-mcp-header arguments (SEP-2243) of every tool `client`'s server lists, by tool name (all pages). */
async function listParamHeaders(
  client: Client,
): Promise<Map<string, { argument: string; header: string }[]>> {
  const found = new Map<string, { argument: string; header: string }[]>();
  let cursor: string | undefined;
  do {
    const page = await client.listTools(cursor === undefined ? undefined : { cursor });
    for (const tool of page.tools) {
      const properties = (tool.inputSchema as { properties?: Record<string, unknown> }).properties ?? {};
      const marked: { argument: string; header: string }[] = [];
      for (const [argument, schema] of Object.entries(properties)) {
        const header = (schema as { 'x-mcp-header'?: unknown } | null)?.['x-mcp-header'];
        if (typeof header === 'string' && header.length > 0) marked.push({ argument, header });
      }
      if (marked.length > 0) found.set(tool.name, marked);
    }
    cursor = page.nextCursor;
  } while (cursor);
  return found;
}

/** The passed-through calls of each connected 2025-era client (made at its first such call). */
const passThrough = new WeakMap<Client, LegacyCalls>();

/** `client`'s LegacyCalls, on the transport it is connected on; undefined once it is closed. */
function legacyCalls(client: Client): LegacyCalls | undefined {
  let calls = passThrough.get(client);
  if (calls) return calls;
  const transport = client.transport;
  if (!transport) return undefined;
  calls = new LegacyCalls(transport);
  passThrough.set(client, calls);
  return calls;
}

/** Results are passed through untouched: the remote client validates them, not us. */
const AnyResult = z.looseObject({});

/** The result of a caller's JSON-RPC response; its error, thrown as the ProtocolError the server gets. */
function resultOf(response: JsonRpcMessage, method: string): unknown {
  if (response.error === undefined) return response.result;
  const error = response.error as { code?: unknown; message?: unknown; data?: unknown };
  throw new ProtocolError(
    typeof error.code === 'number' ? error.code : -32603,
    typeof error.message === 'string' ? error.message : `the client did not answer ${method}`,
    error.data,
  );
}

/** Resolves after `ms` (a timer that does not keep the process alive). */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Resolves after `ms`, or rejects with the reason when `signal` aborts first. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const done = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', done);
      resolve();
    }, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
