// MCP sessions of the relay's Streamable HTTP endpoint. The agent keeps one SDK session per local server;
// a relay session is the remote client's view: its negotiated version, its open SSE streams, and a bounded
// log of the events sent on them so that a client that lost a stream can resume with Last-Event-ID.
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';

import type { SessionMessage } from '../src-shared/cluster.js';
import type { JsonRpcMessage } from '../src-shared/wire.js';
import { endWithEvent, writeEvent, writeKeepAlive, writePriming } from './sse-stream.js';

/**
 * A session's log of sent events, for resumption: at most this many events and this many bytes of data (the
 * newest event is always kept, whatever its size). The byte bound stays under the stream backlog that makes
 * the relay drop a stream (MAX_SSE_BACKLOG_BYTES), so that a replay is never dropped for its own size.
 */
export const EVENT_LOG_SIZE = 500;
export const EVENT_LOG_BYTES = 4 * 1024 * 1024;

/** What every node knows of a shared session (the rest, its streams, is per node). */
export interface SharedSessionRecord {
  subject: string;
  server: string;
  /** The version initialize negotiated; undefined until it answered. */
  protocolVersion: string | undefined;
  /**
   * The id of the credential that opened the session (./credential-requests.ts: a JWT's id, or `grant:<id>`);
   * its requests must come with the same one. Undefined where callers are not authenticated.
   */
  credential?: string;
}

/** One event of a shared session's log, as stored (./redis-sessions.ts). */
export interface SharedLoggedEvent {
  /** The event id (SSE `id:`), increasing within the session. */
  seq: number;
  stream: string;
  /** Absent for a priming event. */
  data?: string;
  /** The POST stream's final response: the stream ends after it. */
  final?: boolean;
}

/**
 * Where 2025-era sessions live when several relays share them (REDIS_URL; ./redis-sessions.ts): the session's
 * record and its resumption log, bounded as in memory (EVENT_LOG_SIZE events, EVENT_LOG_BYTES of data). Event
 * ids are the store's, increasing per session across nodes, so a client resumes with Last-Event-ID anywhere.
 */
export interface SessionShare {
  /** This node's id (tags its POST streams, so that two nodes never name one alike). */
  readonly node: string;
  /** Records a new session; rejects when the store cannot be reached. */
  create(id: string, record: SharedSessionRecord): Promise<void>;
  /** Sets the negotiated protocol version of a session created by create(). */
  setVersion(id: string, version: string | undefined): Promise<void>;
  /** The session's record, or undefined when it ended or expired. Rejects when the store cannot be reached. */
  load(id: string): Promise<SharedSessionRecord | undefined>;
  /**
   * The session was used: its idle expiry starts again. Resolves false when the session is gone from the store
   * (ended or expired: a node that missed its `session_end` learns it here), true otherwise, also when the store
   * cannot be reached (never rejects).
   */
  touch(id: string, record: SharedSessionRecord): Promise<boolean>;
  /** Ends the session on every node (its record and log go). */
  end(id: string, record: SharedSessionRecord): Promise<void>;
  /** Logs one event of `stream`; resolves with its id (0 when the session is gone: nothing logged). */
  record(id: string, stream: string, data: string | undefined, final: boolean): Promise<number>;
  /** The session's log, oldest first. */
  log(id: string): Promise<SharedLoggedEvent[]>;
  /**
   * Logs a server-wide notification in every session of `subject`'s `server` and tells every node (a
   * `session_event` message): the one holding each session's GET stream writes it there.
   */
  notify(subject: string, server: string, data: string): void;
  /** This node now holds the session's GET stream: the others end theirs. */
  takeStream(id: string): void;
  /** A client's answer to a server request this node did not send: to the node that did (`session_answer`). */
  answer(id: string, payload: JsonRpcMessage): void;
  /** Messages of other nodes (and this node's session_event messages). */
  listen(listener: (message: SessionMessage) => void): void;
  /**
   * `listener` is called when messages may have been missed: the subscription to them dropped and is back
   * (pub/sub delivers at most once).
   */
  onGap?(listener: () => void): void;
}

