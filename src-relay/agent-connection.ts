// One agent connected to the relay, over /connect or in-process (the embedded local endpoint): its
// registration, the calls in flight to it, and the routing of what it sends back (results, and notifications
// tied to a call or to a server).
import { createHash, randomUUID } from 'node:crypto';

import type WebSocket from 'ws';

import {
  AgentFrame,
  type ConsentAnswerFrame,
  type InvokeFrame,
  type JsonRpcMessage,
  type RegisterFrame,
  type RelayFrame,
  type ServerRequestFrame,
  type ServerSummary,
} from '../src-shared/wire.js';
import type { RelayLogger } from './relay-log.js';

/**
 * How the relay reaches one agent (docs/protocol.md): a /connect WebSocket, where each frame is serialised
 * as JSON text, or the in-process link of the embedded local endpoint, where the frame object itself is
 * handed over. Both carry the same frames with the same meaning.
 */
export interface AgentChannel {
  /** Sends a relay → agent frame (invoke, cancel, registered, server_response). */
  send(frame: RelayFrame): void;
  /** Ends the link with a WebSocket close code (CLOSE in src-shared/wire.ts) and a reason. */
  close(code: number, reason: string): void;
  /** The /connect socket; absent in-process. */
  readonly ws?: WebSocket;
}

/** The channel of a /connect WebSocket: frames go out as JSON text, those of one event-loop turn in one write. */
export function socketChannel(ws: WebSocket): AgentChannel {
  const coalesce = coalescer(ws);
  return {
    ws,
    send: (frame) => {
      coalesce();
      ws.send(JSON.stringify(frame));
    },
    close: (code, reason) => ws.close(code, reason),
  };
}

/**
 * Returns a function that corks `ws`'s socket until the end of the current event-loop turn, so that the frames
 * sent meanwhile (the invokes of the HTTP requests read in one poll) leave in one write and wake the agent
 * once (issue 11; the bench counted 1.6 frames per write at the relay). Frame order is unchanged; a lone
 * frame waits only for the turn's end.
 */
function coalescer(ws: WebSocket): () => void {
  let corked: { uncork(): void } | undefined;
  return () => {
    if (corked) return;
    // `_socket` is ws's own (undocumented, stable since ws 1): the TCP socket it writes frames to.
    const socket = (ws as unknown as { _socket?: { cork(): void; uncork(): void; destroyed: boolean } })
      ._socket;
    if (!socket || socket.destroyed) return;
    socket.cork();
    corked = socket;
    setImmediate(() => {
      corked = undefined;
      socket.uncork();
    });
  };
}

/**
 * The label an agent sees for a client session: 8 hex digits of its SHA-256. Enough to tell a user's clients
 * apart in the Activity view; the session id itself (which, with a token, resumes the session) never leaves.
 */
export function sessionLabel(sessionId: string): string {
  let label = labels.get(sessionId);
  if (label === undefined) {
    label = createHash('sha256').update(sessionId).digest('hex').slice(0, 8);
    // A hash per call showed in the bench's profile (issue 11): remember the labels of recent sessions.
    if (labels.size >= 1024) labels.clear();
    labels.set(sessionId, label);
  }
  return label;
}

const labels = new Map<string, string>();

/**
 * A result frame in the shape the schema accepts (ResultFrame), checked by hand: results are most of what an
 * agent sends, and the schema's copy of every frame showed in the bench's profile (issue 11). Anything else,
 * or anything off, goes through the schema.
 */
function plainResult(json: unknown): AgentFrame | undefined {
  const frame = json as { type?: unknown; request_id?: unknown; result?: unknown } | null;
  if (
    frame?.type === 'result' &&
    typeof frame.request_id === 'string' &&
    frame.request_id !== '' &&
    typeof frame.result === 'object' &&
    frame.result !== null &&
    !Array.isArray(frame.result)
  )
    return frame as AgentFrame;
  return undefined;
}

export class InvokeError extends Error {
  constructor(
    readonly kind: 'timeout' | 'disconnected' | 'busy',
    message: string,
  ) {
    super(message);
  }
}

interface Pending {
  resolve(result: Record<string, unknown>): void;
  reject(error: InvokeError): void;
  onNotification?: (payload: JsonRpcMessage) => void;
  onServerRequest?: InvokeOptions['onServerRequest'];
  onStreamClosed?: InvokeOptions['onStreamClosed'];
  timer: NodeJS.Timeout;
  server: string;
  /** The client session the call belongs to ('' for sessionless callers). */
  scope: string;
  rpcId: JsonRpcMessage['id'];
}

