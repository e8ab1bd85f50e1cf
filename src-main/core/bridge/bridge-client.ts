// The agent's side of /connect: an outbound WebSocket to the relay that answers invoke frames by calling
// the local servers. It registers, keeps the link alive with protocol pings, reconnects with jittered
// exponential backoff, and stops (rather than retrying in a storm) when the relay refuses its token,
// its scope, or hands its subject to another agent. With the embedded local endpoint the same frames go
// over an in-process link instead of a socket (issue 11): no pings, no serialisation, same rules.
import { EventEmitter } from 'node:events';

import WebSocket from 'ws';

import {
  AGENT_FEATURES,
  type AgentFrame,
  CLOSE,
  type ConsentRequestFrame,
  formatBytes,
  type InvokeFrame,
  isPlainJsonRpcMessage,
  type JsonRpcMessage,
  MAX_FRAME_BYTES,
  MAX_INPUT_KEY_CHARS,
  printable,
  type RegisterFrame,
  RelayFrame,
  type ServerResponseFrame,
  type ServerSummary,
} from '../../../src-shared/wire.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logging/log-hub.js';
import { CallAbort } from './call-abort.js';
import type { ConsentRequests } from './consent-requests.js';
import type { Dispatcher } from './dispatcher.js';
import type { AttachAgent, InProcessLink } from './local-endpoint.js';

export type BridgeState =
  | { state: 'stopped' }
  | { state: 'connecting'; attempt: number; nextRetryAt?: number; lastError?: string }
  | { state: 'connected'; since: number; endpoints: Record<string, string> }
  | { state: 'needs-login'; reason: string }
  | { state: 'error'; reason: string };

export interface BridgeClientOptions {
  /** wss://…/connect (ws:// only to a loopback host); with `attach`, only named in logs. */
  url: URL;
  /**
   * Reaches a relay in this process instead of connecting to `url` (the embedded local endpoint, issue 11):
   * the same frames, handed over as objects. Token refusals, re-registration and supersession work as on a
   * socket; there are no pings (nothing can silently drop) and no frame size limit (nothing is serialised).
   */
  attach?: AttachAgent;
  /** The agent JWT; asked for on every connect so a refreshed token is used. */
  token: () => string | Promise<string>;
  subject: string;
  /** Server names to announce, already limited to the token's scope. Read on every connect. */
  capabilities: () => string[];
  servers: () => ServerSummary[];
  dispatcher: Dispatcher;
  /** The local call's budget: the relay's REQUEST_TIMEOUT_SECONDS less one second. */
  requestTimeoutMs: number;
  reconnect: { initialMs: number; maxMs: number; stableMs?: number };
  ping?: { intervalMs: number };
  /** Where the relay serves clients, for endpoint URLs when it does not say (the existing remote). */
  publicBaseUrl?: URL;
  agentInfo: { name: string; version: string };
  /** Largest frame sent or received (default MAX_FRAME_BYTES, the relay's own limit). */
  maxFrameBytes?: number;
  /** How long an older relay's silence after register is waited for before it counts as accepted. */
  registerAckGraceMs?: number;
  log: Logger;
  /**
   * Called when the relay refuses the token: resolves true when a new token was obtained (a refresh), and
   * the agent reconnects at once; false leaves it in needs-login.
   */
  renewToken?: () => Promise<boolean>;
  /** Seam for tests and proxies. */
  connect?: (url: URL, options: WebSocket.ClientOptions) => WebSocket;
  /**
   * Where the relay's consent requests go (issue 12): with it the agent announces the `consent` feature (a
   * front can ask its user); without it, it does not, and a relay never asks.
   */
  consent?: ConsentRequests;
}

/** How long to wait for `registered` before taking an older relay's silence as acceptance. */
const REGISTER_ACK_GRACE_MS = 2000;

