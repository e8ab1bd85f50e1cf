// Agent sign-ins in progress (./oauth.ts): from /manage/oauth/start (or the consent page's sign-in) to the
// provider's answer in the browser and /complete. Two stores: in memory (one relay; a restart forgets them) and
// in Redis (./redis-state.ts: every relay on it sees the same sign-in, so the agent's and the browser's steps may
// each reach another relay, and a sign-in begun before a restart finishes after it). Every change of status is
// a compare-and-set (one Lua script in Redis), so a code is redeemed once however many relays it reaches.

/**
 * Where a sign-in stands: `pending` (waiting for the browser), `signed-in` (the provider said who; a code was
 * sent to the agent), `failed`, `completed` (its code was redeemed), `replayed` (its code was presented again:
 * what it was exchanged for is revoked).
 */
export type LoginStatus = 'pending' | 'signed-in' | 'failed' | 'completed' | 'replayed';

/** One sign-in, as stored (JSON-safe). */
export interface LoginRecord {
  readonly id: string;
  /** The agent's loopback redirect_uri, or the consent page's return URL (href). */
  readonly redirectUri: string;
  /** When the sign-in stops being usable, epoch ms. */
  readonly expiresAt: number;
  /**
   * `agent`: /manage/oauth/start, ends in /complete with agent tokens. `consent`: the owner of a subject signing
   * in before consenting to an MCP client (./authorization-server.ts), redeemed by the relay itself.
   */
  readonly purpose: 'agent' | 'consent';
  /** For `consent`: the authorization server's interaction this sign-in belongs to. */
  readonly interaction?: string;
  readonly subject?: string;
  readonly capabilities: string[];
  readonly expiryMinutes: number;
  /** The provider's lookup key (the OIDC `state`), when it gave one. */
  readonly key?: string;
  /** The provider's own values (PKCE verifier, nonce, failed attempts…). */
  data: Record<string, string>;
  status: LoginStatus;
  email?: string;
  /** sha256 of the code sent to the agent, hex. */
  codeHash?: string;
  failure?: string;
  /** What /complete issued (the refresh-token family, the access token's revocation id). */
  family?: string;
  tokenId?: string;
}

/** Fields a status change may set. */
export type LoginUpdate = Partial<
  Pick<LoginRecord, 'data' | 'email' | 'codeHash' | 'failure' | 'family' | 'tokenId'>
>;

/** Sign-ins in progress. Methods reject only when the shared store (Redis) cannot be reached. */
export interface LoginSessionStore {
  /**
   * Adds a sign-in, kept until `expiresAt + keepMs` (so that a late /complete hears "expired", not "unknown").
   * Resolves false, adding nothing, when `max` sign-ins are held already.
   */
  create(record: LoginRecord, keepMs: number, max: number): Promise<boolean>;
  get(id: string): Promise<LoginRecord | undefined>;
  /** The sign-in whose provider key is `key`, while it is pending. */
  byKey(key: string): Promise<LoginRecord | undefined>;
  /** Atomically: when the sign-in's status is `from`, sets `to` and `fields`; resolves whether it did. */
  transition(id: string, from: LoginStatus, to: LoginStatus, fields?: LoginUpdate): Promise<boolean>;
  /**
   * A code presented again: atomically moves a `completed` sign-in to `replayed` and hands back (once) what it
   * was exchanged for, to revoke. Resolves {} when there is nothing (left) to revoke.
   */
  replay(id: string): Promise<{ family?: string; tokenId?: string }>;
  /** Forgets what has expired (a no-op where the store expires entries itself). */
  prune(now: number): void;
}

/** A relay alone: sign-ins in this process. */
export class MemoryLoginSessionStore implements LoginSessionStore {
  readonly #records = new Map<string, { record: LoginRecord; forgetAt: number }>();
  readonly #byKey = new Map<string, string>();

  create(record: LoginRecord, keepMs: number, max: number): Promise<boolean> {
    if (this.#records.size >= max) return Promise.resolve(false);
    this.#records.set(record.id, { record: structuredClone(record), forgetAt: record.expiresAt + keepMs });
    if (record.key) this.#byKey.set(record.key, record.id);
    return Promise.resolve(true);
  }

  get(id: string): Promise<LoginRecord | undefined> {
    const entry = this.#records.get(id);
    return Promise.resolve(entry && structuredClone(entry.record));
  }

  byKey(key: string): Promise<LoginRecord | undefined> {
    const id = this.#byKey.get(key);
    return id === undefined ? Promise.resolve(undefined) : this.get(id);
  }

  transition(id: string, from: LoginStatus, to: LoginStatus, fields: LoginUpdate = {}): Promise<boolean> {
    const record = this.#records.get(id)?.record;
    if (record?.status !== from) return Promise.resolve(false);
    Object.assign(record, structuredClone(fields), { status: to });
    if (to !== 'pending' && record.key) this.#byKey.delete(record.key);
    return Promise.resolve(true);
  }

  replay(id: string): Promise<{ family?: string; tokenId?: string }> {
    const record = this.#records.get(id)?.record;
    if (record?.status !== 'completed') return Promise.resolve({});
    const { family, tokenId } = record;
    record.status = 'replayed';
    record.family = record.tokenId = undefined;
    return Promise.resolve({ ...(family && { family }), ...(tokenId && { tokenId }) });
  }

  prune(now: number): void {
    for (const [id, { record, forgetAt }] of this.#records) {
      if (forgetAt > now) continue;
      this.#records.delete(id);
      if (record.key) this.#byKey.delete(record.key);
    }
  }
}
