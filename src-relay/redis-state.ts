// The relay's shared state in Redis (issue 13; ./shared-state.ts says what it holds and why), through ioredis.
// Keys, all under one prefix (REDIS_KEY_PREFIX, default "mcpassistant:"):
//   subject:<subject>          string: the holder of a subject (SET NX: the first claim wins, on every relay)
//   revoked                    sorted set: revocation id → expiry (epoch ms, +inf for a token without exp);
//                              expired members are dropped on each revocation
//   revoked (channel)          pub/sub: every revocation, so each relay's in-memory view and its "disconnect
//                              the agent using this token" listeners learn of it at once
//   rt:<sha256 of the token>   hash {family, exp, used}: one refresh token, kept until it expires (a used one
//                              too: reuse detection), with that TTL
//   fam:<family>               hash {grant (JSON), revoked}: a sign-in, kept as long as its newest token
//   fam:<family>:at            hash access-token revocation id → expiry: revoked with the family
//   oidc:<model>:<id>          hash {p: payload JSON, c: consumed}: the authorization server's (oidc-provider)
//                              grants, tokens, sessions, interactions and registered clients, with their TTLs
//   oidc:grant:<grant id>      set: the keys of the tokens issued under a grant (revokeByGrantId)
//   oidc:uid:<uid>             string: a session's id by its uid
//   login:<id>                 hash {r: the sign-in's fixed fields (JSON), d: its provider's values (JSON), status,
//                              email, code (sha256 hex), failure, family, token}: an agent sign-in in progress
//                              (./login-sessions.ts), until its expiry and as long again; status changes are
//                              compare-and-set scripts
//   login-key:<key>            string: a pending sign-in's id by its provider key (the OIDC state)
//   logins                     sorted set: sign-in ids by when they are forgotten (the bound on sign-ins held)
//   consent:<uid>              hash {r: the app consent record (JSON), state}: consent asked of the owner's app
//                              for an authorization request (./app-consent.ts), with its TTL; the state changes
//                              from waiting once (compare-and-set: the first answer wins on every relay)
//   consent-id:<consent id>    string: the interaction id of a consent request
//   keys:<name>                string: a key the relays share, made by the first one (SET NX), e.g. the
//                              authorization server's token signing key
//   oidc:grants                set: grant ids (GET /manage/client-grants); oidc:clients: sorted set of
//                              registered clients by registration time, capped (oldest dropped first)
// Rotation, reuse detection and family revocation each run as one Lua script, so two relays presenting the same
// refresh token at once cannot both rotate it. The scripts touch keys they derive from the prefix, so they need a
// single Redis (or Sentinel), not Redis Cluster.
import { randomBytes } from 'node:crypto';

import { Redis } from 'ioredis';

import type { AppConsentRecord, AppConsentState, AppConsentStore } from './app-consent.js';
import type { AuthorizationStorage, OidcAdapter, StoredPayload } from './authorization-store.js';
import type { LoginRecord, LoginSessionStore, LoginStatus, LoginUpdate } from './login-sessions.js';
import {
  hashRefreshToken,
  type IssuedRefreshToken,
  type RefreshGrant,
  type RefreshTokenStore,
  type RevokedToken,
  type Rotation,
  ROTATION_ERRORS,
} from './refresh-tokens.js';
import type { RelayLogger } from './relay-log.js';
import type { SharedState, StateHealth } from './shared-state.js';
import type { SubjectRegistry } from './subject-registry.js';
import type { RevocationLog } from './token-authority.js';

export interface RedisStateOptions {
  /** redis:// or rediss:// URL (a password in it is never logged). */
  url: string;
  /** Prefix of every key and channel (default "mcpassistant:"): several relay deployments can share a Redis. */
  keyPrefix?: string;
  /** How long connect() waits for Redis at start, in ms (default 5,000). */
  connectTimeoutMs?: number;
  log: RelayLogger;
}

/** Redis could not be reached when the relay started; the message names the URL (no password) and the fix. */
export class RedisUnreachableError extends Error {
  override readonly name = 'RedisUnreachableError';
}

