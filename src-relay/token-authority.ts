// Verifying and issuing the relay's JWTs (HS256 with JWT_SECRET by default, as the existing remote does).
// Tokens from the existing remote (sub, role, capabilities, exp) are accepted as they are; ours also carry
// iss, aud, iat and a jti. iss/aud are checked only when configured (JWT_ISSUER/JWT_AUDIENCE): unconfigured,
// ours still name an issuer (the relay's public URL) and the audience "mcpassistant-relay", so that a token
// says where it came from (COMPAT.md, "Known weaknesses"), while tokens without them stay valid.
// Revocation is by jti, or by the token's hash for tokens that have none. Revocations are held in memory (a set
// checked on every verify, cached tokens included) and, with a shared RevocationLog (Redis, ./redis-state.ts),
// written there and learnt from there: loaded at init(), then pushed by every relay that revokes (pub/sub), so a
// token revoked on one relay is refused by all of them and their agents using it are disconnected. An MCP
// client's OAuth grant that ends is announced through the same log as `grant:<grant id>` (never a JWT's id):
// every relay then ends the streams it opened (credential-requests.ts, issue 12).
import { createHash, randomUUID } from 'node:crypto';

import { decodeJwt, errors as joseErrors, jwtVerify, SignJWT } from 'jose';

/** What a token may do: `agent` registers on /connect; `client` only calls its subject's MCP routes. */
export type TokenRole = 'agent' | 'client';

export interface TokenClaims {
  sub: string;
  role?: string;
  capabilities: string[];
  exp?: number;
  jti?: string;
}

export type Verified = { ok: true; claims: TokenClaims; id: string } | { ok: false; error: string };

/**
 * Revocations shared between relays (and kept across restarts). `add` resolves once every subscribed relay has
 * been told; `subscribe` hears every revocation, this relay's own included, and `load` what is in force.
 */
export interface RevocationLog {
  /** Records `id` as revoked until `expiresAt` (epoch ms; Infinity for a token without exp) and announces it. */
  add(id: string, expiresAt: number): Promise<void>;
  /** The ids revoked and not yet expired. */
  load(): Promise<string[]>;
  /** Calls `listener` with every id revoked from now on (and `resync` after a lost connection to reload). */
  subscribe(listener: (id: string) => void, resync: () => void): Promise<void>;
}

/** How long a revocation of unknown expiry is kept: the longest lifetime of a token this relay issues (a year). */
const DEFAULT_REVOCATION_MS = 366 * 24 * 3600_000;

export interface TokenAuthorityOptions {
  secret: string;
  algorithm?: string;
  /** Required iss (checked on verify) and the iss of issued tokens. */
  issuer?: string;
  /** Required aud (checked on verify) and the aud of issued tokens. */
  audience?: string;
  /** The iss of issued tokens when `issuer` is unset (not checked on verify). */
  defaultIssuer?: () => string | undefined;
  /** Revocations shared with other relays (Redis); without it they live in this process only. */
  revocations?: RevocationLog;
}

/** The aud of issued tokens when no audience is configured. */
export const DEFAULT_AUDIENCE = 'mcpassistant-relay';

/** Verified tokens remembered: every MCP request carries the same bearer, and verifying it each time was a
 * third of the relay's CPU per call (npm run bench, profiled). Bounded; expiry and revocation still apply. */
const VERIFIED_CACHE_SIZE = 1024;

export class TokenAuthority {
  readonly #key: Uint8Array;
  /** Revoked ids and until when (epoch ms) they need remembering: past a token's expiry it is refused anyway. */
  readonly #revoked = new Map<string, number>();
  #nextPrune = 0;
  readonly #verified = new Map<string, Extract<Verified, { ok: true }>>();
  readonly #onRevoke = new Set<(id: string) => void>();

  constructor(private readonly options: TokenAuthorityOptions) {
    this.#key = new TextEncoder().encode(options.secret);
  }

