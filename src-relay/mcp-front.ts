// The MCP Streamable HTTP front (spec 2025-11-25; 2025-06-18 and 2025-03-26 clients too), shared by the
// relay (calls go to an agent over /connect) and mcpassistant-gateway-bridge (calls go to a local server):
// POST answered as JSON or SSE per Accept and version (a 2025-11-25 session's as resumable SSE, whose stream
// also closes mid-call when the local server closes its own), Mcp-Session-Id issued on initialize and checked
// when sent, a GET stream with priming, keep-alives and server notifications, Last-Event-ID replay, DELETE;
// plus the legacy HTTP+SSE pair (GET /sse, POST /message) and the existing remote's sessionless JSON POST.
//
// Hand-written rather than built on the SDK's StreamableHTTPServerTransport: a front only forwards JSON-RPC,
// and DESIGN.md's measurements put the SDK transport at ~0.24 ms CPU per call against ~0.02 ms for a plain
// node:http handler (npm run bench measures ours).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { isPlainJsonRpcMessage, JsonRpcMessage, SUPPORTED_PROTOCOL_VERSIONS } from '../src-shared/wire.js';
import { InvokeError, type InvokeOptions } from './agent-connection.js';
import { type Credential, CredentialRequests, type TrackedRequest } from './credential-requests.js';
import { expectsJsonRpc, header, HttpError, type Json, readJson, rpcError, sendJson } from './http-util.js';
import { type McpSession, type SessionShare, SessionStore } from './mcp-sessions.js';
import { hasModernEnvelope, isModernVersion, ModernFront } from './modern-front.js';
import { endWithEvent, hold, openSse, SSE_HOLD_MS, writeEvent, writeKeepAlive } from './sse-stream.js';

/** Where a front's calls for one server go. */
export interface McpTarget {
  /** Forwards one message; resolves with the compat result object, rejects with InvokeError. */
  invoke(message: JsonRpcMessage, options: InvokeOptions): Promise<Json>;
  /**
   * Aborts the call a client's notifications/cancelled names, among the calls of the same session (the
   * target is made for one request's session: another client's call with the same id is never touched).
   * `reason` is the client's own, passed on to the server. Returns true when the cancellation was dealt with
   * (the call aborted, or none of this session's matched and it is ignored); false when this target cannot
   * cancel, and the notification should go to it as it is.
   */
  cancel(rpcId: unknown, reason: string): boolean;
}

export interface TargetContext {
  /** The session the call belongs to (for initialize: the one being created). */
  session: McpSession | undefined;
  /** Whether the caller is an MCP client in (or starting) a session, rather than a compat JSON POST. */
  sessionful: boolean;
}

export interface McpFrontOptions {
  requestTimeoutMs: number;
  maxBodyBytes: number;
  sessionIdleMs: number;
  expireOpenSessions?: boolean;
  /** The 2026-07-28 era's requestState key (ModernFrontOptions.requestStateKey). */
  requestStateKey?: Uint8Array;
  /** The target of `server` for `subject`; throws HttpError when there is none. */
  target(subject: string, server: string, context: TargetContext): McpTarget | Promise<McpTarget>;
  /** Called when a session ends (DELETE, expiry, its legacy stream closing, shutdown). */
  onSessionEnd?(session: McpSession): void;
  /** Several relays on one Redis: 2025-era sessions live there, usable from every node (SessionShare). */
  sessionShare?: SessionShare;
}

export class McpFront {
  readonly sessions: SessionStore;
  /** Sessionless GET streams (compat clients), by `subject/server`. */
  readonly #openStreams = new Map<string, Set<ServerResponse>>();
  /**
   * Server requests sent to clients and not yet answered, by the id the client saw (unique to this front):
   * the client's session (a response from another session is not taken) and who waits for the answer.
   */
  readonly #asked = new Map<
    string,
    { session: string | undefined; answer(response: JsonRpcMessage): void }
  >();

