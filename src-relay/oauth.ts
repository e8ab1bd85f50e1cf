// Sign-in for agents: the /manage/oauth/* endpoints of COMPAT.md ("Remote HTTP endpoints"), with the
// identity proved by a pluggable provider (./identity: the built-in sign-in page, or any OpenID Connect
// provider).
//
//   agent  POST /manage/oauth/start {redirect_uri, subject?, …}  → {session_id, auth_url, expires_at, provider}
//   browser  auth_url … the provider's pages … → 302 redirect_uri?session_id=…&code=…
//                                               (or …&error=access_denied&error_description=…)
//   agent  POST /manage/oauth/complete {session_id, code} → {status: "complete", token, refresh_token, …}
//   agent  POST /manage/oauth/refresh {refresh_token}     → a new token and a new refresh token (rotation)
//   agent  POST /manage/oauth/logout {refresh_token}      → {revoked}
//
// redirect_uri must be a loopback URL (RFC 8252 section 7.3: the agent's own listener), so the code only
// ever reaches the machine that started the sign-in; it is single-use, expires with its login session, and
// is useless without the session id. Login sessions and codes live in memory (per relay instance: a sign-in must
// finish on the relay that started it); refresh tokens live in the relay's state store (./shared-state.ts: in
// memory, or in Redis where they survive a restart and are accepted by every relay on it).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { decodeJwt } from 'jose';

import { HttpError, readForm, readJsonObject, sendJson } from './http-util.js';
import { BuiltinProvider } from './identity/builtin.js';
import { OidcProvider } from './identity/oidc.js';
import { expiredPage, sendPage } from './identity/page.js';
import type {
  BrowserResult,
  IdentityConfig,
  IdentityProvider,
  LoginSessions,
  LoginSessionView,
} from './identity/provider.js';
import {
  MemoryRefreshTokenStore,
  type RefreshTokenStore,
  type RevokedToken,
  ROTATION_ERRORS,
} from './refresh-tokens.js';
import type { RelayLogger } from './relay-log.js';
import { identityOwner, SUBJECT_PATTERN, SUBJECT_RULE, type SubjectRegistry } from './subject-registry.js';
import { TokenAuthority } from './token-authority.js';

export interface OAuthSettings {
  identity: IdentityConfig;
  /** Lifetime of a refresh token (each rotation starts a new one). Default 30. */
  refreshTokenDays?: number;
  /** How long a login session waits for the browser and then for /complete. Default 10 minutes. */
  loginTtlMs?: number;
  /** Login sessions held at once (a bound on memory); more starts answer 429. Default 10,000. */
  maxLoginSessions?: number;
  /** The clock of sessions and refresh tokens (a seam for tests). */
  now?: () => number;
}

export interface OAuthFlowOptions {
  settings: OAuthSettings;
  tokens: TokenAuthority;
  subjects: SubjectRegistry;
  log: RelayLogger;
  /** A provider to use instead of the one settings.identity describes (tests, embedding). */
  provider?: IdentityProvider;
  /** Where refresh tokens live (Redis: ./redis-state.ts); default in memory. Its lifetime is the store's. */
  refreshTokens?: RefreshTokenStore;
}

type Status = 'pending' | 'signed-in' | 'failed' | 'completed';

interface LoginSession extends LoginSessionView {
  /**
   * `agent`: /manage/oauth/start, ends in /complete with agent tokens. `consent`: the owner of a subject
   * signing in before consenting to an MCP client (./authorization-server.ts); its code is redeemed by the
   * relay itself (redeemConsentSignIn) and never exchanged for tokens.
   */
  readonly purpose: 'agent' | 'consent';
  /** For `consent`: the authorization server's interaction this sign-in belongs to. */
  readonly interaction?: string;
  readonly subject: string | undefined;
  readonly capabilities: string[];
  readonly expiryMinutes: number;
  status: Status;
  key?: string;
  email?: string;
  codeHash?: Buffer;
  failure?: string;
  /** What /complete issued, revoked if its code is replayed. */
  family?: string;
  tokenId?: string;
}

const JSON_LIMIT = 64 * 1024;
const FORM_LIMIT = 16 * 1024;
const REDIRECT_RULE = 'http://127.0.0.1:<port>/<path> or http://localhost:<port>/<path>';