interface LoggedEvent {
  seq: number;
  stream: string;
  /** Absent for a priming event: it is only an anchor to resume from, never replayed. */
  data?: string;
}

export class McpSession {
  readonly id: string;
  protocolVersion: string | undefined;
  /** A legacy HTTP+SSE session: it lives as long as its one stream. */
  legacy = false;
  lastSeen = Date.now();
  #seq = 0;
  readonly #log: LoggedEvent[] = [];
  /** Characters of data in #log (a string's length: one byte each for the ASCII of JSON text, about). */
  #logBytes = 0;
  /** Open responses by stream key: 'get' for the standalone GET stream, 'post:<n>' for a POST's stream. */
  readonly streams = new Map<string, ServerResponse>();
  /** POST streams whose final response was sent: once replayed, a resumed stream ends. */
  readonly #finished = new Set<string>();
  /** Logged events per stream: a stream with none left cannot be resumed, so it is forgotten. */
  readonly #logged = new Map<string, number>();
  #postCount = 0;
  /** Shared sessions: where the log lives; undefined in memory (the fields above are used instead). */
  readonly #share: SessionShare | undefined;
  /** Shared sessions: the store's answers are awaited in order, so that a stream's events keep theirs. */
  #chain: Promise<unknown> = Promise.resolve();
  /** Shared sessions: the newest event id written on each stream here (a replayed event is not written twice). */
  readonly #written = new Map<string, number>();
  /** Shared sessions: POST streams whose call runs on this node (a resumed one that does not ends after replay). */
  readonly #producing = new Set<string>();
  /** Shared sessions: a resumption is reading the log; notifications wait behind it. */
  #resuming = 0;
  /** Shared sessions: when this node last refreshed the session's expiry in the store (epoch ms). */
  touchedAt = 0;

  constructor(
    readonly subject: string,
    readonly server: string,
    share?: SessionShare,
    id: string = randomUUID(),
    /** See SharedSessionRecord.credential. */
    readonly credential?: string,
  ) {
    this.#share = share;
    this.id = id;
  }

  /** What every node knows of this session (shared sessions). */
  get record(): SharedSessionRecord {
    return {
      subject: this.subject,
      server: this.server,
      protocolVersion: this.protocolVersion,
      ...(this.credential !== undefined && { credential: this.credential }),
    };
  }

  newPostStream(): string {
    if (!this.#share) return `post:${++this.#postCount}`;
    const stream = `post:${this.#share.node.slice(0, 8)}.${++this.#postCount}`;
    this.#producing.add(stream);
    return stream;
  }

  /** Runs `step` after the store calls queued before it (shared sessions); a failure is the step's own. */
  #queue<T>(step: () => T | Promise<T>): Promise<T> {
    const next = this.#chain.then(step);
    this.#chain = next.catch(() => undefined); // ignore: the caller of this step deals with its failure
    return next;
  }

