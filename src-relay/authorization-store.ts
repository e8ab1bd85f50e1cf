// The storage of the relay's authorization server (./authorization-server.ts): oidc-provider's adapter
// interface. Two stores: this one, over one in-memory Map per relay (forgotten on restart: MCP clients then
// authorize again), and the Redis one (./redis-state.ts: grants, tokens and registered clients kept across
// restarts and shared by every relay on it). oidc-provider's own development
// adapter holds at most 1,000 entries across every model and evicts live tokens past that; this one holds
// `maxEntries`, forgets expired entries first, and only then the oldest.

/** What oidc-provider stores for one model instance (an access token, a grant, a session…). */
export type StoredPayload = Record<string, unknown> & {
  grantId?: string;
  uid?: string;
  userCode?: string;
  consumed?: number;
};

interface Entry {
  payload: StoredPayload;
  /** Epoch milliseconds; Infinity when oidc-provider gave no lifetime. */
  expiresAt: number;
}

/** Models whose instances belong to a grant and go with it (oidc-provider's revokeByGrantId). */
const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
]);

/** oidc-provider's adapter for one model (its docs: "Adapter"). */
export interface OidcAdapter {
  upsert(id: string, payload: StoredPayload, expiresIn?: number): Promise<void>;
  find(id: string): Promise<StoredPayload | undefined>;
  findByUid(uid: string): Promise<StoredPayload | undefined>;
  findByUserCode(userCode: string): Promise<StoredPayload | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

/** What the authorization server needs of its storage (memory here; Redis in ./redis-state.ts). */
export interface AuthorizationStorage {
  /** The adapter oidc-provider asks for, one per model name (`adapter` in its configuration). */
  adapterFor(model: string): OidcAdapter;
  /** The live grants, as [grant id, payload]. */
  grants(): Promise<[string, StoredPayload][]>;
  /** Deletes a grant's tokens (the grant itself is destroyed through its adapter). */
  revokeGrant(grantId: string): Promise<void>;
  /** Forgets what has expired (a no-op where the store expires entries itself). */
  prune(): void;
}

/** The storage shared by every model of one authorization server, in memory. */
export class AuthorizationStore implements AuthorizationStorage {
  readonly #entries = new Map<string, Entry>();
  /** Grant id → keys of the tokens issued under it. */
  readonly #grants = new Map<string, Set<string>>();
  /** Session uid → session id. */
  readonly #uids = new Map<string, string>();
  /** Keys of registered clients, oldest first. */
  readonly #clients = new Set<string>();

  constructor(
    private readonly options: Readonly<{
      /** Entries held at most (default 200,000). */
      maxEntries?: number;
      /** Registered clients held at most (default 10,000). */
      maxClients?: number;
      now?: () => number;
    }> = {},
  ) {}

  /** Entries held (expired ones included until the next prune). */
  get size(): number {
    return this.#entries.size;
  }

  /** The adapter oidc-provider asks for, one per model name (`adapter` in its configuration). */
  adapterFor(model: string): AuthorizationAdapter {
    return new AuthorizationAdapter(this, model);
  }

  /** Forgets expired entries; then, past maxEntries, the oldest. */
  prune(): void {
    const now = this.#now();
    for (const [key, entry] of this.#entries) if (entry.expiresAt <= now) this.delete(key);
    const max = this.options.maxEntries ?? 200_000;
    for (const key of this.#entries.keys()) {
      if (this.#entries.size <= max) break;
      this.delete(key);
    }
  }

  get(key: string): StoredPayload | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.#now()) {
      this.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  set(model: string, key: string, payload: StoredPayload, expiresInSeconds: number | undefined): void {
    this.delete(key);
    const expiresAt = typeof expiresInSeconds === 'number' ? this.#now() + expiresInSeconds * 1000 : Infinity;
    this.#entries.set(key, { payload, expiresAt });
    if (model === 'Session' && typeof payload.uid === 'string') this.#uids.set(payload.uid, key);
    if (GRANTABLE.has(model) && typeof payload.grantId === 'string') {
      const members = this.#grants.get(payload.grantId) ?? new Set<string>();
      members.add(key);
      this.#grants.set(payload.grantId, members);
    }
    if (model === 'Client') this.#capClients(key);
    if (this.#entries.size > (this.options.maxEntries ?? 200_000)) this.prune();
  }

  /**
   * Registration is open (RFC 7591, as MCP clients need it): registered clients, which never expire, are held
   * at most maxClients, the oldest registration dropped first, so that registering in a loop cannot push live
   * grants and tokens out of the store.
   */
  #capClients(added: string): void {
    this.#clients.delete(added);
    this.#clients.add(added);
    for (const key of this.#clients) {
      if (this.#clients.size <= (this.options.maxClients ?? 10_000)) break;
      this.delete(key);
    }
  }

  delete(key: string): void {
    this.#clients.delete(key);
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    const { uid, grantId } = entry.payload;
    if (typeof uid === 'string' && this.#uids.get(uid) === key) this.#uids.delete(uid);
    if (typeof grantId === 'string') {
      const members = this.#grants.get(grantId);
      members?.delete(key);
      if (members?.size === 0) this.#grants.delete(grantId);
    }
  }

  /** The live entries of one model, as [id, payload]. */
  *entries(model: string): Generator<[string, StoredPayload]> {
    const prefix = `${model}:`;
    const now = this.#now();
    for (const [key, entry] of this.#entries)
      if (key.startsWith(prefix) && entry.expiresAt > now) yield [key.slice(prefix.length), entry.payload];
  }

  grants(): Promise<[string, StoredPayload][]> {
    return Promise.resolve([...this.entries('Grant')]);
  }

  keyOfUid(uid: string): string | undefined {
    return this.#uids.get(uid);
  }

  /** Deletes every token issued under `grantId`. */
  revokeGrant(grantId: string): Promise<void> {
    for (const key of [...(this.#grants.get(grantId) ?? [])]) this.delete(key);
    this.#grants.delete(grantId);
    return Promise.resolve();
  }

  #now(): number {
    return (this.options.now ?? Date.now)();
  }
}

/** oidc-provider's adapter interface (its docs: "Adapter") for one model over an AuthorizationStore. */
export class AuthorizationAdapter implements OidcAdapter {
  constructor(
    private readonly store: AuthorizationStore,
    private readonly model: string,
  ) {}

  #key(id: string): string {
    return `${this.model}:${id}`;
  }

  upsert(id: string, payload: StoredPayload, expiresIn?: number): Promise<void> {
    this.store.set(this.model, this.#key(id), payload, expiresIn);
    return Promise.resolve();
  }

  find(id: string): Promise<StoredPayload | undefined> {
    return Promise.resolve(this.store.get(this.#key(id)));
  }

  findByUid(uid: string): Promise<StoredPayload | undefined> {
    const key = this.store.keyOfUid(uid);
    return Promise.resolve(key === undefined ? undefined : this.store.get(key));
  }

  findByUserCode(): Promise<undefined> {
    // The device flow is not enabled.
    return Promise.resolve(undefined);
  }

  consume(id: string): Promise<void> {
    const payload = this.store.get(this.#key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    return Promise.resolve();
  }

  destroy(id: string): Promise<void> {
    this.store.delete(this.#key(id));
    return Promise.resolve();
  }

  revokeByGrantId(grantId: string): Promise<void> {
    return this.store.revokeGrant(grantId);
  }
}