/** A Redis URL with its password (and user name) hidden, for messages and logs. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.href;
  } catch {
    return '(an invalid URL)';
  }
}

// Marks a rotated token used, starts its successor and extends the family to it; or says why not. On reuse it
// revokes the family and hands back its access tokens (id, exp, id, exp…).
// KEYS[1] rt:<hash>  ARGV: prefix, now, new hash, new expiry
const ROTATE = `
local fam = redis.call('HGET', KEYS[1], 'family')
if not fam then return {'unknown'} end
local famKey = ARGV[1] .. 'fam:' .. fam
local data = redis.call('HMGET', famKey, 'grant', 'revoked')
if not data[1] then return {'unknown'} end
if data[2] == '1' then return {'revoked'} end
local atKey = famKey .. ':at'
if redis.call('HGET', KEYS[1], 'used') == '1' then
  redis.call('HSET', famKey, 'revoked', '1')
  local ids = redis.call('HGETALL', atKey)
  redis.call('DEL', atKey)
  table.insert(ids, 1, 'reused')
  return ids
end
if tonumber(redis.call('HGET', KEYS[1], 'exp')) <= tonumber(ARGV[2]) then return {'expired'} end
redis.call('HSET', KEYS[1], 'used', '1')
local newKey = ARGV[1] .. 'rt:' .. ARGV[3]
redis.call('HSET', newKey, 'family', fam, 'exp', ARGV[4], 'used', '0')
redis.call('PEXPIREAT', newKey, ARGV[4])
redis.call('PEXPIREAT', famKey, ARGV[4])
redis.call('PEXPIREAT', atKey, ARGV[4])
return {'ok', fam, data[1]}
`;

// Remembers an access token of a family unless the family is gone or revoked (then 0: revoke the token too).
// KEYS[1] fam:<family>  ARGV: token id, its expiry, the family's expiry
const ADD_ACCESS_TOKEN = `
local revoked = redis.call('HGET', KEYS[1], 'revoked')
if revoked ~= '0' then return 0 end
local atKey = KEYS[1] .. ':at'
redis.call('HSET', atKey, ARGV[1], ARGV[2])
redis.call('PEXPIREAT', atKey, ARGV[3])
return 1
`;

// Revokes a family unless it is gone or revoked already; hands back its access tokens (id, exp, …).
// KEYS[1] fam:<family>
const REVOKE_FAMILY = `
local data = redis.call('HMGET', KEYS[1], 'grant', 'revoked')
if not data[1] or data[2] == '1' then return {'no'} end
redis.call('HSET', KEYS[1], 'revoked', '1')
local atKey = KEYS[1] .. ':at'
local ids = redis.call('HGETALL', atKey)
redis.call('DEL', atKey)
table.insert(ids, 1, 'yes')
return ids
`;

// Stores one oidc-provider entry and indexes it. KEYS[1] the entry; ARGV: payload JSON, TTL seconds ('' for
// none), grant set key (''), uid key (''), uid, clients key (''), entry id, now, max clients, prefix of entries.
const OIDC_UPSERT = `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'p', ARGV[1])
local ttl = tonumber(ARGV[2])
if ttl then redis.call('EXPIRE', KEYS[1], ttl) end
if ARGV[3] ~= '' then
  local existed = redis.call('EXISTS', ARGV[3])
  redis.call('SADD', ARGV[3], KEYS[1])
  local current = redis.call('TTL', ARGV[3])
  if not ttl then redis.call('PERSIST', ARGV[3])
  elseif existed == 0 or (current >= 0 and current < ttl) then redis.call('EXPIRE', ARGV[3], ttl) end
end
if ARGV[4] ~= '' then
  if ttl then redis.call('SET', ARGV[4], ARGV[5], 'EX', ttl) else redis.call('SET', ARGV[4], ARGV[5]) end
end
if ARGV[6] ~= '' then
  redis.call('ZADD', ARGV[6], ARGV[8], ARGV[7])
  while redis.call('ZCARD', ARGV[6]) > tonumber(ARGV[9]) do
    local oldest = redis.call('ZPOPMIN', ARGV[6])
    redis.call('DEL', ARGV[10] .. oldest[1])
  end
end
return 1
`;

// Deletes the tokens of a grant. KEYS[1] the grant's set.
const OIDC_REVOKE_GRANT = `
local members = redis.call('SMEMBERS', KEYS[1])
for _, key in ipairs(members) do redis.call('DEL', key) end
redis.call('DEL', KEYS[1])
return #members
`;

// Marks an entry consumed if it still exists. KEYS[1] the entry; ARGV[1] epoch seconds.
const OIDC_CONSUME = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'c', ARGV[1]) end
return 1
`;

// Adds a sign-in unless `max` are held. KEYS[1] login:<id>, KEYS[2] logins; ARGV: now, max, id, forget-at (epoch
// ms), fixed fields JSON, data JSON, login-key:<key> key ('' for none), expiry (epoch ms).
const LOGIN_CREATE = `
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
redis.call('HSET', KEYS[1], 'r', ARGV[5], 'd', ARGV[6], 'status', 'pending')
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
if ARGV[7] ~= '' then
  redis.call('SET', ARGV[7], ARGV[3])
  redis.call('PEXPIREAT', ARGV[7], ARGV[8])
end
return 1
`;

// Compare-and-set of a sign-in's status. KEYS[1] login:<id>; ARGV: from, to, login-key:<key> to delete (''),
// then field, value, field, value…
const LOGIN_TRANSITION = `
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if ARGV[3] ~= '' then redis.call('DEL', ARGV[3]) end
return 1
`;

// A redeemed code presented again: completed → replayed, handing back (once) what it was exchanged for.
// KEYS[1] login:<id>
const LOGIN_REPLAY = `
if redis.call('HGET', KEYS[1], 'status') ~= 'completed' then return {} end
local v = redis.call('HMGET', KEYS[1], 'family', 'token')
redis.call('HSET', KEYS[1], 'status', 'replayed')
redis.call('HDEL', KEYS[1], 'family', 'token')
return {v[1] or '', v[2] or ''}
`;

// Adds an app consent record unless the interaction has one; returns the one that stands.
// KEYS[1] consent:<uid>, KEYS[2] consent-id:<id>; ARGV: record JSON, keep ms, uid.
const CONSENT_ADD = `
local known = redis.call('HMGET', KEYS[1], 'r', 'state')
if known[1] then return known end
redis.call('HSET', KEYS[1], 'r', ARGV[1], 'state', 'waiting')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
return {ARGV[1], 'waiting'}
`;

// A waiting app consent becomes ARGV[1]; returns the state that stands. KEYS[1] consent:<uid>
const CONSENT_END = `
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'waiting' then
  redis.call('HSET', KEYS[1], 'state', ARGV[1])
  return ARGV[1]
end
return state
`;

/** Where LoginUpdate's fields live in a login:<id> hash. */
const LOGIN_FIELDS = {
  data: 'd',
  email: 'email',
  codeHash: 'code',
  failure: 'failure',
  family: 'family',
  tokenId: 'token',
} as const;

