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
// is useless without the session id. Login sessions (with their codes' hashes) and refresh tokens live in the
// relay's state store (./shared-state.ts: in memory, or in Redis where they survive a restart and every relay on
// it sees them, so that each step of a sign-in may reach another relay: ./login-sessions.ts).
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
import { type LoginRecord, type LoginSessionStore, MemoryLoginSessionStore } from './login-sessions.js';
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
  /** Where sign-ins in progress live (Redis: ./redis-state.ts); default in memory. */
  loginSessions?: LoginSessionStore;
}

const JSON_LIMIT = 64 * 1024;
const FORM_LIMIT = 16 * 1024;
const REDIRECT_RULE = 'http://127.0.0.1:<port>/<path> or http://localhost:<port>/<path>';

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/** Whether `code` hashes to `codeHash` (hex), in constant time. */
const codeMatches = (code: string, codeHash: string | undefined) =>
  codeHash !== undefined && timingSafeEqual(sha256(code), Buffer.from(codeHash, 'hex'));

/** What a provider sees of a stored sign-in (its `data` a copy: changes are saved after the request). */
const viewOf = (record: LoginRecord): LoginSessionView => ({
  id: record.id,
  redirectUri: new URL(record.redirectUri),
  expiresAt: record.expiresAt,
  data: new Map(Object.entries(record.data)),
});

function createProvider(identity: IdentityConfig, log: RelayLogger): IdentityProvider {
  return identity.provider === 'builtin'
    ? new BuiltinProvider({ usersFile: identity.usersFile, log })
    : new OidcProvider({ ...identity, log });
}