  /**
   * Attaches `res` to `stream` and writes the priming event (spec 2025-11-25). Its id is logged too: a client
   * whose stream broke before any message resumes from the priming id, so that id must name the stream.
   */
  prime(stream: string, res: ServerResponse): void {
    this.attach(stream, res);
    const share = this.#share;
    if (share) {
      void this.#queue(async () => {
        const seq = await share.record(this.id, stream, undefined, false);
        if (res.writableEnded) return;
        this.#written.set(stream, Math.max(seq, this.#written.get(stream) ?? 0));
        writePriming(res, seq);
      }).catch(() => undefined); // ignore: without its priming id the stream still works, unresumable
      return;
    }
    const seq = this.#record(stream);
    writePriming(res, seq);
  }

  /** Records and, if that stream is open, writes one message. `final` ends a POST stream. */
  send(stream: string, message: object, final = false): void {
    const data = JSON.stringify(message);
    const share = this.#share;
    if (share) {
      void this.#queue(async () => {
        // A store that cannot be reached loses the event's resumption, not the event.
        const seq = await share.record(this.id, stream, data, final).catch(() => 0);
        // Only now: a resumption queued before this step, whose log lacks the final event, must still take the
        // stream for one whose call runs here (and so get that event), not end it empty.
        if (final) this.#producing.delete(stream);
        this.#write(stream, data, seq, final);
      });
      return;
    }
    const seq = this.#record(stream, data);
    const res = this.streams.get(stream);
    if (final) this.#finished.add(stream);
    if (!res || res.writableEnded) return;
    if (!final) return writeEvent(res, data, seq);
    this.streams.delete(stream);
    endWithEvent(res, data, seq);
  }

  /**
   * Ends `stream`'s response now while its call goes on (the local server closed its own stream mid-call,
   * SEP-1699), after the events sent before. The client resumes with Last-Event-ID (the priming id at least):
   * what the stream gets later is logged, and reaches the resumed response (resume).
   */
  closeStream(stream: string): void {
    const end = () => {
      const res = this.streams.get(stream);
      if (!res) return;
      this.streams.delete(stream);
      if (!res.writableEnded) res.end();
    };
    if (this.#share) void this.#queue(end);
    else end();
  }

  /** Writes one event of a shared session on `stream`, if it is open here. */
  #write(stream: string, data: string, seq: number, final: boolean): void {
    const res = this.streams.get(stream);
    // A finished POST stream is never written again here: its entry would only grow the map.
    if (final) this.#written.delete(stream);
    if (!res || res.writableEnded) return;
    if (seq > 0 && !final) this.#written.set(stream, seq);
    if (!final) return writeEvent(res, data, seq > 0 ? seq : undefined);
    this.streams.delete(stream);
    endWithEvent(res, data, seq > 0 ? seq : undefined);
  }

  /**
   * A server-wide notification logged in the store under `seq` (a `session_event`): written on the GET stream
   * if this node holds it, unless a replay wrote it already.
   */
  deliver(seq: number, data: string): void {
    if (!this.streams.has('get') && this.#resuming === 0) return;
    void this.#queue(() => {
      if (seq > (this.#written.get('get') ?? 0)) this.#write('get', data, seq, false);
    });
  }

  #record(stream: string, data?: string): number {
    const seq = ++this.#seq;
    this.#log.push(data === undefined ? { seq, stream } : { seq, stream, data });
    this.#logBytes += data?.length ?? 0;
    this.#logged.set(stream, (this.#logged.get(stream) ?? 0) + 1);
    while (this.#log.length > EVENT_LOG_SIZE || (this.#logBytes > EVENT_LOG_BYTES && this.#log.length > 1)) {
      const oldest = this.#log.shift()!;
      this.#logBytes -= oldest.data?.length ?? 0;
      // Without this, #finished would keep one entry per SSE call for the whole life of the session.
      const evicted = oldest.stream;
      const left = this.#logged.get(evicted)! - 1;
      if (left > 0) this.#logged.set(evicted, left);
      else {
        this.#logged.delete(evicted);
        this.#finished.delete(evicted);
      }
    }
    return seq;
  }

  /**
   * Re-attaches `res` to the stream the event `lastEventId` was sent on, replaying what came after it.
   * Returns false when that event is unknown (too old, or another session's).
   */
  resume(lastEventId: number, res: ServerResponse): boolean | Promise<boolean> {
    if (this.#share) return this.#resumeShared(this.#share, lastEventId, res);
    const anchor = this.#log.find((e) => e.seq === lastEventId);
    if (!anchor && lastEventId !== 0) return false;
    const stream = anchor?.stream ?? 'get';
    for (const event of this.#log) {
      if (event.stream === stream && event.seq > lastEventId && event.data !== undefined)
        writeEvent(res, event.data, event.seq);
    }
    if (this.#finished.has(stream)) {
      res.end();
      return true;
    }
    this.attach(stream, res);
    return true;
  }

  /** resume() from the store's log: the stream may have been on another node (which may have died). */
  #resumeShared(share: SessionShare, lastEventId: number, res: ServerResponse): Promise<boolean> {
    this.#resuming++;
    return this.#queue(async () => {
      try {
        const log = await share.log(this.id);
        const anchor = log.find((e) => e.seq === lastEventId);
        if (!anchor && lastEventId !== 0) return false;
        const stream = anchor?.stream ?? 'get';
        let written = this.#written.get(stream) ?? 0;
        let finished = false;
        for (const event of log) {
          if (event.stream !== stream) continue;
          if (event.final) finished = true;
          if (event.seq > lastEventId && event.data !== undefined) {
            writeEvent(res, event.data, event.seq);
            written = Math.max(written, event.seq);
          }
        }
        // A POST stream whose call ran on another node gets nothing more here: it ends after its replay.
        if (finished || (stream !== 'get' && !this.#producing.has(stream))) {
          res.end();
          return true;
        }
        this.#written.set(stream, written);
        this.attach(stream, res);
        if (stream === 'get') share.takeStream(this.id);
        return true;
      } finally {
        this.#resuming--;
      }
    });
  }

  attach(stream: string, res: ServerResponse): void {
    const previous = this.streams.get(stream);
    if (previous && previous !== res && !previous.writableEnded) previous.end();
    this.streams.set(stream, res);
    res.on('close', () => {
      if (this.streams.get(stream) === res) this.streams.delete(stream);
      this.lastSeen = Date.now();
    });
  }

  keepAlive(): void {
    for (const res of this.streams.values()) if (!res.writableEnded) writeKeepAlive(res);
  }

  close(): void {
    for (const res of this.streams.values()) if (!res.writableEnded) res.end();
    this.streams.clear();
  }
}