  /** The 2026-07-28 era on the same URL (modern-front.ts). */
  readonly #modern: ModernFront;
  /** Open requests (SSE streams, calls in flight) by the credential that let them in, for revokeCredential. */
  readonly #byCredential = new CredentialRequests();

  constructor(private readonly options: McpFrontOptions) {
    this.#modern = new ModernFront({
      requestTimeoutMs: options.requestTimeoutMs,
      requestStateKey: options.requestStateKey,
      target: (subject, server) => options.target(subject, server, { session: undefined, sessionful: true }),
    });
    this.sessions = new SessionStore({
      idleMs: options.sessionIdleMs,
      expireOpenSessions: options.expireOpenSessions,
      onEnd: (session) => options.onSessionEnd?.(session),
      share: options.sessionShare,
      onAnswer: (session, payload) => void this.#answered(payload, session),
    });
  }

  /** Open SSE streams, of sessions and sessionless. */
  openStreams(): number {
    let count = 0;
    for (const session of this.sessions.all()) count += session.streams.size;
    for (const set of this.#openStreams.values()) count += set.size;
    return count + this.#modern.openStreams();
  }

  /**
   * Ends at once every request `credential` let in (see handle): its SSE streams close and its calls in flight
   * are cancelled towards the agent with `reason`. For a revoked token or grant (issue 12). Returns how many.
   */
  revokeCredential(credential: string, reason: string): number {
    return this.#byCredential.revoke(credential, reason);
  }

  /**
   * `/{…}/mcp` (kind `mcp`) and the compat `POST /{…}/sse` (kind `sse`). Authorization is the caller's;
   * `credential`, the token or grant that let the request in (credential-requests.ts), keeps the request (and
   * the stream it may become) open only as long as that credential is neither revoked nor expired (checked
   * every keep-alive interval).
   */
  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    subject: string,
    server: string,
    kind: 'mcp' | 'sse',
    credential?: Credential,
  ): Promise<void> {
    const tracked = credential === undefined ? undefined : this.#byCredential.track(credential, res);
    const version = header(req, 'mcp-protocol-version');
    if (version && isModernVersion(version) && req.method === 'POST' && kind === 'mcp')
      return this.#modern.handle(req, res, subject, server, await this.#readMessage(req));
    if (version && !SUPPORTED_PROTOCOL_VERSIONS.includes(version as never)) {
      throw new HttpError(
        400,
        `unsupported MCP-Protocol-Version ${version}; supported: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')}`,
      );
    }
    const sessionId = header(req, 'mcp-session-id');
    let session = sessionId ? this.sessions.get(sessionId) : undefined;
    // With several relays, a session made (or last used) on another node comes from the share.
    if (sessionId && !session) session = await this.#load(sessionId);
    // A session is bound to its subject, its server and the credential that opened it: another client of the
    // same subject that learned its id cannot read its stream or speak in it (spec 2025-11-25, Security Best
    // Practices, "Session Hijacking"). It is told the session is unknown, as for any id it has no right to.
    if (
      sessionId &&
      (!session ||
        session.subject !== subject ||
        session.server !== server ||
        (session.credential !== undefined && session.credential !== credential?.id))
    ) {
      // -32001: the code the SDK's servers give an unknown session.
      throw new HttpError(404, 'unknown or expired session; initialize a new one', {}, -32001);
    }
    if (session) this.sessions.touch(session);

    if (req.method === 'GET' && kind === 'mcp') return this.#getStream(req, res, subject, server, session);
    if (req.method === 'DELETE' && kind === 'mcp') {
      if (!session) throw new HttpError(400, 'DELETE needs an Mcp-Session-Id');
      await this.sessions.end(session.id);
      res.writeHead(204).end();
      return;
    }
    if (req.method !== 'POST') {
      throw new HttpError(405, 'use POST (GET for the event stream, DELETE to end a session)', {
        Allow: 'GET, POST, DELETE',
      });
    }
    return this.#post(req, res, subject, server, session, kind === 'sse', tracked, credential?.id);
  }

  /**
   * Legacy HTTP+SSE (spec 2024-11-05), GET: a new session whose stream first names the URL to POST
   * messages to, then carries every response and notification. The session ends with the stream.
   */
  async legacyStream(
    req: IncomingMessage,
    res: ServerResponse,
    subject: string,
    server: string,
    messagePath: string,
  ): Promise<void> {
    if (!(header(req, 'accept') ?? 'text/event-stream').includes('text/event-stream')) {
      throw new HttpError(405, 'GET needs Accept: text/event-stream', { Allow: 'GET' });
    }
    const session = this.sessions.create(subject, server, true);
    try {
      await this.options.target(subject, server, { session, sessionful: true });
    } catch (error) {
      this.sessions.delete(session.id);
      throw error;
    }
    openSse(res);
    res.write(`event: endpoint\ndata: ${messagePath}?sessionId=${encodeURIComponent(session.id)}\n\n`);
    session.attach('get', res);
    res.on('close', () => this.sessions.delete(session.id));
  }

  /**
   * Legacy HTTP+SSE, POST: 202 at once; the answer goes out on the session's stream. `server`, when given,
   * is the server this route serves: another server's session is unknown here.
   */
  async legacyMessage(
    req: IncomingMessage,
    res: ServerResponse,
    sessionId: string | null,
    server?: string,
  ): Promise<void> {
    const session = sessionId ? this.sessions.get(sessionId) : undefined;
    if (!session?.legacy || (server !== undefined && session.server !== server))
      throw new HttpError(404, 'unknown session: open the event stream (GET) first');
    session.lastSeen = Date.now();
    const message = await this.#readMessage(req);
    const target = await this.options.target(session.subject, session.server, { session, sessionful: true });
    res.writeHead(202).end();
    if (this.#answered(message, session)) return;
    if (!isRequest(message)) return this.#notification(target, message);
    const send = (payload: object) => session.send('get', payload);
    const result = await this.#invoke(target, message, send, session);
    session.send('get', result.response);
  }

  /**
   * A server-wide notification (list_changed, logging …) to every client of that server. `here`: it comes
   * from an agent on this node (then shared sessions get it through the share, on whichever node holds their
   * GET stream), not from another node's (which gave it to the share itself).
   */
  notify(subject: string, server: string, payload: JsonRpcMessage, here = true): void {
    if (here) this.sessions.share?.notify(subject, server, JSON.stringify(payload));
    this.#modern.notify(subject, server, payload);
    for (const session of this.sessions.of(subject, server)) session.send('get', payload);
    for (const res of this.#openStreams.get(`${subject}/${server}`) ?? []) {
      writeEvent(res, JSON.stringify(payload));
    }
  }

  /** Keep-alives and session expiry; the owner calls this every keep-alive interval. */
  tick(): void {
    this.#byCredential.expire(Date.now());
    this.sessions.tick();
    this.#modern.tick();
    for (const set of this.#openStreams.values()) for (const res of set) writeKeepAlive(res);
  }

  /**
   * Notifications from other relays may have been missed (the cluster's subscription dropped and is back): the
   * 2026-07-28 listen streams end, so that their clients listen again. (A 2025 session's GET stream is ended
   * by its session store, whose log lets the client's resumption replay what it missed.)
   */
  missedNotifications(): void {
    this.#modern.endListenStreams();
  }

  close(): void {
    this.sessions.closeAll();
    this.#modern.close();
    for (const streams of this.#openStreams.values()) for (const res of streams) res.end();
    this.#openStreams.clear();
  }

  /** A session from the share (several relays); 503 when it cannot be reached. */
  async #load(id: string): Promise<McpSession | undefined> {
    try {
      return await this.sessions.load(id);
    } catch {
      throw new HttpError(503, 'the relay cannot reach its session store (Redis) now; try again shortly');
    }
  }

  async #readMessage(req: IncomingMessage): Promise<JsonRpcMessage> {
    let body = await readJson(req, this.options.maxBodyBytes);
    // Compat: the existing remote also accepts {"payload": <JSON-RPC>}.
    if (
      body &&
      typeof body === 'object' &&
      !Array.isArray(body) &&
      'payload' in body &&
      !('jsonrpc' in body)
    ) {
      body = (body as Json)['payload'];
    }
    if (Array.isArray(body))
      throw new HttpError(
        400,
        'JSON-RPC batches are not supported; send one message per request',
        {},
        -32600,
      );
    if (isPlainJsonRpcMessage(body)) return body;
    const parsed = JsonRpcMessage.safeParse(body);
    if (!parsed.success) throw new HttpError(400, 'the body must be one JSON-RPC 2.0 message', {}, -32600);
    return parsed.data;
  }

  #notification(target: McpTarget, message: JsonRpcMessage): void {
    if (message.method === 'notifications/cancelled') {
      const params = message.params as { requestId?: unknown; reason?: unknown } | undefined;
      const reason = typeof params?.reason === 'string' ? params.reason : 'cancelled by the client';
      if (target.cancel(params?.requestId, reason)) return;
    }
    // Other notifications and responses go to the target as they are (it answers {}).
    void target.invoke(message, { timeoutMs: this.options.requestTimeoutMs }).catch(() => undefined);
  }

  /**
   * Calls the target; always resolves with the JSON-RPC response to send, and the HTTP status for JSON.
   * `send`, when the caller has a stream, carries the call's notifications and the local server's requests to
   * the client (each under an id of this front; the client's answer comes back through #answered). Requests
   * still unanswered when the call ends are forgotten: the server's side of them ended with the call.
   */
  async #invoke(
    target: McpTarget,
    message: JsonRpcMessage,
    send: ((payload: JsonRpcMessage) => void) | undefined,
    session: McpSession | undefined,
    tracked?: TrackedRequest,
    onStreamClosed?: () => void,
  ): Promise<{ response: Json; failure?: InvokeError }> {
    const asked: string[] = [];
    const onServerRequest =
      send &&
      ((request: JsonRpcMessage) =>
        new Promise<JsonRpcMessage>((answer) => {
          const id = `mcpgw-${randomUUID()}`;
          asked.push(id);
          this.#asked.set(id, { session: session?.id, answer });
          send({ ...request, id });
        }));
    try {
      // Its credential was revoked while the request was read (the response is already gone).
      if (tracked?.ended) throw new InvokeError('disconnected', tracked.ended);
      // Revoked during the call: cancelled at the server as the client's notifications/cancelled would be.
      if (tracked && message.id !== undefined && message.id !== null) {
        const requestId = message.id;
        tracked.onRevoke = (reason) =>
          this.#notification(target, {
            jsonrpc: '2.0',
            method: 'notifications/cancelled',
            params: { requestId, reason },
          });
      }
      const result = await target.invoke(message, {
        timeoutMs: this.options.requestTimeoutMs,
        onNotification: send,
        onServerRequest,
        onStreamClosed,
      });
      // Compat: an agent-level failure ({ok: false, error}) becomes a JSON-RPC error for the client.
      if ('jsonrpc' in result) return { response: result };
      return {
        response: rpcError(
          message.id,
          -32000,
          typeof result['error'] === 'string' ? result['error'] : 'the call failed',
        ),
      };
    } catch (error) {
      const failure = error instanceof InvokeError ? error : new InvokeError('disconnected', String(error));
      return {
        response: rpcError(message.id, failure.kind === 'timeout' ? -32001 : -32000, failure.message),
        failure,
      };
    } finally {
      for (const id of asked) this.#asked.delete(id);
    }
  }

  /** Whether `message` is a client's answer to a server request of this front (then it is delivered). */
  #answered(message: JsonRpcMessage, session: McpSession | string | undefined): boolean {
    if (message.method !== undefined || (typeof message.id !== 'string' && typeof message.id !== 'number'))
      return false;
    const asked = this.#asked.get(String(message.id));
    const sessionId = typeof session === 'string' ? session : session?.id;
    if (!asked || asked.session !== sessionId) return false;
    this.#asked.delete(String(message.id));
    asked.answer(message);
    return true;
  }

  async #post(
    req: IncomingMessage,
    res: ServerResponse,
    subject: string,
    server: string,
    session: McpSession | undefined,
    forceSse: boolean,
    tracked?: TrackedRequest,
    credential?: string,
  ): Promise<void> {
    const message = await this.#readMessage(req);
    // A 2026-07-28 envelope without its MCP-Protocol-Version header: the modern front answers (-32020).
    if (!session && !forceSse && hasModernEnvelope(message))
      return this.#modern.handle(req, res, subject, server, message);
    const initialize = message.method === 'initialize' && !session;
    const sessionful = session !== undefined || message.method === 'initialize';
    if (this.#answered(message, session)) return void res.writeHead(202).end();
    // Shared: an answer to a server request another node sent (its ids are ours: "mcpgw-…") goes to that node.
    if (session && this.sessions.share && isAnswerToUs(message)) {
      this.sessions.share.answer(session.id, message);
      return void res.writeHead(202).end();
    }
    if (!isRequest(message)) {
      const target = await this.options.target(subject, server, { session, sessionful });
      res.writeHead(202).end();
      return this.#notification(target, message);
    }
    const newSession = initialize ? this.sessions.create(subject, server, false, credential) : undefined;
    const owner = session ?? newSession;
    let target: McpTarget;
    try {
      target = await this.options.target(subject, server, { session: owner, sessionful });
      // Shared: recorded before its id is handed out, as the client's next request may reach another node.
      if (newSession)
        await this.sessions.share?.create(newSession.id, newSession.record).catch(() => {
          throw new HttpError(503, 'the relay cannot reach its session store (Redis) now; try again shortly');
        });
    } catch (error) {
      if (newSession) this.sessions.delete(newSession.id);
      throw error;
    }

    const accept = header(req, 'accept') ?? '';
    const wantsProgress =
      (message.params as { _meta?: { progressToken?: unknown } } | undefined)?._meta?.progressToken !==
      undefined;
    const acceptsSse = forceSse || accept.includes('text/event-stream');
    const headers: Record<string, string> = newSession ? { 'Mcp-Session-Id': newSession.id } : {};
    // The version this request speaks: its header, else the session's, else initialize's own request.
    const version =
      header(req, 'mcp-protocol-version') ??
      owner?.protocolVersion ??
      (initialize
        ? (message.params as { protocolVersion?: unknown } | undefined)?.protocolVersion
        : undefined);
    // A client in a session whose version gets priming events (2025-11-25 on) and that accepts SSE gets its
    // answer as a resumable SSE stream, as from the SDK's own server: the priming event (an id to resume from)
    // first, then the answer, and the stream survives a break or a local server closing its own stream mid-call
    // (SEP-1699). Other clients that accept both get JSON (cheaper), unless they asked for progress or
    // something other than the result comes first (a log message, a server request): then the answer becomes
    // an SSE stream. Not initialize: the version is not agreed before its answer, and a client of an older one
    // fails on priming.
    const resumable = acceptsSse && session !== undefined && primes(version);

    let sse = false;
    let stream: string | undefined;
    let release: (() => void) | undefined;
    const open = () => {
      sse = true;
      // In memory, the stream's start and a quick answer leave in one socket write (a shared session's events
      // wait for Redis anyway).
      if (!this.sessions.share) release = hold(res, SSE_HOLD_MS);
      openSse(res, headers);
      if (!owner) return;
      stream = owner.newPostStream();
      if (primes(version)) owner.prime(stream, res);
      else owner.attach(stream, res);
    };
    if (forceSse || (acceptsSse && (resumable || wantsProgress || !accept.includes('application/json'))))
      open();
    const deliver = (payload: object, final: boolean) => {
      if (!sse) open();
      if (owner && stream) owner.send(stream, payload, final);
      else if (sse && !res.writableEnded) {
        if (final) endWithEvent(res, JSON.stringify(payload));
        else writeEvent(res, JSON.stringify(payload));
      }
      release?.();
    };
    // The local server closed its stream of this call before the answer: so does the front, after what the
    // client got; the client resumes with Last-Event-ID and gets the rest, the answer included, when it comes.
    const onStreamClosed = resumable
      ? () => {
          release?.();
          if (owner && stream) owner.closeStream(stream);
        }
      : undefined;

    const { response, failure } = await this.#invoke(
      target,
      message,
      acceptsSse ? (payload) => deliver(payload, false) : undefined,
      owner,
      tracked,
      onStreamClosed,
    );
    if (newSession) {
      const version = (response as { result?: { protocolVersion?: unknown } }).result?.protocolVersion;
      newSession.protocolVersion = typeof version === 'string' ? version : undefined;
      if ('error' in response) await this.sessions.end(newSession.id).catch(() => undefined);
      else if (this.sessions.share)
        await this.sessions.share
          .setVersion(newSession.id, newSession.protocolVersion)
          .catch(() => undefined);
    }
    if (sse) return deliver(response, true);
    // A timeout or a lost agent keeps its HTTP status (compat); a JSON-RPC caller reads the call's own error.
    if (failure) {
      const status = failure.kind === 'timeout' ? 504 : 503;
      if (expectsJsonRpc(req)) return sendJson(res, status, response);
      throw new HttpError(status, failure.message);
    }
    sendJson(res, 200, response, 'error' in response && newSession ? {} : headers);
  }

  async #getStream(
    req: IncomingMessage,
    res: ServerResponse,
    subject: string,
    server: string,
    session: McpSession | undefined,
  ): Promise<void> {
    if (!(header(req, 'accept') ?? '').includes('text/event-stream')) {
      throw new HttpError(405, 'GET needs Accept: text/event-stream', { Allow: 'POST, DELETE' });
    }
    await this.options.target(subject, server, { session, sessionful: session !== undefined });
    const lastEventId = header(req, 'last-event-id');
    openSse(res);
    if (session) {
      if (lastEventId !== undefined && (await session.resume(Number(lastEventId), res))) return;
      if (primes(header(req, 'mcp-protocol-version') ?? session.protocolVersion)) session.prime('get', res);
      else session.attach('get', res);
      // Shared: one GET stream per session, on the node that opened it last.
      if (!session.legacy) this.sessions.share?.takeStream(session.id);
      return;
    }
    // Compat: a sessionless stream (the existing remote's GET) gets the server's notifications, no replay.
    const key = `${subject}/${server}`;
    const set = this.#openStreams.get(key) ?? new Set<ServerResponse>();
    this.#openStreams.set(key, set.add(res));
    res.write(': connected\n\n');
    res.on('close', () => set.delete(res));
  }
}

/** Whether `message` is a response to a server request of a front (ids made by #invoke). */
function isAnswerToUs(message: JsonRpcMessage): boolean {
  return message.method === undefined && typeof message.id === 'string' && message.id.startsWith('mcpgw-');
}

function isRequest(message: JsonRpcMessage): boolean {
  return message.method !== undefined && message.id !== undefined && message.id !== null;
}

/**
 * Whether a client of this protocol version gets priming events (empty data). Only 2025-11-25 clients expect
 * them: older SDK clients JSON.parse the empty data and fail (the TypeScript and Python SDK servers skip
 * priming for them too). Without the header a client speaks 2025-03-26 (spec, "Protocol Version Header").
 */
function primes(version: unknown): boolean {
  return typeof version === 'string' && version >= '2025-11-25';
}