export interface InvokeOptions {
  timeoutMs: number;
  /** The client session the call belongs to, so that a cancel reaches only that session's calls. */
  scope?: string;
  /** Aborts the call (2026-07-28: the client closed the request's stream); its reason goes to the server. */
  signal?: AbortSignal;
  onNotification?: (payload: JsonRpcMessage) => void;
  /**
   * Asks the call's client a local server's request (sampling, elicitation, roots; its `id` is the caller's
   * to replace) and resolves with the client's JSON-RPC response. Absent when the client cannot be asked (it
   * reads a plain JSON answer): the server then gets an error.
   */
  onServerRequest?: (request: JsonRpcMessage, inputKey?: string) => Promise<JsonRpcMessage>;
  /**
   * `modern` when the call comes from a 2026-07-28 client: the agent speaks to a local server of both eras in
   * that era (invoke's `client_era`), so the server's own input-required results, input keys included
   * (`onServerRequest`'s `inputKey`), reach the client. Absent for a 2025-era client.
   */
  clientEra?: 'modern';
  /**
   * The local server closed the call's SSE stream before its answer (a `stream_closed` frame, SEP-1699): the
   * call goes on, and the caller may close its client's stream too if that client can resume it.
   */
  onStreamClosed?: () => void;
}

export class AgentConnection {
  readonly subject: string;
  readonly capabilities: ReadonlySet<string>;
  readonly features: ReadonlySet<string>;
  readonly agent?: { name: string; version: string };
  readonly connectedAt = Date.now();
  servers: ServerSummary[];
  readonly #pending = new Map<string, Pending>();
  #closed = false;

  constructor(
    readonly channel: AgentChannel,
    register: RegisterFrame,
    /** The token's revocation id, so revoking it disconnects this agent. */
    readonly tokenId: string,
    private readonly options: {
      log: RelayLogger;
      maxInFlight: number;
      onServerNotification(agent: AgentConnection, server: string, payload: JsonRpcMessage): void;
      /** The app's answer to a consent request (issue 12); without it such frames are ignored. */
      onConsentAnswer?(agent: AgentConnection, frame: ConsentAnswerFrame): void;
    },
  ) {
    this.subject = register.subject;
    this.capabilities = new Set(register.capabilities);
    this.features = new Set(register.features ?? []);
    this.agent = register.agent;
    this.servers = register.servers ?? [];
  }