export interface SessionStoreOptions {
  idleMs: number;
  /**
   * Expire an idle session even while its GET stream is open (the gateway-bridge: a lingering stream must
   * not keep a session alive forever). The relay keeps them: Gemini CLI holds one open for hours.
   */
  expireOpenSessions?: boolean;
  /** Called when a session ends: DELETE, expiry or shutdown. */
  onEnd?: (session: McpSession) => void;
  /**
   * Several relays on one Redis: sessions live there, and this store only caches the ones used here (dropped
   * when idle here, when ended on another node, or when the store no longer has them).
   */
  share?: SessionShare;
  /** A client's answer to a server request, sent to another node of the session (`session_answer`). */
  onAnswer?: (session: string, payload: JsonRpcMessage) => void;
}

/** How often (at most) a node refreshes a shared session's expiry in the store while it is used, in ms. */
export function touchInterval(idleMs: number): number {
  return Math.min(Math.max(idleMs / 10, 1), 60_000);
}

export class SessionStore {
  readonly #sessions = new Map<string, McpSession>();

  constructor(private readonly options: SessionStoreOptions) {
    options.share?.listen((message) => this.#shared(message));
    // Notifications announced while away were logged but not written: the GET streams here end, and their
    // clients resume with Last-Event-ID, which replays them from the log.
    options.share?.onGap?.(() => {
      for (const session of this.#sessions.values()) {
        const stream = session.streams.get('get');
        if (stream && !stream.writableEnded && !session.legacy) stream.end();
      }
    });
  }

  /** Where sessions live besides this node (several relays), if anywhere. */
  get share(): SessionShare | undefined {
    return this.options.share;
  }

  /**
   * A new session, bound to `credential` (see SharedSessionRecord) when given; a shared one is recorded by the
   * caller (share.create) before its id is handed out.
   */
  create(subject: string, server: string, legacy = false, credential?: string): McpSession {
    // Legacy HTTP+SSE sessions live as long as their one stream: they stay on its node.
    const session = new McpSession(
      subject,
      server,
      legacy ? undefined : this.options.share,
      undefined,
      credential,
    );
    session.legacy = legacy;
    this.#sessions.set(session.id, session);
    return session;
  }

  /** A session known here; with a share, one idle here for longer than the idle limit is asked again (load). */
  get(id: string): McpSession | undefined {
    const session = this.#sessions.get(id);
    if (
      session &&
      this.options.share &&
      !session.legacy &&
      session.streams.size === 0 &&
      Date.now() - session.lastSeen > this.options.idleMs
    )
      return undefined;
    return session;
  }

  /**
   * A session of another node (or one idle here), from the share; undefined when it is unknown, ended or
   * expired, and at once without a share. Rejects when the share cannot be reached.
   */
  async load(id: string): Promise<McpSession | undefined> {
    const share = this.options.share;
    if (!share) return undefined;
    const record = await share.load(id);
    if (!record) {
      this.#forget(id);
      return undefined;
    }
    let session = this.#sessions.get(id);
    if (!session) {
      session = new McpSession(record.subject, record.server, share, id, record.credential);
      this.#sessions.set(id, session);
    }
    session.protocolVersion = record.protocolVersion;
    session.lastSeen = Date.now();
    return session;
  }

  /** The session is used: its idle time starts again, here and (now and then) in the share. */
  touch(session: McpSession, now = Date.now()): void {
    session.lastSeen = now;
    const share = this.options.share;
    if (!share || session.legacy || now - session.touchedAt < touchInterval(this.options.idleMs)) return;
    session.touchedAt = now;
    // Gone from the store while this node still holds it (a session_end missed: pub/sub delivers at most once,
    // or a load that raced the DELETE): it stops being served here too.
    void share.touch(session.id, session.record).then((alive) => {
      if (!alive && this.#sessions.get(session.id) === session) this.#forget(session.id);
    });
  }

  /** Ends a session everywhere (DELETE): here, and with a share on every node. */
  async end(id: string): Promise<void> {
    const session = this.#sessions.get(id);
    this.delete(id);
    if (session && !session.legacy) await this.options.share?.end(id, session.record);
  }

  /** Drops a shared session from this node only (it lives on in the share, or ended elsewhere). */
  #forget(id: string): void {
    const session = this.#sessions.get(id);
    if (!session) return;
    this.#sessions.delete(id);
    session.close();
  }

  #shared(message: SessionMessage): void {
    switch (message.type) {
      case 'session_end':
        if (message.node !== this.options.share?.node) this.delete(message.session);
        return;
      case 'session_stream': {
        if (message.node === this.options.share?.node) return;
        const stream = this.#sessions.get(message.session)?.streams.get('get');
        if (stream && !stream.writableEnded) stream.end();
        return;
      }
      case 'session_answer':
        if (message.node !== this.options.share?.node)
          this.options.onAnswer?.(message.session, message.payload);
        return;
      case 'session_event':
        for (let i = 0; i + 1 < message.events.length; i += 2) {
          const session = this.#sessions.get(String(message.events[i]));
          session?.deliver(Number(message.events[i + 1]), message.data);
        }
    }
  }