  /**
   * Loads the revocations in force from the shared log and follows it. Call before serving; a no-op without a
   * shared log. Rejects when the log cannot be read (Redis unreachable).
   */
  async init(): Promise<void> {
    const log = this.options.revocations;
    if (!log) return;
    const resync = () => {
      log.load().then(
        (ids) => ids.forEach((id) => this.#applyRevocation(id)),
        () => undefined, // ignore: the next reconnection resyncs again
      );
    };
    await log.subscribe((id) => this.#applyRevocation(id), resync);
    for (const id of await log.load()) this.#applyRevocation(id);
  }

  /** A stable id for revocation: the jti, else a hash of the token. */
  static idOf(token: string, claims?: { jti?: unknown }): string {
    return typeof claims?.jti === 'string'
      ? `jti:${claims.jti}`
      : `sha256:${createHash('sha256').update(token).digest('hex')}`;
  }

  async verify(token: string): Promise<Verified> {
    const cached = this.#verified.get(token);
    if (cached) {
      const { exp } = cached.claims;
      if (!this.#revoked.has(cached.id) && (exp === undefined || exp * 1000 > Date.now())) return cached;
      this.#verified.delete(token);
    }
    const verified = await this.#verifyUncached(token);
    if (verified.ok) {
      if (this.#verified.size >= VERIFIED_CACHE_SIZE)
        this.#verified.delete(this.#verified.keys().next().value!);
      this.#verified.set(token, verified);
    }
    return verified;
  }

  async #verifyUncached(token: string): Promise<Verified> {
    try {
      const { payload } = await jwtVerify(token, this.#key, {
        algorithms: [this.options.algorithm ?? 'HS256'],
        issuer: this.options.issuer,
        audience: this.options.audience,
      });
      if (typeof payload.sub !== 'string' || !payload.sub)
        return { ok: false, error: 'the token has no subject (sub)' };
      const id = TokenAuthority.idOf(token, payload);
      if (this.#revoked.has(id)) return { ok: false, error: 'the token was revoked' };
      const capabilities = Array.isArray(payload['capabilities'])
        ? payload['capabilities'].filter((c): c is string => typeof c === 'string')
        : [];
      const role = typeof payload['role'] === 'string' ? payload['role'] : undefined;
      return {
        ok: true,
        id,
        claims: { sub: payload.sub, role, capabilities, exp: payload.exp, jti: payload.jti },
      };
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) return { ok: false, error: 'the token has expired' };
      if (error instanceof joseErrors.JWTClaimValidationFailed)
        return { ok: false, error: `the token's ${error.claim} is not accepted here` };
      return { ok: false, error: 'the token is not valid for this relay' };
    }
  }

  /**
   * Signs a token for `subject`. `role` says what it may do: `agent` registers on /connect (and, compat,
   * calls the client routes); `client` calls the client routes of its subject only and is refused on
   * /connect (issue 8: a token handed to MCP clients must not let them impersonate the agent).
   */
  async issue(
    subject: string,
    capabilities: string[],
    expiryMinutes: number,
    role: TokenRole = 'agent',
  ): Promise<string> {
    let jwt = new SignJWT({ role, capabilities })
      .setProtectedHeader({ alg: this.options.algorithm ?? 'HS256' })
      .setSubject(subject)
      .setIssuedAt()
      .setJti(randomUUID())
      .setExpirationTime(`${expiryMinutes}m`);
    const issuer = this.options.issuer ?? this.options.defaultIssuer?.();
    if (issuer) jwt = jwt.setIssuer(issuer);
    jwt = jwt.setAudience(this.options.audience ?? DEFAULT_AUDIENCE);
    return jwt.sign(this.#key);
  }

  /** Revokes a token this relay signed. Returns false for a token it cannot verify the signature of. */
  async revoke(token: string): Promise<boolean> {
    try {
      // Expired tokens can still be revoked; the signature must be ours.
      await jwtVerify(token, this.#key, {
        algorithms: [this.options.algorithm ?? 'HS256'],
        currentDate: new Date(0),
      });
    } catch (error) {
      if (!(error instanceof joseErrors.JWTClaimValidationFailed)) return false;
    }
    const claims = decodeJwt(token);
    await this.revokeId(
      TokenAuthority.idOf(token, claims),
      typeof claims.exp === 'number' ? claims.exp * 1000 : Infinity,
    );
    return true;
  }

  /**
   * Revokes by id (see idOf): for tokens this relay issued and remembers by id, such as a sign-in's. Takes effect
   * here at once; resolves when the shared log (if any) has it and has told the other relays. `expiresAt` (epoch
   * ms) bounds how long the revocation is kept (default: a year, the longest lifetime of a token issued here).
   */
  async revokeId(id: string, expiresAt = Date.now() + DEFAULT_REVOCATION_MS): Promise<void> {
    this.#applyRevocation(id, expiresAt);
    await this.options.revocations?.add(id, expiresAt);
  }

  /** `expiresAt` of a revocation another relay announced is not told: kept as long as the longest token. */
  #applyRevocation(id: string, expiresAt = Date.now() + DEFAULT_REVOCATION_MS): void {
    this.#prune();
    if (this.#revoked.has(id)) return;
    this.#revoked.set(id, expiresAt);
    for (const listener of this.#onRevoke) listener(id);
  }

  /** Forgets, at most once a minute, the revocations whose tokens have expired: the set stays bounded. */
  #prune(now = Date.now()): void {
    if (now < this.#nextPrune) return;
    this.#nextPrune = now + 60_000;
    for (const [id, until] of this.#revoked) if (until <= now) this.#revoked.delete(id);
  }

  /** Whether `id` (see idOf, or `grant:<id>` for an OAuth grant) is revoked, as this relay knows now. */
  isRevoked(id: string): boolean {
    return this.#revoked.has(id);
  }

  onRevoke(listener: (id: string) => void): () => void {
    this.#onRevoke.add(listener);
    return () => this.#onRevoke.delete(listener);
  }
}

/** Whether a token's capabilities claim lets it reach `server`. */
export function allows(capabilities: readonly string[], server: string): boolean {
  return capabilities.includes('*') || capabilities.includes(server);
}