const sha256 = (text: string) => createHash('sha256').update(text).digest();

function createProvider(identity: IdentityConfig, log: RelayLogger): IdentityProvider {
  return identity.provider === 'builtin'
    ? new BuiltinProvider({ usersFile: identity.usersFile, log })
    : new OidcProvider({ ...identity, log });
}

export class OAuthFlow {
  readonly provider: IdentityProvider;
  readonly #sessions = new Map<string, LoginSession>();
  readonly #byKey = new Map<string, string>();
  readonly #refresh: RefreshTokenStore;
  readonly #now: () => number;
  readonly #ttlMs: number;
  readonly #lookup: LoginSessions;

  constructor(private readonly options: OAuthFlowOptions) {
    const { settings } = options;
    this.provider = options.provider ?? createProvider(settings.identity, options.log);
    this.#now = settings.now ?? Date.now;
    this.#ttlMs = settings.loginTtlMs ?? 10 * 60_000;
    this.#refresh =
      options.refreshTokens ??
      new MemoryRefreshTokenStore({
        lifetimeMs: (settings.refreshTokenDays ?? 30) * 24 * 3600_000,
        now: this.#now,
      });
    const pending = (session: LoginSession | undefined) =>
      session?.status === 'pending' && session.expiresAt > this.#now() ? session : undefined;
    this.#lookup = {
      get: (id) => pending(this.#sessions.get(id)),
      byKey: (key) => pending(this.#sessions.get(this.#byKey.get(key) ?? '')),
    };
  }

  init(): Promise<void> {
    return this.provider.init();
  }

  /** Forgets what has expired; the relay calls it every minute. */
  tick(): void {
    const now = this.#now();
    for (const [id, session] of this.#sessions) {
      // Kept one more TTL after expiry, so that a late /complete hears "expired" rather than "unknown".
      if (session.expiresAt + this.#ttlMs > now) continue;
      this.#sessions.delete(id);
      if (session.key) this.#byKey.delete(session.key);
    }
    this.#refresh.prune();
  }

  /** Serves a request under /manage/oauth/; `base` is the relay's URL as the request reached it. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL, base: URL): Promise<void> {
    const json = {
      '/manage/oauth/start': () => this.#start(req, res, base),
      '/manage/oauth/complete': () => this.#complete(req, res),
      '/manage/oauth/refresh': () => this.#refreshToken(req, res),
      '/manage/oauth/logout': () => this.#logout(req, res),
    }[url.pathname];
    if (json) {
      if (req.method !== 'POST') throw new HttpError(405, `use POST ${url.pathname}`, { Allow: 'POST' });
      return json();
    }
    const result = await this.provider.browser(
      {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        base,
        form: () => readForm(req, FORM_LIMIT),
      },
      this.#lookup,
    );
    if (!result) throw new HttpError(404, `no route for ${req.method} ${url.pathname}`);
    this.#browserResult(res, result);
  }

  // ── sign-in before consent (MCP client authorization) ───────────────────────────────────────────────────

  /**
   * Starts a browser sign-in for the authorization server's consent step: the identity provider's pages, then
   * a redirect to `returnTo` (a URL on this relay) with `session_id` and `code`, which redeemConsentSignIn
   * turns into the signed-in e-mail. `interaction` binds the sign-in to one authorization request.
   * Returns the URL to send the browser to. Throws an HttpError (429 when too many sign-ins are in progress,
   * 502 when the identity provider cannot be reached).
   */
  async beginConsentSignIn(returnTo: URL, base: URL, interaction: string): Promise<string> {
    this.tick();
    if (this.#sessions.size >= (this.options.settings.maxLoginSessions ?? 10_000))
      throw new HttpError(429, 'too many sign-ins in progress on this relay; try again in a few minutes');
    const session: LoginSession = {
      id: randomBytes(18).toString('base64url'),
      redirectUri: returnTo,
      expiresAt: this.#now() + this.#ttlMs,
      data: new Map(),
      purpose: 'consent',
      interaction,
      subject: undefined,
      capabilities: [],
      expiryMinutes: 0,
      status: 'pending',
    };
    let begun: { authUrl: string; key?: string };
    try {
      begun = await this.provider.begin(session, base);
    } catch (error) {
      this.options.log.warn(`consent sign-in: the identity provider failed: ${(error as Error).message}`);
      throw new HttpError(502, `the identity provider cannot be reached: ${(error as Error).message}`);
    }
    this.#sessions.set(session.id, session);
    if (begun.key) {
      session.key = begun.key;
      this.#byKey.set(begun.key, session.id);
    }
    return begun.authUrl;
  }

  /**
   * The e-mail a consent sign-in proved, once: undefined when the session is unknown, expired, failed, of
   * another interaction, already redeemed, or the code is wrong.
   */
  redeemConsentSignIn(sessionId: string, code: string, interaction: string): string | undefined {
    const session = this.#sessions.get(sessionId);
    if (
      !session ||
      session.purpose !== 'consent' ||
      session.interaction !== interaction ||
      session.status !== 'signed-in' ||
      session.expiresAt <= this.#now() ||
      !session.codeHash ||
      !timingSafeEqual(sha256(code), session.codeHash)
    )
      return undefined;
    session.status = 'completed';
    return session.email;
  }

  // ── start ───────────────────────────────────────────────────────────────────────────────────────────────

  async #start(req: IncomingMessage, res: ServerResponse, base: URL): Promise<void> {
    const body = await readJsonObject(req, JSON_LIMIT);
    const subject = body['subject'] ?? undefined;
    if (subject !== undefined && (typeof subject !== 'string' || !SUBJECT_PATTERN.test(subject)))
      throw new HttpError(400, `subject: ${SUBJECT_RULE}`);
    const expiryMinutes = expiryMinutesOf(body);
    const capabilities = body['capabilities'] ?? ['*'];
    if (!Array.isArray(capabilities) || !capabilities.every((c) => typeof c === 'string' && c))
      throw new HttpError(400, 'capabilities: a list of server names, or ["*"]');
    const redirectUri = loopbackRedirect(body['redirect_uri']);
    // A subject handed out by /manage/jwt/issue has no identity that could prove it is theirs.
    if (subject !== undefined && (await this.options.subjects.owner(subject)) === 'jwt')
      throw new HttpError(409, `subject "${subject}" is already taken`);

    this.tick();
    if (this.#sessions.size >= (this.options.settings.maxLoginSessions ?? 10_000))
      throw new HttpError(429, 'too many sign-ins in progress on this relay; try again in a few minutes');
    const now = this.#now();
    const session: LoginSession = {
      id: randomBytes(18).toString('base64url'),
      redirectUri,
      expiresAt: now + this.#ttlMs,
      data: new Map(),
      purpose: 'agent',
      subject,
      capabilities: capabilities as string[],
      expiryMinutes,
      status: 'pending',
    };
    let begun: { authUrl: string; key?: string };
    try {
      begun = await this.provider.begin(session, base);
    } catch (error) {
      this.options.log.warn(`sign-in start: the identity provider failed: ${(error as Error).message}`);
      throw new HttpError(502, `the identity provider cannot be reached: ${(error as Error).message}`);
    }
    this.#sessions.set(session.id, session);
    if (begun.key) {
      session.key = begun.key;
      this.#byKey.set(begun.key, session.id);
    }
    sendJson(res, 200, {
      session_id: session.id,
      auth_url: begun.authUrl,
      expires_at: new Date(session.expiresAt).toISOString(),
      provider: this.provider.name,
    });
  }

  // ── the browser's answer ───────────────────────────────────────────────────────────────────────────────

  #browserResult(res: ServerResponse, result: BrowserResult): void {
    if (result.kind === 'page') return sendPage(res, result.page);
    const session = this.#lookup.get(result.session) as LoginSession | undefined;
    if (!session) return sendPage(res, expiredPage());
    if (session.key) this.#byKey.delete(session.key);
    if (result.kind === 'failed') {
      session.status = 'failed';
      session.failure = result.description;
      this.options.log.info(`sign-in ${session.id.slice(0, 6)}… failed: ${result.error}`);
      return redirect(res, session.redirectUri, {
        session_id: session.id,
        error: result.error,
        error_description: result.description,
      });
    }
    const code = randomBytes(32).toString('base64url');
    session.status = 'signed-in';
    session.email = result.email;
    session.codeHash = sha256(code);
    redirect(res, session.redirectUri, { session_id: session.id, code });
  }

  // ── complete ────────────────────────────────────────────────────────────────────────────────────────────

  async #complete(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJsonObject(req, JSON_LIMIT);
    const { session_id: id, code } = body;
    if (typeof id !== 'string' || !id) throw new HttpError(400, 'session_id: required');
    if (typeof code !== 'string' || !code) throw new HttpError(400, 'code: required');
    const session = this.#sessions.get(id);
    // A consent sign-in proves who is at the browser; it is never exchanged for agent tokens.
    if (!session || session.purpose !== 'agent')
      throw new HttpError(400, 'unknown sign-in session; start the sign-in again');
    if (session.expiresAt <= this.#now()) {
      throw new HttpError(
        410,
        `the sign-in session has expired (a sign-in must finish within ${Math.round(this.#ttlMs / 60_000)} minutes); start the sign-in again`,
      );
    }
    if (session.status === 'pending')
      throw new HttpError(400, 'the sign-in has not finished in the browser yet');
    if (session.status === 'failed') throw new HttpError(403, `the sign-in failed: ${session.failure}`);
    const given = sha256(code);
    if (!session.codeHash || !timingSafeEqual(given, session.codeHash))
      throw new HttpError(400, 'the code is not valid for this sign-in session');
    if (session.status === 'completed') {
      // A replayed code: someone else may have it. Revoke what it was exchanged for (RFC 6749 4.1.2).
      const { family, tokenId } = session;
      session.family = session.tokenId = undefined;
      if (family) await this.#revokeTokens(await this.#refresh.revokeFamily(family));
      if (tokenId) await this.options.tokens.revokeId(tokenId, this.#now() + 1440 * 60_000);
      throw new HttpError(
        400,
        'the code was already used; the tokens issued for it are revoked, start the sign-in again',
      );
    }

    const email = session.email!;
    session.status = 'completed';
    let subject: string;
    try {
      subject = await this.#subjectFor(email, session.subject);
    } catch (error) {
      session.status = 'signed-in';
      throw error;
    }
    const refresh = await this.#refresh.start({ subject, email, capabilities: session.capabilities });
    const token = await this.#issue(refresh.family, subject, session.capabilities, session.expiryMinutes);
    session.family = refresh.family;
    session.tokenId = TokenAuthority.idOf(token, decodeJwt(token));
    this.options.log.info(`signed in: ${email} as ${subject}`);
    sendJson(res, 200, {
      status: 'complete',
      token,
      subject,
      email,
      refresh_token: refresh.token,
      refresh_expires_at: new Date(refresh.expiresAt).toISOString(),
      expiry_minutes: session.expiryMinutes,
      capabilities: session.capabilities,
      auth_mode: 'oauth',
    });
  }

  /**
   * The subject for `email`: the requested one when it is free or already this identity's; else derived
   * from the e-mail (its local part and a short hash, stable across sign-ins). A subject stays bound to the
   * first identity that got it: another one asking for it gets 409.
   */
  async #subjectFor(email: string, requested: string | undefined): Promise<string> {
    const owner = identityOwner(email);
    if (requested !== undefined) {
      if (await this.options.subjects.claim(requested, owner)) return requested;
      throw new HttpError(
        409,
        `subject "${requested}" belongs to another account; sign in without a subject to get your own`,
      );
    }
    const local = email
      .slice(0, email.lastIndexOf('@'))
      .replace(/[^a-z0-9._-]+/g, '-')
      .replace(/^[-.]+|[-.]+$/g, '')
      .slice(0, 40);
    const digest = createHash('sha256').update(email).digest('hex');
    // The longer form only when someone took the short one through /manage/jwt/issue.
    for (const length of [8, 20]) {
      const subject = `${local || 'user'}-${digest.slice(0, length)}`;
      if (await this.options.subjects.claim(subject, owner)) return subject;
    }
    throw new HttpError(409, 'no subject is free for this account; ask for one with "subject"');
  }

  // ── refresh and logout ─────────────────────────────────────────────────────────────────────────────────

  async #refreshToken(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJsonObject(req, JSON_LIMIT);
    const presented = body['refresh_token'];
    if (typeof presented !== 'string' || !presented) throw new HttpError(400, 'refresh_token: required');
    const expiryMinutes = expiryMinutesOf(body);
    const rotation = await this.#refresh.rotate(presented);
    if (!rotation.ok) {
      await this.#revokeTokens(rotation.revokedTokens);
      if (rotation.revokedTokens.length || /already used/.test(rotation.error))
        this.options.log.warn('a used refresh token was presented again: its sign-in is revoked');
      throw new HttpError(401, rotation.error);
    }
    const { grant, issued } = rotation;
    const token = await this.#issue(issued.family, grant.subject, grant.capabilities, expiryMinutes);
    sendJson(res, 200, {
      status: 'ok',
      token,
      subject: grant.subject,
      email: grant.email,
      refresh_token: issued.token,
      refresh_expires_at: new Date(issued.expiresAt).toISOString(),
      expiry_minutes: expiryMinutes,
      capabilities: grant.capabilities,
      auth_mode: 'oauth',
    });
  }

