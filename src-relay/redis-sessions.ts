// 2025-era MCP sessions shared by every relay on one Redis (issue 13): a session (Mcp-Session-Id) made on one
// node is usable from all of them, so MCP clients need no sticky routing. What lives here is what every node
// needs of a session; its open SSE streams stay on the node that holds them (mcp-sessions.ts). Keys and channel,
// under the relay's prefix (REDIS_KEY_PREFIX):
//   mcp:<id>             hash {subject, server, v (protocol version), seq (last event id), bytes (data in the
//                        log)}, with a TTL of the idle limit (plus the touch interval), refreshed on use
//   mcp:<id>:log         list of the session's events, oldest first, JSON {s: id, t: stream, d?: data, f?: 1
//                        (final)}, bounded like the in-memory log (EVENT_LOG_SIZE events, EVENT_LOG_BYTES)
//   mcp:of:<subject, server as JSON>
//                        sorted set: the sessions of one agent's server by expiry (epoch ms), for its
//                        server-wide notifications; expired members go on each notification
//   sessions             channel: SessionMessage (src-shared/cluster.ts): ends, GET streams taken, notifications
// Logging an event and publishing a notification each run as one Lua script (event ids come from the session's
// counter, so they increase across nodes); the scripts derive keys from the prefix: a single Redis (or
// Sentinel), not Redis Cluster. Without REDIS_URL none of this exists: sessions live in the node's memory.
import { Redis } from 'ioredis';

import { SessionMessage } from '../src-shared/cluster.js';
import type { JsonRpcMessage } from '../src-shared/wire.js';
import {
  EVENT_LOG_BYTES,
  EVENT_LOG_SIZE,
  type SessionShare,
  type SharedLoggedEvent,
  type SharedSessionRecord,
  touchInterval,
} from './mcp-sessions.js';
import { redactRedisUrl } from './redis-state.js';
import type { RelayLogger } from './relay-log.js';

export interface RedisSessionsOptions {
  /** redis:// or rediss:// URL (its password is never logged). */
  url: string;
  /** Prefix of keys and channel (default "mcpassistant:"). */
  keyPrefix?: string;
  /** This node's id (RelayCluster.nodeId). */
  node: string;
  /** A session unused for this long (ms) expires (the relay's SESSION_IDLE_MINUTES). */
  idleMs: number;
  log: RelayLogger;
}

// Appends one event to a session's log and trims the log to its bounds; the Lua function both scripts use.
// Returns the event's id. h: the session's hash, l: its log, max: events, maxBytes: bytes of data.
const APPEND = `
local function append(h, l, stream, data, hasData, final, max, maxBytes)
  local seq = redis.call('HINCRBY', h, 'seq', 1)
  local e = {s = seq, t = stream}
  if hasData then e.d = data end
  if final then e.f = 1 end
  redis.call('RPUSH', l, cjson.encode(e))
  local bytes = redis.call('HINCRBY', h, 'bytes', hasData and #data or 0)
  local n = redis.call('LLEN', l)
  while n > max or (bytes > maxBytes and n > 1) do
    local old = cjson.decode(redis.call('LPOP', l))
    if old.d then bytes = redis.call('HINCRBY', h, 'bytes', -#old.d) end
    n = n - 1
  end
  local ttl = redis.call('PTTL', h)
  if ttl > 0 then redis.call('PEXPIRE', l, ttl) end
  return seq
end
`;

// KEYS: hash, log. ARGV: stream, data, has data ('1'/'0'), final ('1'/'0'), max events, max bytes.
const RECORD = `${APPEND}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return append(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3] == '1', ARGV[4] == '1', tonumber(ARGV[5]), tonumber(ARGV[6]))
`;

// KEYS: the server's sorted set. ARGV: key prefix of sessions ("<prefix>mcp:"), data, now, max events, max bytes,
// channel. Logs `data` on the GET stream of each live session of the server and publishes one session_event.
const NOTIFY = `${APPEND}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local events = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local h = ARGV[1] .. id
  if redis.call('EXISTS', h) == 1 then
    local seq = append(h, h .. ':log', 'get', ARGV[2], true, false, tonumber(ARGV[4]), tonumber(ARGV[5]))
    table.insert(events, id)
    table.insert(events, seq)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
if #events > 0 then
  redis.call('PUBLISH', ARGV[6], cjson.encode({type = 'session_event', events = events, data = ARGV[2]}))
end
return #events / 2
`;

