// MCP sessions of the relay's Streamable HTTP endpoint. The agent keeps one SDK session per local server;
// a relay session is the remote client's view: its negotiated version, its open SSE streams, and a bounded
// log of the events sent on them so that a client that lost a stream can resume with Last-Event-ID.
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';

import { writeEvent, writeKeepAlive, writePriming } from './sse-stream.js';

/**
 * A session's log of sent events, for resumption: at most this many events and this many bytes of data (the
 * newest event is always kept, whatever its size). The byte bound stays under the stream backlog that makes
 * the relay drop a stream (MAX_SSE_BACKLOG_BYTES), so that a replay is never dropped for its own size.
 */
const EVENT_LOG_SIZE = 500;
const EVENT_LOG_BYTES = 4 * 1024 * 1024;

interface LoggedEvent {
  seq: number;
  stream: string;
  /** Absent for a priming event: it is only an anchor to resume from, never replayed. */
  data?: string;
}

export class McpSession {
  readonly id = randomUUID();
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

  constructor(
    readonly subject: string,
    readonly server: string,
  ) {}

  newPostStream(): string {
    return `post:${++this.#postCount}`;
  }

  /**
   * Attaches `res` to `stream` and writes the priming event (spec 2025-11-25). Its id is logged too: a client
   * whose stream broke before any message resumes from the priming id, so that id must name the stream.
   */
  prime(stream: string, res: ServerResponse): void {
    this.attach(stream, res);
    const seq = this.#record(stream);
    writePriming(res, seq);
  }

  /** Records and, if that stream is open, writes one message. `final` ends a POST stream. */
  send(stream: string, message: object, final = false): void {
    const data = JSON.stringify(message);
    const seq = this.#record(stream, data);
    const res = this.streams.get(stream);
    if (final) this.#finished.add(stream);
    if (!res || res.writableEnded) return;
    writeEvent(res, data, seq);
    if (final) {
      this.streams.delete(stream);
      res.end();
    }
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
  resume(lastEventId: number, res: ServerResponse): boolean {
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
}

export class SessionStore {
  readonly #sessions = new Map<string, McpSession>();

  constructor(private readonly options: SessionStoreOptions) {}

  create(subject: string, server: string): McpSession {
    const session = new McpSession(subject, server);
    this.#sessions.set(session.id, session);
    return session;
  }

  get(id: string): McpSession | undefined {
    return this.#sessions.get(id);
  }

  delete(id: string): boolean {
    const session = this.#sessions.get(id);
    if (!session) return false;
    this.#sessions.delete(id);
    session.close();
    this.options.onEnd?.(session);
    return true;
  }

  /** Sessions of one agent's server, for server-wide notifications. */
  *of(subject: string, server: string): Iterable<McpSession> {
    for (const session of this.#sessions.values())
      if (session.subject === subject && session.server === server) yield session;
  }

  all(): Iterable<McpSession> {
    return this.#sessions.values();
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Keep-alives on every open stream, and expiry of sessions idle for too long. */
  tick(now = Date.now()): void {
    for (const [id, session] of this.#sessions) {
      const idle = now - session.lastSeen > this.options.idleMs;
      if (idle && (session.streams.size === 0 || this.options.expireOpenSessions)) this.delete(id);
      else session.keepAlive();
    }
  }

  closeAll(): void {
    for (const id of [...this.#sessions.keys()]) this.delete(id);
  }
}
