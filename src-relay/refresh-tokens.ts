// Refresh tokens of signed-in agents: opaque random strings, stored only as their sha256, in memory (per
// relay instance: a restart or another instance behind a load balancer does not know them, and the agent
// signs in again). Each sign-in starts a family; every refresh rotates the token within its family.
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

export type Rotation =
  | { ok: true; grant: RefreshGrant; issued: IssuedRefreshToken }
  | { ok: false; error: string; revokedTokenIds: string[] };

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

const hash = (token: string) => createHash('sha256').update(token).digest('hex');

export class RefreshTokenStore {
  readonly #entries = new Map<string, Entry>();
  readonly #families = new Map<string, Family>();

  constructor(private readonly options: Readonly<{ lifetimeMs: number; now: () => number }>) {}

  /** Starts a family (a new sign-in) and returns its first token. */
  start(grant: RefreshGrant): IssuedRefreshToken {
    const family = randomBytes(12).toString('base64url');
    this.#families.set(family, { grant, revoked: false, hashes: new Set(), tokenIds: new Map() });
    return this.#issue(family);
  }

  /** Remembers an access token issued from a family, to revoke it with the family. */
  addAccessToken(family: string, tokenId: string, expiresAt: number): void {
    this.#families.get(family)?.tokenIds.set(tokenId, expiresAt);
  }

  /** Uses a refresh token: a new one of the same family, or why not (the family revoked on reuse). */
  rotate(token: string): Rotation {
    const entry = this.#entries.get(hash(token));
    const family = entry && this.#families.get(entry.family);
    if (!entry || !family)
      return { ok: false, error: 'unknown refresh token; sign in again', revokedTokenIds: [] };
    if (family.revoked)
      return { ok: false, error: 'the refresh token was revoked; sign in again', revokedTokenIds: [] };
    if (entry.used) {
      // Reuse detection (see the top of this file): revoke the family, the newer tokens included.
      return {
        ok: false,
        error: 'the refresh token was already used; the sign-in is revoked, sign in again',
        revokedTokenIds: this.#revoke(entry.family),
      };
    }
    if (entry.expiresAt <= this.options.now())
      return { ok: false, error: 'the refresh token has expired; sign in again', revokedTokenIds: [] };
    entry.used = true;
    return { ok: true, grant: family.grant, issued: this.#issue(entry.family) };
  }

  /** Revokes the family of `token` (any of its tokens, used or not). */
  revokeFamilyOf(token: string): { revoked: boolean; revokedTokenIds: string[] } {
    const entry = this.#entries.get(hash(token));
    const family = entry && this.#families.get(entry.family);
    if (!entry || !family || family.revoked) return { revoked: false, revokedTokenIds: [] };
    return { revoked: true, revokedTokenIds: this.#revoke(entry.family) };
  }

  /** Revokes a family by its id; returns the ids of its access tokens. */
  revokeFamily(family: string): string[] {
    return this.#families.get(family)?.revoked === false ? this.#revoke(family) : [];
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

  #revoke(id: string): string[] {
    const family = this.#families.get(id)!;
    family.revoked = true;
    const ids = [...family.tokenIds.keys()];
    family.tokenIds.clear();
    return ids;
  }
}