/** Refuses plain ws:// unless the host is loopback (COMPAT.md): a token must never cross a network in clear. */
export function checkRelayUrl(url: URL): string | undefined {
  if (url.protocol === 'wss:') return undefined;
  if (url.protocol !== 'ws:') return `the relay URL must start with wss:// (got ${url.protocol}//)`;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host === '::1' || /^127\./.test(host)) return undefined;
  return `refusing ws://${url.host}: an unencrypted connection would expose the token. Use wss:// (or a loopback host).`;
}

/**
 * The current link to the relay: a /connect WebSocket (`ws`; frames serialised, size-checked, pinged), or the
 * in-process link of the local endpoint (frames handed over as objects).
 */
interface Link {
  readonly ws?: WebSocket;
  /** A socket's: sends one frame's JSON text (the caller checked its size). */
  sendText?: (text: string) => void;
  readonly open: boolean;
  /** Sends one frame object as it is (in-process) or as JSON text (socket, no size check: see #send). */
  deliver(frame: AgentFrame): void;
  close(code: number, reason: string): void;
}

function socketLink(ws: WebSocket): Link {
  // Corked until the end of the event-loop turn: the results of one batch of local answers then leave in
  // one write and wake the relay once, rather than once each (issue 11; the bench counted 1.9 frames per
  // write at the agent). The order of frames is unchanged.
  let corked = false;
  const sendText = (text: string) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    // `_socket` is ws's own (undocumented, stable since ws 1): the TCP socket it writes frames to.
    const socket = (ws as unknown as { _socket?: { cork(): void; uncork(): void; destroyed: boolean } })
      ._socket;
    if (!corked && socket && !socket.destroyed) {
      corked = true;
      socket.cork();
      setImmediate(() => {
        corked = false;
        socket.uncork();
      });
    }
    ws.send(text);
  };
  return {
    ws,
    get open() {
      return ws.readyState === WebSocket.OPEN;
    },
    deliver: (frame) => sendText(JSON.stringify(frame)),
    sendText,
    close: (code, reason) => ws.close(code, reason),
  };
}

interface InFlight {
  controller: CallAbort;
  server: string;
  rpcId: JsonRpcMessage['id'];
}

export class BridgeClient extends EventEmitter<{ state: [BridgeState] }> {
  #state: BridgeState = { state: 'stopped' };
  #link: Link | undefined;
  /** Resolves when the current in-process link reports its end (close() awaits it). */
  #linkEnded: Promise<void> | undefined;
  #attempt = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  #stableTimer: NodeJS.Timeout | undefined;
  #running = false;
  /** A token renewal is under way or was just tried for the current refusal. */
  #renewing = false;
  /** A connect is under way (awaiting the token, or the socket is still opening). */
  #opening = false;
  readonly #inFlight = new Map<string, InFlight>();
  /** The relay acknowledged this connection's registration with a `registered` frame (our relay). */
  #acknowledged = false;
  /** The largest frame the relay takes, when it said so in `registered`. */
  #relayMaxFrame: number | undefined;
  #ackTimer: NodeJS.Timeout | undefined;
  /** What the current connection announced, and the endpoint URLs derived locally until the relay says. */
  #capabilities: string[] = [];
  #pendingEndpoints: Record<string, string> = {};
  /** The current relay's features (its `registered` frame); an old relay announces none. */
  #relayFeatures = new Set<string>();
  /** Server requests sent to the relay (`server_request`), waiting for the client's answer. */
  readonly #asked = new Map<string, (response: ServerResponseFrame['payload']) => void>();
  #askSeq = 0;
  readonly #log: Logger;

  constructor(private readonly options: BridgeClientOptions) {
    super();
    this.#log = options.log;
  }

  get state(): BridgeState {
    return this.#state;
  }

  /** Calls in progress (for tests and status). */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  start(): void {
    const problem = this.options.attach ? undefined : checkRelayUrl(this.options.url);
    if (problem) return this.#set({ state: 'error', reason: problem });
    this.#running = true;
    this.#attempt = 0;
    void this.#connect();
  }