// Refreshes a session's expiry and its entry in its server's set. KEYS: hash, log, set. ARGV: ttl ms, expiry
// (epoch ms), id. Returns 0 when the session is gone.
const TOUCH = `
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('PEXPIRE', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[3], ARGV[1]) end
return 1
`;

/** The shape of the session ids the relay issues (randomUUID, McpSession). */
const ISSUED_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** 2025-era sessions in Redis, shared by every relay on it (see the top of this file). */
export class RedisSessions implements SessionShare {
  readonly node: string;
  readonly #client: Redis;
  readonly #subscriber: Redis;
  readonly #prefix: string;
  /** A session's TTL in Redis (ms): the idle limit, plus the interval at which a node in use refreshes it. */
  readonly #ttlMs: number;
  readonly #listeners: ((message: SessionMessage) => void)[] = [];
  readonly #gapListeners: (() => void)[] = [];
  readonly #log: RelayLogger;

  constructor(options: RedisSessionsOptions) {
    this.node = options.node;
    this.#prefix = options.keyPrefix ?? 'mcpassistant:';
    this.#ttlMs = Math.ceil(options.idleMs + touchInterval(options.idleMs));
    this.#log = options.log;
    // A session's requests of one event-loop turn leave in one write; a Redis away fails them after one retry.
    this.#client = new Redis(options.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      enableAutoPipelining: true,
    });
    // Named, so that an operator tells them apart in CLIENT LIST.
    this.#subscriber = new Redis(options.url, {
      lazyConnect: true,
      connectionName: 'mcpassistant-sessions-sub',
    });
    const where = redactRedisUrl(options.url);
    // ignore: RedisState reports the state of the same Redis (and /healthz says it).
    this.#client.on('error', () => undefined);
    this.#subscriber.on('error', (error: Error) =>
      this.#log.debug(`sessions: Redis at ${where}: ${error.message}`),
    );
    this.#subscriber.on('messageBuffer', (_channel: Buffer, message: Buffer) => this.#receive(message));
    let subscribed = false;
    this.#subscriber.on('ready', () => {
      if (subscribed) for (const listener of this.#gapListeners) listener();
      subscribed = true;
    });
  }

  #key(name: string): string {
    return this.#prefix + name;
  }

  #setOf(record: SharedSessionRecord): string {
    return this.#key(`mcp:of:${JSON.stringify([record.subject, record.server])}`);
  }

  /** Connects and subscribes; rejects when Redis cannot be reached. */
  async start(): Promise<void> {
    await this.#client.connect();
    await this.#subscriber.connect();
    await this.#subscriber.subscribe(this.#key('sessions'));
  }

  async close(): Promise<void> {
    this.#subscriber.disconnect();
    if (this.#client.status === 'ready') await this.#client.quit().catch(() => undefined);
    else this.#client.disconnect();
  }

  async create(id: string, record: SharedSessionRecord): Promise<void> {
    const hash = this.#key(`mcp:${id}`);
    await this.#client
      .multi()
      .hset(hash, {
        subject: record.subject,
        server: record.server,
        seq: '0',
        bytes: '0',
        ...(record.credential !== undefined && { credential: record.credential }),
      })
      .eval(TOUCH, 3, hash, `${hash}:log`, this.#setOf(record), this.#ttlMs, Date.now() + this.#ttlMs, id)
      .exec();
  }

  async setVersion(id: string, version: string | undefined): Promise<void> {
    if (version !== undefined) await this.#client.hset(this.#key(`mcp:${id}`), 'v', version);
  }

  /**
   * The session `id` (a client's Mcp-Session-Id), or undefined when there is none. An id the relay did not
   * issue (a UUID, McpSession) is none, without asking Redis: it could name another of the session's keys
   * (`<id>:log`, `of:…`), which would fail as a store error (WRONGTYPE) rather than as an unknown session.
   * Rejects when Redis cannot be reached.
   */
  async load(id: string): Promise<SharedSessionRecord | undefined> {
    if (!ISSUED_ID.test(id)) return undefined;
    const [subject, server, version, credential] = await this.#client.hmget(
      this.#key(`mcp:${id}`),
      'subject',
      'server',
      'v',
      'credential',
    );
    if (!subject || !server) return undefined;
    return { subject, server, protocolVersion: version ?? undefined, ...(credential && { credential }) };
  }

  touch(id: string, record: SharedSessionRecord): Promise<boolean> {
    const hash = this.#key(`mcp:${id}`);
    return this.#client
      .eval(TOUCH, 3, hash, `${hash}:log`, this.#setOf(record), this.#ttlMs, Date.now() + this.#ttlMs, id)
      .then(
        (touched) => touched !== 0,
        (error: Error) => {
          this.#log.debug(`sessions: cannot refresh a session: ${error.message}`);
          return true;
        },
      );
  }

  async end(id: string, record: SharedSessionRecord): Promise<void> {
    const hash = this.#key(`mcp:${id}`);
    await this.#client
      .multi()
      .del(hash, `${hash}:log`)
      .zrem(this.#setOf(record), id)
      .publish(
        this.#key('sessions'),
        JSON.stringify({ type: 'session_end', node: this.node, session: id } satisfies SessionMessage),
      )
      .exec();
  }

  async record(id: string, stream: string, data: string | undefined, final: boolean): Promise<number> {
    const hash = this.#key(`mcp:${id}`);
    const seq = await this.#client.eval(
      RECORD,
      2,
      hash,
      `${hash}:log`,
      stream,
      data ?? '',
      data === undefined ? '0' : '1',
      final ? '1' : '0',
      EVENT_LOG_SIZE,
      EVENT_LOG_BYTES,
    );
    return Number(seq);
  }

  async log(id: string): Promise<SharedLoggedEvent[]> {
    const entries = await this.#client.lrange(this.#key(`mcp:${id}:log`), 0, -1);
    return entries.map((entry) => {
      const e = JSON.parse(entry) as { s: number; t: string; d?: string; f?: number };
      return { seq: e.s, stream: e.t, ...(e.d !== undefined && { data: e.d }), ...(e.f && { final: true }) };
    });
  }

  notify(subject: string, server: string, data: string): void {
    this.#client
      .eval(
        NOTIFY,
        1,
        this.#setOf({ subject, server, protocolVersion: undefined }),
        this.#key('mcp:'),
        data,
        Date.now(),
        EVENT_LOG_SIZE,
        EVENT_LOG_BYTES,
        this.#key('sessions'),
      )
      .catch((error: Error) =>
        this.#log.warn(
          `sessions: a notification of ${subject}/${server} was not delivered: ${error.message}`,
        ),
      );
  }

  takeStream(id: string): void {
    const message: SessionMessage = { type: 'session_stream', node: this.node, session: id };
    this.#client
      .publish(this.#key('sessions'), JSON.stringify(message))
      .catch((error: Error) => this.#log.debug(`sessions: cannot publish: ${error.message}`));
  }

  answer(id: string, payload: JsonRpcMessage): void {
    const message: SessionMessage = { type: 'session_answer', node: this.node, session: id, payload };
    this.#client
      .publish(this.#key('sessions'), JSON.stringify(message))
      .catch((error: Error) => this.#log.debug(`sessions: cannot publish: ${error.message}`));
  }

  listen(listener: (message: SessionMessage) => void): void {
    this.#listeners.push(listener);
  }

  onGap(listener: () => void): void {
    this.#gapListeners.push(listener);
  }

  #receive(text: Buffer): void {
    let parsed;
    try {
      parsed = SessionMessage.safeParse(JSON.parse(text.toString('utf8')));
    } catch {
      return this.#log.warn('sessions: ignoring a message that is not JSON');
    }
    if (!parsed.success) return this.#log.warn('sessions: ignoring a malformed session message');
    for (const listener of this.#listeners) listener(parsed.data);
  }
}