export class OAuthFlow {
  readonly provider: IdentityProvider;
  readonly #store: LoginSessionStore;
  readonly #refresh: RefreshTokenStore;
  readonly #now: () => number;
  readonly #ttlMs: number;

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
    this.#store = options.loginSessions ?? new MemoryLoginSessionStore();
  }

  init(): Promise<void> {
    return this.provider.init();
  }

  /** Forgets what has expired; the relay calls it every minute. */
  tick(): void {
    this.#store.prune(this.#now());
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
    // The sign-ins the provider looked at, to save what it changed in their data (failed attempts…).
    const seen = new Map<string, { view: LoginSessionView; before: string }>();
    const pending = (record: LoginRecord | undefined) => {
      if (record?.status !== 'pending' || record.expiresAt <= this.#now()) return undefined;
      const view = viewOf(record);
      seen.set(view.id, { view, before: JSON.stringify(record.data) });
      return view;
    };
    const lookup: LoginSessions = {
      get: async (id) => pending(id ? await this.#store.get(id) : undefined),
      byKey: async (key) => pending(key ? await this.#store.byKey(key) : undefined),
    };
    const result = await this.provider.browser(
      {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        base,
        form: () => readForm(req, FORM_LIMIT),
      },
      lookup,
    );
    if (!result) throw new HttpError(404, `no route for ${req.method} ${url.pathname}`);
    for (const { view, before } of seen.values()) {
      const data = Object.fromEntries(view.data);
      if (JSON.stringify(data) !== before)
        await this.#store.transition(view.id, 'pending', 'pending', { data });
    }
    await this.#browserResult(res, result);
  }

  /**
   * Stores a new sign-in after its provider's begin(); returns the URL to open in the browser. Throws an
   * HttpError (429 when too many sign-ins are in progress, 502 when the identity provider cannot be reached).
   */
  async #begin(
    fields: Pick<LoginRecord, 'purpose' | 'interaction' | 'subject' | 'capabilities' | 'expiryMinutes'>,
    redirectUri: URL,
    base: URL,
  ): Promise<{ id: string; authUrl: string; expiresAt: number }> {
    this.tick();
    const id = randomBytes(18).toString('base64url');
    const expiresAt = this.#now() + this.#ttlMs;
    const view: LoginSessionView = { id, redirectUri, expiresAt, data: new Map() };
    let begun: { authUrl: string; key?: string };
    try {
      begun = await this.provider.begin(view, base);
    } catch (error) {
      this.options.log.warn(`sign-in start: the identity provider failed: ${(error as Error).message}`);
      throw new HttpError(502, `the identity provider cannot be reached: ${(error as Error).message}`);
    }
    const record: LoginRecord = {
      ...fields,
      id,
      redirectUri: redirectUri.href,
      expiresAt,
      ...(begun.key && { key: begun.key }),
      data: Object.fromEntries(view.data),
      status: 'pending',
    };
    // Kept one more TTL after expiry, so that a late /complete hears "expired" rather than "unknown".
    if (!(await this.#store.create(record, this.#ttlMs, this.options.settings.maxLoginSessions ?? 10_000)))
      throw new HttpError(
        429,
        'too many sign-ins in progress on this relay (on all relays sharing its Redis); try again in a few minutes',
      );
    return { id, authUrl: begun.authUrl, expiresAt };
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
    const { authUrl } = await this.#begin(
      { purpose: 'consent', interaction, capabilities: [], expiryMinutes: 0 },
      returnTo,
      base,
    );
    return authUrl;
  }

  /**
   * The e-mail a consent sign-in proved, once: undefined when the session is unknown, expired, failed, of
   * another interaction, already redeemed, or the code is wrong.
   */
  async redeemConsentSignIn(
    sessionId: string,
    code: string,
    interaction: string,
  ): Promise<string | undefined> {
    const session = sessionId ? await this.#store.get(sessionId) : undefined;
    if (
      !session ||
      session.purpose !== 'consent' ||
      session.interaction !== interaction ||
      session.status !== 'signed-in' ||
      session.expiresAt <= this.#now() ||
      !codeMatches(code, session.codeHash) ||
      // Once, whichever relay the browser's redirect reaches first.
      !(await this.#store.transition(session.id, 'signed-in', 'completed'))
    )
      return undefined;
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

    const session = await this.#begin(
      { purpose: 'agent', subject, capabilities: capabilities as string[], expiryMinutes },
      redirectUri,
      base,
    );
    sendJson(res, 200, {
      session_id: session.id,
      auth_url: session.authUrl,
      expires_at: new Date(session.expiresAt).toISOString(),
      provider: this.provider.name,
    });
  }

  // ── the browser's answer ───────────────────────────────────────────────────────────────────────────────

  async #browserResult(res: ServerResponse, result: BrowserResult): Promise<void> {
    if (result.kind === 'page') return sendPage(res, result.page);
    const session = await this.#store.get(result.session);
    if (!session || session.expiresAt <= this.#now()) return sendPage(res, expiredPage());
    const redirectUri = new URL(session.redirectUri);
    if (result.kind === 'failed') {
      // The browser's answer counts once, whichever relay it reaches.
      if (!(await this.#store.transition(session.id, 'pending', 'failed', { failure: result.description })))
        return sendPage(res, expiredPage());
      this.options.log.info(`sign-in ${session.id.slice(0, 6)}… failed: ${result.error}`);
      return redirect(res, redirectUri, {
        session_id: session.id,
        error: result.error,
        error_description: result.description,
      });
    }
    const code = randomBytes(32).toString('base64url');
    const signedIn = { email: result.email, codeHash: sha256(code).toString('hex') };
    if (!(await this.#store.transition(session.id, 'pending', 'signed-in', signedIn)))
      return sendPage(res, expiredPage());
    redirect(res, redirectUri, { session_id: session.id, code });
  }

  // ── complete ────────────────────────────────────────────────────────────────────────────────────────────

  async #complete(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJsonObject(req, JSON_LIMIT);
    const { session_id: id, code } = body;
    if (typeof id !== 'string' || !id) throw new HttpError(400, 'session_id: required');
    if (typeof code !== 'string' || !code) throw new HttpError(400, 'code: required');
    const session = await this.#store.get(id);
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
    if (!codeMatches(code, session.codeHash))
      throw new HttpError(400, 'the code is not valid for this sign-in session');
    // Redeemed once, atomically, whichever relay /complete reaches: a second presentation is a replay.
    if (session.status !== 'signed-in' || !(await this.#store.transition(id, 'signed-in', 'completed'))) {
      // A replayed code: someone else may have it. Revoke what it was exchanged for (RFC 6749 4.1.2).
      await this.#revokeIssued(await this.#store.replay(id));
      throw new HttpError(
        400,
        'the code was already used; the tokens issued for it are revoked, start the sign-in again',
      );
    }

    const email = session.email!;
    let subject: string;
    try {
      subject = await this.#subjectFor(email, session.subject);
    } catch (error) {
      await this.#store.transition(id, 'completed', 'signed-in');
      throw error;
    }
    const refresh = await this.#refresh.start({ subject, email, capabilities: session.capabilities });
    const token = await this.#issue(refresh.family, subject, session.capabilities, session.expiryMinutes);
    const issued = { family: refresh.family, tokenId: TokenAuthority.idOf(token, decodeJwt(token)) };
    // A replay that came while these were issued found nothing to revoke: revoke them here instead.
    if (!(await this.#store.transition(id, 'completed', 'completed', issued))) {
      await this.#revokeIssued(issued);
      throw new HttpError(
        400,
        'the code was already used; the tokens issued for it are revoked, start the sign-in again',
      );
    }
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

  /** Revokes what a sign-in's code was exchanged for (its refresh-token family and first access token). */
  async #revokeIssued({ family, tokenId }: { family?: string; tokenId?: string }): Promise<void> {
    if (family) await this.#revokeTokens(await this.#refresh.revokeFamily(family));
    if (tokenId) await this.options.tokens.revokeId(tokenId, this.#now() + 1440 * 60_000);
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