  /** Re-registers (reconnects at once), e.g. after the set of servers to announce changed. */
  reconnectNow(reason: string): void {
    if (!this.#running) return;
    // A connection still being opened reads the servers when it opens, so its register is already current.
    // Closing it would abort the handshake (a 1006 "connection lost", a backoff delay, a stray upgrade on
    // the relay) and, while the token is awaited, start a second connection whose ping timer would leak.
    if (this.#opening) return;
    this.#log.info(`reconnecting: ${reason}`);
    if (this.#link) this.#link.close(1000, reason.slice(0, 100));
    else {
      clearTimeout(this.#retryTimer);
      void this.#connect();
    }
  }

  async close(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#retryTimer);
    const link = this.#link;
    const ws = link?.ws;
    if (link && !ws) {
      link.close(1000, 'agent stopping');
      await this.#linkEnded;
      if (this.#link === link) this.#link = undefined;
    } else if (ws && ws.readyState !== WebSocket.CLOSED) {
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      ws.close(1000, 'agent stopping');
      // A relay that never answers the close handshake must not hold up shutdown.
      const timer = setTimeout(() => ws.terminate(), 2000);
      await closed;
      clearTimeout(timer);
    }
    this.#cleanupConnection('the agent is stopping');
    this.#set({ state: 'stopped' });
  }

  async #connect(): Promise<void> {
    if (!this.#running) return;
    const { url } = this.options;
    this.#set({ state: 'connecting', attempt: this.#attempt });
    this.#opening = true;
    let token: string;
    try {
      token = await this.options.token();
    } catch (error) {
      this.#opening = false;
      this.#set({ state: 'needs-login', reason: errorMessage(error) });
      return;
    }
    if (!this.#running) return void (this.#opening = false);
    if (this.options.attach) return this.#attach(this.options.attach, token);
    const wsOptions: WebSocket.ClientOptions = {
      headers: { Authorization: `Bearer ${token}` },
      maxPayload: this.options.maxFrameBytes ?? MAX_FRAME_BYTES,
      handshakeTimeout: 15_000,
      perMessageDeflate: false,
    };
    const ws = this.options.connect?.(url, wsOptions) ?? new WebSocket(url, wsOptions);
    const link = socketLink(ws);
    this.#link = link;
    let authRefused: string | undefined;
    let upgradeRefused: string | undefined;

    ws.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      // The relay's reason is in the body ({"error": …}): it is what the user needs, not the 1006 that
      // follows (issue 8: the first meaningful failure is the one reported).
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < 2048) body += chunk;
      });
      const done = () => {
        let detail = '';
        try {
          const error = (JSON.parse(body) as { error?: unknown }).error;
          if (typeof error === 'string') detail = `: ${error.slice(0, 300)}`;
        } catch {
          // ignore: not JSON; the status says enough
        }
        if (status === 401 || status === 403)
          authRefused = `the relay refused the token (HTTP ${status}${detail})`;
        else upgradeRefused = `the relay answered the connection with HTTP ${status}${detail}`;
        this.#log.warn(`relay answered the upgrade with HTTP ${status}${detail}`);
        ws.terminate();
      };
      res.once('end', done);
      res.once('error', done);
    });
    ws.on('open', () => this.#opened(link));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return this.#log.warn('ignoring a binary frame from the relay');
      this.#onText(link, (data as Buffer).toString('utf8'));
    });
    ws.on('pong', () => ((ws as WebSocket & { awaitingPong?: boolean }).awaitingPong = false));
    ws.on('error', (error) => this.#log.warn(`connection error: ${error.message}`));
    ws.on('close', (code, reasonBuffer) =>
      this.#closed(link, code, reasonBuffer.toString(), authRefused, upgradeRefused),
    );
  }

  /**
   * Attaches to the relay in this process. A refused token is handled as a refused upgrade (renewal, then
   * needs-login); the relay's frames and the link's end come through the same paths as a socket's.
   */
  async #attach(attach: AttachAgent, token: string): Promise<void> {
    let open = true;
    /** The relay's end, once the attach is accepted. */
    const relay: { end?: InProcessLink } = {};
    let ended!: () => void;
    this.#linkEnded = new Promise((resolve) => (ended = resolve));
    const link: Link = {
      get open() {
        return open && relay.end !== undefined;
      },
      deliver: (frame) => relay.end?.send(frame),
      // Before the relay answered the attach there is nothing to close: the link just ends (see below).
      close: (code, reason) => {
        if (relay.end) return relay.end.close(code, reason);
        open = false;
        ended();
      },
    };
    this.#link = link;
    let attached: Awaited<ReturnType<AttachAgent>>;
    try {
      attached = await attach(token, {
        receive: (frame) => {
          if (open) this.#onFrame(link, frame);
        },
        closed: (code, reason) => {
          if (!open) return;
          open = false;
          ended();
          this.#closed(link, code, reason, undefined, undefined);
        },
      });
    } catch (error) {
      attached = { ok: false, status: 500, error: errorMessage(error) };
    }
    if (!attached.ok) {
      open = false;
      ended();
      const why = `the local endpoint refused the agent (${attached.status}: ${attached.error})`;
      this.#log.warn(why);
      const auth = attached.status === 401 || attached.status === 403;
      return this.#closed(link, 1006, '', auth ? why : undefined, auth ? undefined : why);
    }
    relay.end = attached.link;
    if (!this.#running || this.#link !== link || !open) return relay.end.close(1000, 'agent stopping');
    this.#opened(link);
  }

  #opened(link: Link): void {
    this.#relayFeatures = new Set();
    this.#renewing = false;
    this.#opening = false;
    this.#acknowledged = false;
    this.#relayMaxFrame = undefined;
    const capabilities = this.options.capabilities();
    const register: RegisterFrame = {
      type: 'register',
      subject: this.options.subject,
      capabilities,
      agent: this.options.agentInfo,
      features: AGENT_FEATURES.filter((feature) => feature !== 'consent' || this.options.consent),
      servers: this.options.servers().filter((s) => capabilities.includes(s.name)),
    };
    link.deliver(register);
    const base = this.options.publicBaseUrl;
    this.#pendingEndpoints = Object.fromEntries(
      capabilities.map((name) => [
        name,
        base ? new URL(`${encodeURIComponent(this.options.subject)}/${name}/mcp`, withSlash(base)).href : '',
      ]),
    );
    // "Connected" only once the relay accepted the registration (issue 8, item 9): ours answers `registered`;
    // the existing remote sends no acknowledgement but closes at once (4403) when it refuses, so a link
    // still open after the grace period counts as accepted.
    this.#capabilities = capabilities;
    clearTimeout(this.#ackTimer);
    this.#ackTimer = setTimeout(() => {
      if (link !== this.#link || !link.open) return;
      this.#log.debug('the relay sent no registration acknowledgement (an older relay); assuming accepted');
      this.#accepted({});
    }, this.options.registerAckGraceMs ?? REGISTER_ACK_GRACE_MS);
    clearTimeout(this.#stableTimer);
    this.#stableTimer = setTimeout(
      () => (this.#attempt = 0),
      this.options.reconnect.stableMs ?? 10_000,
    ).unref();
    const ws = link.ws;
    // In-process, nothing can drop silently: no pings.
    if (!ws) return;
    // Protocol pings; a ping still unanswered at the next tick means the link is dead (sleep/wake, Wi-Fi
    // change): terminate and reconnect. Detection takes at most two intervals.
    const intervalMs = this.options.ping?.intervalMs ?? 20_000;
    const tracked = ws as WebSocket & { awaitingPong?: boolean };
    this.#pingTimer = setInterval(() => {
      if (tracked.awaitingPong) {
        this.#log.warn(`no pong from the relay within ${intervalMs} ms; reconnecting`);
        ws.terminate();
        return;
      }
      tracked.awaitingPong = true;
      ws.ping();
    }, intervalMs);
  }

  /** The relay accepted the registration: say so, with the endpoints it reported (if any). */
  #accepted(endpoints: Record<string, string>): void {
    clearTimeout(this.#ackTimer);
    if (this.#state.state === 'connected') {
      return this.#set({ ...this.#state, endpoints: { ...this.#state.endpoints, ...endpoints } });
    }
    const where = this.options.attach
      ? 'attached in-process to the local endpoint'
      : `connected to ${this.options.url.origin}`;
    this.#log.info(
      `${where} as ${this.options.subject}; serving ${this.#capabilities.join(', ') || 'no servers'}`,
    );
    this.#set({
      state: 'connected',
      since: Date.now(),
      endpoints: { ...this.#pendingEndpoints, ...endpoints },
    });
  }

  #onText(link: Link, text: string): void {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      this.#log.warn(`ignoring a frame that is not JSON (${text.length} bytes)`);
      return;
    }
    const invoke = plainInvoke(json);
    if (invoke) return this.#onFrame(link, invoke);
    const type = (json as { type?: unknown } | null)?.type;
    const parsed = RelayFrame.safeParse(json);
    if (!parsed.success) {
      if (
        type === 'invoke' ||
        type === 'cancel' ||
        type === 'registered' ||
        type === 'server_response' ||
        type === 'consent_request' ||
        type === 'consent_closed'
      ) {
        this.#log.warn(`ignoring a malformed ${type} frame: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
        const requestId = (json as { request_id?: unknown }).request_id;
        if (type === 'invoke' && typeof requestId === 'string') {
          this.#send(link, {
            type: 'result',
            request_id: requestId,
            result: { ok: false, error: 'malformed invoke frame' },
          });
        }
      } else {
        this.#log.debug(`ignoring a frame of unknown type ${JSON.stringify(type)}`);
      }
      return;
    }
    this.#onFrame(link, parsed.data);
  }

  /** One relay frame, validated from a socket or handed over in-process. */
  #onFrame(link: Link, frame: RelayFrame): void {
    if (frame.type === 'invoke') void this.#invoke(link, frame);
    // The reason is the abort's reason as it is: the SDK passes String(reason) on to the server.
    else if (frame.type === 'cancel')
      this.#inFlight.get(frame.request_id)?.controller.abort(frame.reason ?? 'cancelled by the client');
    else if (frame.type === 'server_response') this.#asked.get(frame.server_request_id)?.(frame.payload);
    else if (frame.type === 'consent_request') this.#consentRequest(link, frame);
    else if (frame.type === 'consent_closed') this.options.consent?.close(frame.consent_id);
    else {
      this.#acknowledged = true;
      this.#relayMaxFrame = frame.max_frame_bytes;
      this.#relayFeatures = new Set(frame.features);
      this.#accepted(frame.endpoints ?? {});
    }
  }

  /** A relay asks the owner for consent (issue 12): only a relay that announced `consent`, only if we did. */
  #consentRequest(link: Link, frame: ConsentRequestFrame): void {
    const consent = this.options.consent;
    if (!consent || !this.#relayFeatures.has('consent')) {
      this.#log.debug('ignoring a consent request (consent is not announced on this link)');
      return;
    }
    if (frame.subject !== this.options.subject) {
      this.#log.warn(`ignoring a consent request for another subject ("${frame.subject}")`);
      return;
    }
    this.#log.info(
      `${printable(frame.client_name ?? frame.client_id)} asks for ${frame.servers.join(', ')}; waiting for the owner's answer`,
    );
    consent.add(frame, (allow) => {
      if (link !== this.#link || !link.open) return false;
      this.#send(link, { type: 'consent_answer', consent_id: frame.consent_id, allow });
      return true;
    });
  }

  async #invoke(link: Link, frame: InvokeFrame): Promise<void> {
    const server = (frame.mcp_server ?? frame.capability)!;
    const { payload, request_id, client_session, client_era } = frame;
    // Compat: the existing remote forwards a client's notifications/cancelled verbatim. It has no sessions,
    // so the id can only be matched among that server's calls. A relay that acknowledged the registration is
    // ours: it sends `cancel` frames scoped to the client's session, and a verbatim one never aborts a call
    // (another client may use the same id, issue 8 item 1).
    if (payload.method === 'notifications/cancelled' && !this.#acknowledged) {
      const params = payload.params as { requestId?: unknown; reason?: unknown } | undefined;
      const reason = typeof params?.reason === 'string' ? params.reason : 'cancelled by the client';
      for (const call of this.#inFlight.values()) {
        if (call.server === server && call.rpcId === params?.requestId) call.controller.abort(reason);
      }
    }
    const controller = new CallAbort();
    this.#inFlight.set(request_id, { controller, server, rpcId: payload.id });
    try {
      const result = await this.options.dispatcher.handle(server, payload, {
        get signal() {
          return controller.signal;
        },
        abort: controller,
        timeoutMs: this.options.requestTimeoutMs,
        ...(client_session ? { clientSession: client_session } : {}),
        ...(client_era === 'modern' ? { clientEra: 'modern' as const } : {}),
        notify: (notification) =>
          this.#send(link, { type: 'notification', mcp_server: server, request_id, payload: notification }),
        ask: (request, signal, inputKey) =>
          this.#ask(
            link,
            server,
            request_id,
            request,
            AbortSignal.any([signal, controller.signal]),
            inputKey,
          ),
        streamClosed: this.#relayFeatures.has('stream-close')
          ? () => this.#send(link, { type: 'stream_closed', request_id, mcp_server: server })
          : undefined,
      });
      this.#sendResult(link, request_id, server, payload, result);
    } finally {
      this.#inFlight.delete(request_id);
    }
  }

  /**
   * Sends a local server's request to the client of invoke `requestId` (`server_request`) and resolves with
   * the client's answer (`server_response`). Rejects when the relay does not relay server requests, or when
   * `signal` aborts (the server cancelled it, or the call ended or was cancelled). `inputKey`, a 2026-07-28
   * server's name for the request, goes with it (`input_key`) when it fits the frame's limit; the answer maps
   * back to the server's key at the agent either way.
   */
  #ask(
    link: Link,
    server: string,
    requestId: string,
    request: JsonRpcMessage,
    signal: AbortSignal,
    inputKey?: string,
  ): Promise<JsonRpcMessage> {
    if (!this.#relayFeatures.has('server-requests')) {
      return Promise.reject(
        new Error(`the relay does not pass ${request.method ?? 'requests'} on to clients (it predates that)`),
      );
    }
    const id = `${requestId}:${++this.#askSeq}`;
    return new Promise((resolve, reject) => {
      const abort = () => {
        this.#asked.delete(id);
        const { reason } = signal as { reason: unknown };
        reject(
          reason instanceof Error ? reason : new Error(typeof reason === 'string' ? reason : 'cancelled'),
        );
      };
      if (signal.aborted) return abort();
      signal.addEventListener('abort', abort, { once: true });
      this.#asked.set(id, (response) => {
        this.#asked.delete(id);
        signal.removeEventListener('abort', abort);
        resolve(response);
      });
      this.#send(link, {
        type: 'server_request',
        request_id: requestId,
        mcp_server: server,
        server_request_id: id,
        payload: { ...request, id },
        ...(inputKey && inputKey.length <= MAX_INPUT_KEY_CHARS ? { input_key: inputKey } : {}),
      });
    });
  }

  /** Forwards a notification of a local server that belongs to no request (list_changed, logging …). */
  notify(server: string, payload: JsonRpcMessage): void {
    if (this.#link && this.#state.state === 'connected')
      this.#send(this.#link, { type: 'notification', mcp_server: server, payload });
  }

  /** Tells the relay the servers' current summaries (extension; older relays ignore it). */
  sendServers(servers: ServerSummary[]): void {
    if (this.#link && this.#state.state === 'connected') this.#send(this.#link, { type: 'servers', servers });
  }

  /**
   * Sends a result frame, unless it would exceed the frame limit: the relay would close the connection
   * (1009), failing every call of every server. Only this call fails instead, with the size and the limit.
   */
  #sendResult(
    link: Link,
    requestId: string,
    server: string,
    payload: JsonRpcMessage,
    result: Record<string, unknown>,
  ): void {
    const sendText = link.sendText;
    // In-process nothing is serialised, so no frame limit applies (the HTTP answer has its own).
    if (!sendText) return void (link.open && link.deliver({ type: 'result', request_id: requestId, result }));
    const text = JSON.stringify({ type: 'result', request_id: requestId, result });
    const limit = this.#frameLimit();
    // A UTF-16 code unit is at most 3 bytes of UTF-8: most frames need no byte count.
    if (text.length * 3 <= limit) return sendText(text);
    const size = Buffer.byteLength(text);
    if (size <= limit) return sendText(text);
    const why = `the result of ${payload.method ?? 'the call'} from server "${server}" is ${formatBytes(size)}, over the ${formatBytes(limit)} limit of a message between agent and relay`;
    this.#log.warn(why);
    const answer =
      payload.id === undefined || payload.id === null
        ? { ok: false, error: why }
        : { jsonrpc: '2.0', id: payload.id, error: { code: -32000, message: why } };
    sendText(JSON.stringify({ type: 'result', request_id: requestId, result: answer }));
  }

  #send(link: Link, frame: AgentFrame): void {
    const sendText = link.sendText;
    if (!sendText) return void (link.open && link.deliver(frame));
    const text = JSON.stringify(frame);
    const limit = this.#frameLimit();
    if (text.length * 3 > limit && Buffer.byteLength(text) > limit) {
      // A notification this big (a log message, progress) is dropped rather than closing the link.
      const type = (frame as { type?: string }).type;
      return this.#log.warn(
        `dropped a ${type} frame of ${formatBytes(Buffer.byteLength(text))}, over the ${formatBytes(limit)} limit`,
      );
    }
    sendText(text);
  }

  /** The largest frame to send: ours, or the relay's when it told a smaller one. */
  #frameLimit(): number {
    const own = this.options.maxFrameBytes ?? MAX_FRAME_BYTES;
    return Math.min(own, this.#relayMaxFrame ?? own);
  }

  #closed(
    link: Link,
    code: number,
    reason: string,
    authRefused: string | undefined,
    upgradeRefused: string | undefined,
  ): void {
    if (link !== this.#link) return;
    this.#link = undefined;
    this.#opening = false;
    this.#cleanupConnection(`the connection to the relay closed (${code}${reason ? ` ${reason}` : ''})`);
    if (!this.#running) return;
    if (authRefused || code === CLOSE.unauthorized) {
      const why = authRefused ?? `the relay refused the token (${code}${reason ? ` ${reason}` : ''})`;
      // One renewal per refusal: a relay that refuses the renewed token too means signing in again.
      if (this.options.renewToken && !this.#renewing) {
        this.#renewing = true;
        this.#log.info(`${why}; renewing the token`);
        this.#set({ state: 'connecting', attempt: this.#attempt, lastError: why });
        void this.options.renewToken().then(
          (renewed) => {
            if (!this.#running) return;
            if (renewed) return void this.#connect();
            this.#renewing = false;
            this.#stopForLogin(why);
          },
          () => this.#stopForLogin(why),
        );
        return;
      }
      this.#renewing = false;
      return this.#stopForLogin(why);
    }
    this.#renewing = false;
    if (code === CLOSE.forbidden) {
      const fix =
        reason === 'subject mismatch'
          ? `the token is not for subject "${this.options.subject}": unset SUBJECT (it is taken from the token), or sign in again (mcpassistant-gateway logout, then login)`
          : reason === 'capability scope violation'
            ? `the token does not allow every announced server: set CAPABILITIES to the servers the token allows, or sign in again`
            : 'check SUBJECT and CAPABILITIES against the token';
      const why = `the relay refused the registration: ${reason || 'forbidden'}; ${fix}`;
      this.#log.error(why);
      this.#running = false;
      return this.#set({ state: 'error', reason: why });
    }
    if (code === CLOSE.superseded) {
      const why = `another agent connected with subject "${this.options.subject}" and took over`;
      this.#log.error(`${why}; this one stops. Run only one agent per subject.`);
      this.#running = false;
      return this.#set({ state: 'error', reason: why });
    }
    this.#scheduleReconnect(
      upgradeRefused ??
        (code === 1000 && reason
          ? `closed: ${reason}`
          : `connection lost (${code}${reason ? ` ${reason}` : ''})`),
    );
  }

  #stopForLogin(why: string): void {
    this.#log.error(`${why}. Sign in again (mcpassistant-gateway login) or set a new AGENT_JWT.`);
    this.#running = false;
    this.#set({ state: 'needs-login', reason: why });
  }

  #scheduleReconnect(lastError: string): void {
    const { initialMs, maxMs } = this.options.reconnect;
    // Jitter spreads reconnecting agents after a relay restart; every delay stays within [initial, max].
    const cap = Math.min(maxMs, initialMs * 2 ** (this.#attempt + 1));
    const delay = lastError.startsWith('closed: ') ? 0 : initialMs + Math.random() * (cap - initialMs);
    this.#attempt++;
    this.#log.info(`${lastError}; reconnecting in ${(delay / 1000).toFixed(2)} s`);
    this.#set({ state: 'connecting', attempt: this.#attempt, nextRetryAt: Date.now() + delay, lastError });
    this.#retryTimer = setTimeout(() => void this.#connect(), delay);
  }

  /** Stops the timers of a connection and aborts every call still running for it: nothing hangs. */
  #cleanupConnection(reason: string): void {
    clearInterval(this.#pingTimer);
    clearTimeout(this.#ackTimer);
    clearTimeout(this.#stableTimer);
    for (const call of this.#inFlight.values()) call.controller.abort(reason);
    this.#inFlight.clear();
    this.options.consent?.clear();
  }

  #set(state: BridgeState): void {
    this.#state = state;
    this.emit('state', state);
  }
}

/**
 * An invoke frame in the shape the schema accepts (InvokeFrame), checked by hand: invokes are most of what a
 * relay sends, and the schema's union and copies showed in the bench's profile (issue 11). Anything else, or
 * anything off, goes through the schema (and its error message).
 */
function plainInvoke(json: unknown): InvokeFrame | undefined {
  const frame = json as Record<string, unknown> | null;
  if (frame?.['type'] !== 'invoke' || !nonEmpty(frame['request_id'])) return undefined;
  const server = frame['mcp_server'];
  const capability = frame['capability'];
  const session = frame['client_session'];
  if (server !== undefined && !nonEmpty(server)) return undefined;
  if (capability !== undefined && !nonEmpty(capability)) return undefined;
  if (server === undefined && capability === undefined) return undefined;
  if (session !== undefined && !(nonEmpty(session) && session.length <= 64)) return undefined;
  return isPlainJsonRpcMessage(frame['payload']) ? (frame as InvokeFrame) : undefined;
}

function nonEmpty(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}

function withSlash(url: URL): URL {
  return url.href.endsWith('/') ? url : new URL(`${url.href}/`);
}