  async #logout(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJsonObject(req, JSON_LIMIT);
    const presented = body['refresh_token'];
    if (typeof presented !== 'string' || !presented) throw new HttpError(400, 'refresh_token: required');
    const { revoked, revokedTokens } = await this.#refresh.revokeFamilyOf(presented);
    await this.#revokeTokens(revokedTokens);
    sendJson(res, 200, { revoked });
  }

  async #issue(family: string, subject: string, capabilities: string[], minutes: number): Promise<string> {
    const token = await this.options.tokens.issue(subject, capabilities, minutes);
    const exp = (decodeJwt(token).exp ?? 0) * 1000;
    const id = TokenAuthority.idOf(token, decodeJwt(token));
    if (!(await this.#refresh.addAccessToken(family, id, exp))) {
      // The family was revoked between its rotation and now (its old token reused on another relay).
      await this.options.tokens.revokeId(id, exp);
      throw new HttpError(401, ROTATION_ERRORS.revoked);
    }
    return token;
  }

  async #revokeTokens(tokens: RevokedToken[]): Promise<void> {
    await Promise.all(tokens.map(({ id, expiresAt }) => this.options.tokens.revokeId(id, expiresAt)));
  }
}

function expiryMinutesOf(body: Record<string, unknown>): number {
  const minutes = body['expiry_minutes'] ?? 60;
  if (typeof minutes !== 'number' || !Number.isInteger(minutes) || minutes < 1 || minutes > 1440)
    throw new HttpError(400, 'expiry_minutes: a whole number from 1 to 1440');
  return minutes;
}

