// Refresh tokens of signed-in agents: opaque random strings, stored only as their sha256. Each sign-in starts a
// family; every refresh rotates the token within its family. Two stores: in memory (MemoryRefreshTokenStore:
// one relay; a restart forgets them and the agent signs in again) and in Redis (./redis-state.ts: shared by every
// relay on it and kept across restarts, rotation and reuse detection in one Lua script each).
//
// Rotation with reuse detection (OAuth 2.0 Security BCP, RFC 9700 section 4.14.2): a refresh token works
// once. Presenting one that was already used means two parties hold the family — the agent and someone who
// copied its token — and the relay cannot tell which is which, so the whole family is revoked: the newest
// token too, and the access tokens issued from it. Both then have to sign in again.
import { createHash, randomBytes } from 'node:crypto';

export interface RefreshGrant {
  subject: string;
  email: string;
  capabilities: string[];
}

export interface IssuedRefreshToken {
  token: string;
  expiresAt: number;
  family: string;
}

/** An access token revoked with its family: its revocation id (TokenAuthority.idOf) and expiry (epoch ms). */
export interface RevokedToken {
  id: string;
  expiresAt: number;
}

export type Rotation =
  | { ok: true; grant: RefreshGrant; issued: IssuedRefreshToken }
  | { ok: false; error: string; revokedTokens: RevokedToken[] };

/** Refresh-token families. Methods reject only when the shared store (Redis) cannot be reached. */
export interface RefreshTokenStore {
  /** Starts a family (a new sign-in) and returns its first token. */
  start(grant: RefreshGrant): Promise<IssuedRefreshToken>;
  /**
   * Remembers an access token issued from a family (expiresAt: epoch ms), to revoke it with the family. Resolves
   * false when the family is gone or was revoked meanwhile (reuse detected on another relay): revoke the token.
   */
  addAccessToken(family: string, tokenId: string, expiresAt: number): Promise<boolean>;
  /** Uses a refresh token, atomically: a new one of the same family, or why not (the family revoked on reuse). */
  rotate(token: string): Promise<Rotation>;
  /** Revokes the family of `token` (any of its tokens, used or not). */
  revokeFamilyOf(token: string): Promise<{ revoked: boolean; revokedTokens: RevokedToken[] }>;
  /** Revokes a family by its id; returns its access tokens. */
  revokeFamily(family: string): Promise<RevokedToken[]>;
  /** Forgets what has expired (a no-op where the store expires entries itself). */
  prune(): void;
}

/** What the messages of a failed rotation say (shared by both stores). */
export const ROTATION_ERRORS = {
  unknown: 'unknown refresh token; sign in again',
  revoked: 'the refresh token was revoked; sign in again',
  reused: 'the refresh token was already used; the sign-in is revoked, sign in again',
  expired: 'the refresh token has expired; sign in again',
} as const;

interface Family {
  grant: RefreshGrant;
  revoked: boolean;
  hashes: Set<string>;
  /** Revocation ids (TokenAuthority.idOf) and expiry of the access tokens issued from this family. */
  tokenIds: Map<string, number>;
}

interface Entry {
  family: string;
  expiresAt: number;
  used: boolean;
}

/** The stored form of a refresh token (hex sha256). */
export const hashRefreshToken = (token: string) => createHash('sha256').update(token).digest('hex');
const hash = hashRefreshToken;

/** The refresh-token families of a relay alone: in memory, forgotten on restart. */
export class MemoryRefreshTokenStore implements RefreshTokenStore {
  readonly #entries = new Map<string, Entry>();
  readonly #families = new Map<string, Family>();

  constructor(private readonly options: Readonly<{ lifetimeMs: number; now: () => number }>) {}

  // The interface is asynchronous for Redis; here every answer is ready at once.
  start(grant: RefreshGrant): Promise<IssuedRefreshToken> {
    const family = randomBytes(12).toString('base64url');
    this.#families.set(family, { grant, revoked: false, hashes: new Set(), tokenIds: new Map() });
    return Promise.resolve(this.#issue(family));
  }

  addAccessToken(family: string, tokenId: string, expiresAt: number): Promise<boolean> {
    const held = this.#families.get(family);
    if (!held || held.revoked) return Promise.resolve(false);
    held.tokenIds.set(tokenId, expiresAt);
    return Promise.resolve(true);
  }

  rotate(token: string): Promise<Rotation> {
    return Promise.resolve(this.#rotate(token));
  }

  #rotate(token: string): Rotation {
    const entry = this.#entries.get(hash(token));
    const family = entry && this.#families.get(entry.family);
    if (!entry || !family) return { ok: false, error: ROTATION_ERRORS.unknown, revokedTokens: [] };
    if (family.revoked) return { ok: false, error: ROTATION_ERRORS.revoked, revokedTokens: [] };
    if (entry.used) {
      // Reuse detection (see the top of this file): revoke the family, the newer tokens included.
      return { ok: false, error: ROTATION_ERRORS.reused, revokedTokens: this.#revoke(entry.family) };
    }
    if (entry.expiresAt <= this.options.now())
      return { ok: false, error: ROTATION_ERRORS.expired, revokedTokens: [] };
    entry.used = true;
    return { ok: true, grant: family.grant, issued: this.#issue(entry.family) };
  }

  revokeFamilyOf(token: string): Promise<{ revoked: boolean; revokedTokens: RevokedToken[] }> {
    const entry = this.#entries.get(hash(token));
    const family = entry && this.#families.get(entry.family);
    if (!entry || !family || family.revoked) return Promise.resolve({ revoked: false, revokedTokens: [] });
    return Promise.resolve({ revoked: true, revokedTokens: this.#revoke(entry.family) });
  }

  revokeFamily(family: string): Promise<RevokedToken[]> {
    return Promise.resolve(this.#families.get(family)?.revoked === false ? this.#revoke(family) : []);
  }

  /** Forgets families whose every token has expired (used tokens are kept until then: reuse detection). */
  prune(): void {
    const now = this.options.now();
    for (const [id, family] of this.#families) {
      for (const [tokenId, expiresAt] of family.tokenIds)
        if (expiresAt <= now) family.tokenIds.delete(tokenId);
      const live = [...family.hashes].some((h) => (this.#entries.get(h)?.expiresAt ?? 0) > now);
      if (live) continue;
      for (const h of family.hashes) this.#entries.delete(h);
      this.#families.delete(id);
    }
  }

  /** Families held (for tests and /healthz-like diagnostics). */
  get size(): number {
    return this.#families.size;
  }

  #issue(family: string): IssuedRefreshToken {
    const token = randomBytes(32).toString('base64url');
    const expiresAt = this.options.now() + this.options.lifetimeMs;
    const h = hash(token);
    this.#entries.set(h, { family, expiresAt, used: false });
    this.#families.get(family)!.hashes.add(h);
    return { token, expiresAt, family };
  }

  #revoke(id: string): RevokedToken[] {
    const family = this.#families.get(id)!;
    family.revoked = true;
    const ids = [...family.tokenIds].map(([tokenId, expiresAt]) => ({ id: tokenId, expiresAt }));
    family.tokenIds.clear();
    return ids;
  }
}