  /** The /connect socket of this agent; undefined for an agent attached in-process. */
  get ws(): WebSocket | undefined {
    return this.channel.ws;
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  /** Sends an invoke and resolves with the agent's result object. */
  invoke(server: string, payload: JsonRpcMessage, options: InvokeOptions): Promise<Record<string, unknown>> {
    if (this.#closed) return Promise.reject(new InvokeError('disconnected', 'the agent disconnected'));
    if (this.#pending.size >= this.options.maxInFlight) {
      return Promise.reject(
        new InvokeError('busy', `the agent has ${this.#pending.size} calls in flight; try again shortly`),
      );
    }
    const requestId = randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(requestId);
        this.cancel(requestId, 'timed out');
        reject(
          new InvokeError(
            'timeout',
            `the agent did not answer within ${Math.round(options.timeoutMs / 1000)} s`,
          ),
        );
      }, options.timeoutMs);
      this.#pending.set(requestId, {
        resolve,
        reject,
        onNotification: options.onNotification,
        onServerRequest: options.onServerRequest,
        onStreamClosed: options.onStreamClosed,
        timer,
        server,
        scope: options.scope ?? '',
        rpcId: payload.id,
      });
      const frame: InvokeFrame = { type: 'invoke', request_id: requestId, mcp_server: server, payload };
      if (options.scope && this.features.has('activity')) frame.client_session = sessionLabel(options.scope);
      if (options.clientEra === 'modern') frame.client_era = 'modern';
      this.channel.send(frame);
      options.signal?.addEventListener(
        'abort',
        () => {
          const pending = this.#pending.get(requestId);
          if (!pending) return;
          this.#pending.delete(requestId);
          clearTimeout(pending.timer);
          const reason = String(options.signal?.reason ?? 'cancelled by the client');
          this.cancel(requestId, reason);
          reject(new InvokeError('disconnected', reason));
        },
        { once: true },
      );
    });
  }

  /**
   * Aborts the call a client's `notifications/cancelled` names: by its JSON-RPC id among the calls of the
   * same server and client session (`scope`). Returns false when none matches; that cancel is ignored.
   */
  cancelByRpcId(server: string, scope: string, rpcId: unknown, reason: string): boolean {
    for (const [requestId, pending] of this.#pending) {
      if (pending.server === server && pending.scope === scope && pending.rpcId === rpcId) {
        this.cancel(requestId, reason);
        return true;
      }
    }
    return false;
  }

  /** Sends a frame that belongs to no call (consent_request, consent_closed); dropped once closed. */
  send(frame: RelayFrame): void {
    if (!this.#closed) this.channel.send(frame);
  }

  /** Tells an agent that understands `cancel` to abort a call. */
  cancel(requestId: string, reason: string): void {
    if (this.features.has('cancel') && !this.#closed) {
      this.channel.send({ type: 'cancel', request_id: requestId, reason });
    }
  }

  /**
   * Handles one text frame of a /connect WebSocket; returns false when the frame breaks the protocol (the
   * caller closes 1008).
   */
  handleText(text: string): boolean {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return false;
    }
    const result = plainResult(json);
    if (result) return this.handleFrame(result);
    const type = (json as { type?: unknown } | null)?.type;
    const parsed = AgentFrame.safeParse(json);
    if (!parsed.success) {
      if (
        type === 'result' ||
        type === 'notification' ||
        type === 'servers' ||
        type === 'register' ||
        type === 'server_request' ||
        type === 'stream_closed'
      )
        return false;
      this.options.log.debug(
        `agent ${this.subject}: ignoring a frame of unknown type ${JSON.stringify(type)}`,
      );
      return true;
    }
    return this.handleFrame(parsed.data);
  }

  /**
   * Handles one frame already known to be well-formed: parsed and validated from a socket, or handed over
   * by an agent in this process (typed by the compiler; nothing crossed a process boundary). Returns true.
   */
  handleFrame(frame: AgentFrame): boolean {
    switch (frame.type) {
      case 'result': {
        const pending = this.#pending.get(frame.request_id);
        if (!pending) return true; // timed out or cancelled already
        this.#pending.delete(frame.request_id);
        clearTimeout(pending.timer);
        pending.resolve(frame.result);
        return true;
      }
      case 'notification':
        if (frame.request_id) this.#pending.get(frame.request_id)?.onNotification?.(frame.payload);
        else if (this.capabilities.has(frame.mcp_server))
          this.options.onServerNotification(this, frame.mcp_server, frame.payload);
        return true;
      case 'servers':
        this.servers = frame.servers;
        return true;
      case 'server_request':
        this.#serverRequest(frame);
        return true;
      case 'register':
        this.options.log.warn(`agent ${this.subject}: ignoring a second register frame`);
        return true;
      case 'consent_answer':
        this.options.onConsentAnswer?.(this, frame);
        return true;
      case 'stream_closed':
        this.#pending.get(frame.request_id)?.onStreamClosed?.();
        return true;
    }
  }

  /**
   * A local server asks the client of a call in flight; the client's answer goes back as `server_response`.
   * A call that is unknown (ended) or whose client cannot be asked gets a JSON-RPC error at once.
   */
  #serverRequest(frame: ServerRequestFrame): void {
    const { request_id, server_request_id } = frame;
    const answer = (payload: JsonRpcMessage) => {
      if (this.#closed) return;
      this.channel.send({ type: 'server_response', request_id, server_request_id, payload });
    };
    const fail = (message: string) =>
      answer({ jsonrpc: '2.0', id: server_request_id, error: { code: -32603, message } });
    const ask = this.#pending.get(request_id)?.onServerRequest;
    if (!ask) {
      return fail(
        this.#pending.has(request_id)
          ? `the client of this call reads a plain JSON answer and cannot be asked ${frame.payload.method ?? 'a request'}`
          : 'the call this request belongs to has ended',
      );
    }
    ask(frame.payload, frame.input_key).then(
      (response) => answer({ ...response, id: server_request_id }),
      (error: unknown) => fail(error instanceof Error ? error.message : String(error)),
    );
  }

  /** Fails every call in flight; the socket is closed by the caller or already gone. */
  closed(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new InvokeError('disconnected', reason));
    }
    this.#pending.clear();
  }

  close(code: number, reason: string): void {
    this.closed(reason);
    this.channel.close(code, reason);
  }
}

/**
 * The agent's end of an in-process link, as the agent hands it to the relay (structural: core's BridgeClient
 * implements it without importing the relay). Frames arrive as objects, each in its own microtask, in order.
 */
export interface InProcessAgent {
  /** A relay → agent frame: `registered` first, then invoke, cancel, server_response. */
  receive(frame: RelayFrame): void;
  /**
   * The link ended, whichever side ended it, with a WebSocket close code and reason (CLOSE: 1012 superseded,
   * 4401 token revoked, 4403 registration refused, 1001 relay shutting down, or the agent's own code).
   */
  closed(code: number, reason: string): void;
}

/** The relay's end of an in-process link, as the agent holds it. */
export interface InProcessLink {
  /** An agent → relay frame: `register` first, then result, notification, servers, server_request. */
  send(frame: AgentFrame): void;
  /** Ends the link (as closing its WebSocket would); the agent's `closed` follows with the same code. */
  close(code: number, reason: string): void;
}

/**
 * The answer to an in-process attach: the link, or the refusal a /connect upgrade would get (401 for a
 * missing, invalid or expired token; 403 for a token that is not an agent token), with the reason and fix.
 */
export type AttachResult = { ok: true; link: InProcessLink } | { ok: false; status: number; error: string };