/** The agent's redirect_uri: a loopback http URL only (its fragment dropped, its query kept). */
function loopbackRedirect(value: unknown): URL {
  if (typeof value !== 'string' || !value)
    throw new HttpError(400, `redirect_uri: required, ${REDIRECT_RULE}`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new HttpError(400, `redirect_uri: not a URL; expected ${REDIRECT_RULE}`);
  }
  if (
    value.length > 2048 ||
    url.protocol !== 'http:' ||
    !['127.0.0.1', 'localhost'].includes(url.hostname) ||
    url.username ||
    url.password
  ) {
    throw new HttpError(400, `redirect_uri must be a loopback URL: ${REDIRECT_RULE}`);
  }
  url.hash = '';
  return url;
}

/** 302 to the agent's redirect_uri with `params` appended to its own query string, which is kept as is. */
function redirect(res: ServerResponse, target: URL, params: Record<string, string>): void {
  const href = target.href;
  const separator = href.endsWith('?') || href.endsWith('&') ? '' : target.search ? '&' : '?';
  const location = `${href}${separator}${new URLSearchParams(params).toString()}`;
  res.writeHead(302, {
    Location: location,
    'Content-Length': 0,
    'Cache-Control': 'no-store',
    // The code is in the Location: no Referer to whatever the agent's page loads.
    'Referrer-Policy': 'no-referrer',
  });
  res.end();
}