/** Models whose instances belong to a grant (oidc-provider's revokeByGrantId). */
const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
]);

/** id, exp, id, exp… → RevokedToken[] */
function pairs(flat: string[]): RevokedToken[] {
  const tokens: RevokedToken[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) tokens.push({ id: flat[i]!, expiresAt: Number(flat[i + 1]) });
  return tokens;
}

/** The relay's state in Redis: subjects, revocations, refresh-token families (see the top of this file). */
export class RedisState implements SharedState {
  readonly subjects: SubjectRegistry;
  readonly revocations: RevocationLog;
  readonly #client: Redis;
  /** Pub/sub needs a connection of its own; made by the first subscribe(). */
  #subscriber: Redis | undefined;
  readonly #prefix: string;
  readonly #where: string;
  /** Whether the first connection succeeded; the last connection error (for connect()'s message). */
  #connected = false;
  #lastError: Error | undefined;

  constructor(private readonly options: RedisStateOptions) {
    this.#prefix = options.keyPrefix ?? 'mcpassistant:';
    this.#where = redactRedisUrl(options.url);
    this.#client = new Redis(options.url, {
      lazyConnect: true,
      connectTimeout: options.connectTimeoutMs ?? 5000,
      // A request while Redis is away fails after one reconnection attempt instead of hanging the HTTP request.
      maxRetriesPerRequest: 1,
    });
    let warned = false;
    this.#client.on('error', (error: Error) => {
      this.#lastError = error;
      // Before the first connection, connect() reports the failure (with the fix) instead.
      if (warned || !this.#connected) return;
      warned = true;
      options.log.warn(`Redis at ${this.#where}: ${error.message} (reconnecting)`);
    });
    this.#client.on('ready', () => {
      if (warned) options.log.info(`Redis at ${this.#where}: connected again`);
      warned = false;
      this.#connected = true;
    });
    const client = this.#client;
    const key = (name: string) => this.#prefix + name;
    this.subjects = {
      owner: async (subject) => (await client.get(key(`subject:${subject}`))) ?? undefined,
      claim: async (subject, owner, onlyIfFree = false) => {
        if ((await client.set(key(`subject:${subject}`), owner, 'NX')) === 'OK') return true;
        return !onlyIfFree && (await client.get(key(`subject:${subject}`))) === owner;
      },
    };
    this.revocations = {
      add: async (id, expiresAt) => {
        const score = Number.isFinite(expiresAt) ? String(expiresAt) : '+inf';
        await client
          .multi()
          .zremrangebyscore(key('revoked'), '-inf', `(${Date.now()}`)
          .zadd(key('revoked'), score, id)
          .publish(key('revoked'), id)
          .exec();
      },
      load: () => client.zrangebyscore(key('revoked'), Date.now(), '+inf'),
      subscribe: async (listener, resync) => {
        const subscriber = (this.#subscriber ??= client.duplicate({ lazyConnect: true }));
        subscriber.on('error', () => undefined); // ignore: reported by the main connection's listener
        subscriber.on('message', (channel: string, id: string) => {
          if (channel === key('revoked')) listener(id);
        });
        let first = true;
        // After a reconnection (ioredis resubscribes by itself), what was revoked meanwhile is reloaded.
        subscriber.on('ready', () => {
          if (!first) resync();
          first = false;
        });
        await subscriber.connect();
        await subscriber.subscribe(key('revoked'));
      },
    };
  }

  refreshTokens(options: Readonly<{ lifetimeMs: number; now: () => number }>): RefreshTokenStore {
    const client = this.#client;
    const key = (name: string) => this.#prefix + name;
    const issue = async (family: string, grant?: RefreshGrant): Promise<IssuedRefreshToken> => {
      const token = randomBytes(32).toString('base64url');
      const expiresAt = options.now() + options.lifetimeMs;
      const rt = key(`rt:${hashRefreshToken(token)}`);
      const multi = client.multi();
      if (grant) multi.hset(key(`fam:${family}`), 'grant', JSON.stringify(grant), 'revoked', '0');
      await multi
        .hset(rt, 'family', family, 'exp', String(expiresAt), 'used', '0')
        .pexpireat(rt, expiresAt)
        .pexpireat(key(`fam:${family}`), expiresAt)
        .exec();
      return { token, expiresAt, family };
    };
    return {
      start: (grant) => issue(randomBytes(12).toString('base64url'), grant),
      addAccessToken: async (family, tokenId, expiresAt) =>
        (await client.eval(
          ADD_ACCESS_TOKEN,
          1,
          key(`fam:${family}`),
          tokenId,
          String(expiresAt),
          String(options.now() + options.lifetimeMs),
        )) === 1,
      rotate: async (token): Promise<Rotation> => {
        const next = randomBytes(32).toString('base64url');
        const expiresAt = options.now() + options.lifetimeMs;
        const reply = (await client.eval(
          ROTATE,
          1,
          key(`rt:${hashRefreshToken(token)}`),
          this.#prefix,
          String(options.now()),
          hashRefreshToken(next),
          String(expiresAt),
        )) as string[];
        const [outcome, ...rest] = reply;
        if (outcome === 'ok') {
          const [family, grant] = rest as [string, string];
          return {
            ok: true,
            grant: JSON.parse(grant) as RefreshGrant,
            issued: { token: next, expiresAt, family },
          };
        }
        const error = ROTATION_ERRORS[outcome as keyof typeof ROTATION_ERRORS] ?? ROTATION_ERRORS.unknown;
        return { ok: false, error, revokedTokens: outcome === 'reused' ? pairs(rest) : [] };
      },
      revokeFamilyOf: async (token) => {
        const family = await client.hget(key(`rt:${hashRefreshToken(token)}`), 'family');
        if (!family) return { revoked: false, revokedTokens: [] };
        const [outcome, ...rest] = (await client.eval(REVOKE_FAMILY, 1, key(`fam:${family}`))) as string[];
        return outcome === 'yes'
          ? { revoked: true, revokedTokens: pairs(rest) }
          : { revoked: false, revokedTokens: [] };
      },
      revokeFamily: async (family) => {
        const [outcome, ...rest] = (await client.eval(REVOKE_FAMILY, 1, key(`fam:${family}`))) as string[];
        return outcome === 'yes' ? pairs(rest) : [];
      },
      // Redis expires every key by its TTL.
      prune: () => undefined,
    };
  }

  /** Agent sign-ins in progress, shared by every relay on this Redis and kept across restarts. */
  loginSessions(): LoginSessionStore {
    const client = this.#client;
    const key = (name: string) => this.#prefix + name;
    const read = async (id: string): Promise<LoginRecord | undefined> => {
      const hash = await client.hgetall(key(`login:${id}`));
      if (!hash['r'] || !hash['status']) return undefined;
      const record = {
        ...(JSON.parse(hash['r']) as Omit<LoginRecord, 'data' | 'status'>),
        data: JSON.parse(hash['d'] ?? '{}') as Record<string, string>,
        status: hash['status'] as LoginStatus,
      };
      if (hash['email']) record.email = hash['email'];
      if (hash['code']) record.codeHash = hash['code'];
      if (hash['failure']) record.failure = hash['failure'];
      if (hash['family']) record.family = hash['family'];
      if (hash['token']) record.tokenId = hash['token'];
      return record;
    };
    return {
      create: async (record, keepMs, max) => {
        const { data, status: _status, ...fixed } = record;
        const created = await client.eval(
          LOGIN_CREATE,
          2,
          key(`login:${record.id}`),
          key('logins'),
          String(Date.now()),
          String(max),
          record.id,
          String(record.expiresAt + keepMs),
          JSON.stringify(fixed),
          JSON.stringify(data),
          record.key ? key(`login-key:${record.key}`) : '',
          String(record.expiresAt),
        );
        return created === 1;
      },
      get: read,
      byKey: async (lookup) => {
        const id = await client.get(key(`login-key:${lookup}`));
        return id ? read(id) : undefined;
      },
      transition: async (id, from, to, fields: LoginUpdate = {}) => {
        let keyKey = '';
        if (to !== 'pending') {
          const fixed = await client.hget(key(`login:${id}`), 'r');
          const lookup = fixed ? (JSON.parse(fixed) as { key?: string }).key : undefined;
          if (lookup) keyKey = key(`login-key:${lookup}`);
        }
        const pairs: string[] = [];
        for (const [name, value] of Object.entries(fields)) {
          if (value === undefined) continue;
          pairs.push(
            LOGIN_FIELDS[name as keyof LoginUpdate],
            typeof value === 'string' ? value : JSON.stringify(value),
          );
        }
        const done = await client.eval(LOGIN_TRANSITION, 1, key(`login:${id}`), from, to, keyKey, ...pairs);
        return done === 1;
      },
      replay: async (id) => {
        const [family, tokenId] = (await client.eval(LOGIN_REPLAY, 1, key(`login:${id}`))) as string[];
        return { ...(family && { family }), ...(tokenId && { tokenId }) };
      },
      // Redis expires every key by its TTL.
      prune: () => undefined,
    };
  }

  /** App consents in flight (./app-consent.ts), seen by every relay on this Redis. */
  appConsents(): AppConsentStore {
    const client = this.#client;
    const key = (name: string) => this.#prefix + name;
    const parse = (raw: string, state: string): AppConsentRecord => ({
      ...(JSON.parse(raw) as AppConsentRecord),
      state: state as AppConsentState,
    });
    return {
      add: async (uid, record, keepMs) => {
        const { state: _state, ...fixed } = record;
        const [raw, state] = (await client.eval(
          CONSENT_ADD,
          2,
          key(`consent:${uid}`),
          key(`consent-id:${record.consentId}`),
          JSON.stringify(fixed),
          String(keepMs),
          uid,
        )) as [string, string];
        return parse(raw, state);
      },
      get: async (uid) => {
        const [raw, state] = await client.hmget(key(`consent:${uid}`), 'r', 'state');
        return raw && state ? parse(raw, state) : undefined;
      },
      uidOf: async (consentId) => (await client.get(key(`consent-id:${consentId}`))) ?? undefined,
      end: async (uid, state) =>
        ((await client.eval(CONSENT_END, 1, key(`consent:${uid}`), state)) as AppConsentState | null) ??
        undefined,
      forget: async (uid) => {
        const raw = await client.hget(key(`consent:${uid}`), 'r');
        const consentId = raw ? (JSON.parse(raw) as { consentId: string }).consentId : undefined;
        await client.del(key(`consent:${uid}`), ...(consentId ? [key(`consent-id:${consentId}`)] : []));
      },
      // Redis expires every key by its TTL.
      prune: () => undefined,
    };
  }

  /**
   * A value every relay on this Redis shares under `name`: the first relay to ask stores what `make` returns
   * (SET NX), every other one (and this one after a restart) gets that. Kept until deleted.
   */
  async sharedValue(name: string, make: () => Promise<string>): Promise<string> {
    const entry = `${this.#prefix}keys:${name}`;
    const existing = await this.#client.get(entry);
    if (existing) return existing;
    await this.#client.set(entry, await make(), 'NX');
    return (await this.#client.get(entry))!;
  }

  /**
   * The authorization server's storage (oidc-provider's adapter) in Redis: grants, tokens and registered clients
   * survive a restart and are seen by every relay. Registered clients are capped at `maxClients` (default
   * 10,000, oldest dropped first), as in memory, so that open registration cannot fill Redis.
   */
  authorizationStore(options: Readonly<{ maxClients?: number }> = {}): AuthorizationStorage {
    const client = this.#client;
    const key = (name: string) => `${this.#prefix}oidc:${name}`;
    const read = async (entry: string): Promise<StoredPayload | undefined> => {
      const [payload, consumed] = await client.hmget(entry, 'p', 'c');
      if (!payload) return undefined;
      const parsed = JSON.parse(payload) as StoredPayload;
      if (consumed) parsed.consumed = Number(consumed);
      return parsed;
    };
    const revokeGrant = async (grantId: string) => {
      await client.eval(OIDC_REVOKE_GRANT, 1, key(`grant:${grantId}`));
    };
    const adapterFor = (model: string): OidcAdapter => ({
      upsert: async (id, payload, expiresIn) => {
        const grant = GRANTABLE.has(model) && typeof payload.grantId === 'string' ? payload.grantId : '';
        const uid = model === 'Session' && typeof payload.uid === 'string' ? payload.uid : '';
        await client.eval(
          OIDC_UPSERT,
          1,
          key(`${model}:${id}`),
          JSON.stringify(payload),
          typeof expiresIn === 'number' ? String(Math.max(1, Math.ceil(expiresIn))) : '',
          grant && key(`grant:${grant}`),
          uid && key(`uid:${uid}`),
          id,
          model === 'Client' ? key('clients') : '',
          id,
          String(Date.now()),
          String(options.maxClients ?? 10_000),
          key('Client:'),
        );
        if (model === 'Grant') await client.sadd(key('grants'), id);
      },
      find: (id) => read(key(`${model}:${id}`)),
      findByUid: async (uid) => {
        const id = await client.get(key(`uid:${uid}`));
        return id ? read(key(`${model}:${id}`)) : undefined;
      },
      // The device flow is not enabled.
      findByUserCode: () => Promise.resolve(undefined),
      consume: async (id) => {
        await client.eval(OIDC_CONSUME, 1, key(`${model}:${id}`), String(Math.floor(Date.now() / 1000)));
      },
      destroy: async (id) => {
        await client.del(key(`${model}:${id}`));
        if (model === 'Grant') await client.srem(key('grants'), id);
        if (model === 'Client') await client.zrem(key('clients'), id);
      },
      revokeByGrantId: revokeGrant,
    });
    return {
      adapterFor,
      grants: async () => {
        const ids = await client.smembers(key('grants'));
        const grants: [string, StoredPayload][] = [];
        for (const id of ids) {
          const payload = await read(key(`Grant:${id}`));
          if (payload) grants.push([id, payload]);
          else await client.srem(key('grants'), id); // expired: drop it from the index
        }
        return grants;
      },
      revokeGrant,
      // Redis expires every entry by its TTL.
      prune: () => undefined,
    };
  }

  async connect(): Promise<void> {
    try {
      await this.#client.connect();
      await this.#client.ping();
    } catch (error) {
      this.#client.disconnect();
      const cause = this.#lastError ?? (error as Error);
      throw new RedisUnreachableError(
        `cannot reach Redis at ${this.#where} (${cause.message}); start Redis there, or fix ` +
          'REDIS_URL (redis://[:password@]host:port[/db]), or unset it to keep the state in memory',
      );
    }
  }

  health(): StateHealth {
    // The subscriber too: without it this relay would miss revocations made on others.
    const subscribed = this.#subscriber === undefined || this.#subscriber.status === 'ready';
    return { backend: 'redis', connected: this.#client.status === 'ready' && subscribed };
  }

  async close(): Promise<void> {
    this.#subscriber?.disconnect();
    if (this.#client.status === 'ready') await this.#client.quit().catch(() => undefined);
    else this.#client.disconnect();
  }
}