  delete(id: string): boolean {
    const session = this.#sessions.get(id);
    if (!session) return false;
    this.#sessions.delete(id);
    session.close();
    this.options.onEnd?.(session);
    return true;
  }

  /**
   * Sessions of one agent's server, for server-wide notifications. With a share, only the legacy ones: the
   * others get them through the share (notify), wherever their GET stream is.
   */
  *of(subject: string, server: string): Iterable<McpSession> {
    const share = this.options.share !== undefined;
    for (const session of this.#sessions.values())
      if (session.subject === subject && session.server === server && (!share || session.legacy))
        yield session;
  }

  all(): Iterable<McpSession> {
    return this.#sessions.values();
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Keep-alives on every open stream, and expiry of sessions idle for too long. */
  tick(now = Date.now()): void {
    const share = this.options.share;
    for (const [id, session] of this.#sessions) {
      const idle = now - session.lastSeen > this.options.idleMs;
      const open = session.streams.size > 0;
      // A shared session idle here may be in use elsewhere: the share expires it (its TTL), this node forgets it.
      if (share && !session.legacy) {
        if (idle && !open) this.#forget(id);
        else if (open) {
          this.touch(session, now);
          session.keepAlive();
        }
        continue;
      }
      if (idle && (!open || this.options.expireOpenSessions)) this.delete(id);
      else session.keepAlive();
    }
  }

  closeAll(): void {
    for (const id of [...this.#sessions.keys()]) this.delete(id);
  }
}
