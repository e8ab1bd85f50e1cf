// The relay as an MCP authorization server and resource server for remote MCP clients (issue 12; MCP spec
// 2025-11-25 and 2026-07-28, "Authorization"), built on oidc-provider (a certified OAuth 2.0 / OpenID Connect
// implementation): this file configures it and adds what is the relay's own.
//
//   client  POST /a/s/mcp (no token)            → 401 WWW-Authenticate: Bearer resource_metadata="…", scope="mcp"
//   client  GET /.well-known/oauth-protected-resource/a/s/mcp   → RFC 9728 metadata naming this issuer
//   client  GET /.well-known/oauth-authorization-server (or openid-configuration) → RFC 8414 metadata
//   client  registers: its client_id is the https URL of its Client ID Metadata Document, or POST /oauth/register
//           (RFC 7591)
//   browser GET /oauth/authorize?…&code_challenge=…(S256)&resource=<relay>/a/s/mcp
//           → /oauth/interaction/<uid>: the owner signs in through the relay's identity provider (oauth.ts)
//           → /oauth/interaction/<uid>: consent names the client, the servers and the subject
//           → 303 to the client's redirect_uri with code, state and iss (RFC 9207)
//   client  POST /oauth/token (code + code_verifier + resource) → an opaque access token for that one resource
//           (RFC 8707) and a refresh token that rotates on every use
//   client  POST /oauth/revoke (RFC 7009); revoking a refresh token revokes its grant and every token of it
//
// Access tokens are opaque and looked up on every MCP request (verify): an expired or revoked one is refused at
// once on every session, and one for server A or subject S never reaches server B or subject T (its audience is
// one resource URL). Only the person who owns a subject (SubjectRegistry: the identity that signed its agent
// in) can consent for it. State is in the relay's store (authorization-store.ts in memory: gone on restart; or
// Redis, ./redis-state.ts: kept across restarts and shared by the relays on it).
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { exportJWK, generateKeyPair } from 'jose';
import type Provider from 'oidc-provider';
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';

import { AppConsent, type AppConsentStore, type ConsentAgent } from './app-consent.js';
import { type AuthorizationStorage, AuthorizationStore } from './authorization-store.js';
import { HttpError, readForm, sendJson } from './http-util.js';
import { consentPage } from './identity/consent.js';
import { messagePage, sendPage } from './identity/page.js';
import type { OAuthFlow } from './oauth.js';
import type { RelayLogger } from './relay-log.js';
import { identityOwner, SUBJECT_PATTERN, type SubjectRegistry } from './subject-registry.js';

/** The one scope of an MCP server on this relay (advertised in the 401 challenge and the resource metadata). */
export const MCP_SCOPE = 'mcp';

/** The authorization server's endpoints, under the relay's base URL. */
export const AUTHORIZATION_ROUTES = {
  authorization: '/oauth/authorize',
  token: '/oauth/token',
  registration: '/oauth/register',
  revocation: '/oauth/revoke',
  jwks: '/oauth/jwks',
  end_session: '/oauth/logout',
  userinfo: '/oauth/userinfo',
  introspection: '/oauth/introspect',
  pushed_authorization_request: '/oauth/par',
  backchannel_authentication: '/oauth/backchannel',
  code_verification: '/oauth/device',
  device_authorization: '/oauth/device/auth',
  challenge: '/oauth/challenge',
  credential: '/oauth/credential',
} as const;

const INTERACTION = /^\/oauth\/interaction\/([A-Za-z0-9_-]{1,64})(?:\/(signed-in|confirm))?$/;
const RESOURCE_METADATA = '/.well-known/oauth-protected-resource';

export interface AuthorizationServerOptions {
  /** The issuer: the relay's public base URL without a trailing slash (PUBLIC_BASE_URL, or where it listens). */
  issuer: string;
  /** The relay's sign-in (its identity provider), used to prove who is consenting. */
  signIn: OAuthFlow;
  /** Who owns each subject: only the owner may consent for it. */
  subjects: SubjectRegistry;
  log: RelayLogger;
  /** Lifetime of an access token, in minutes. Default 60. */
  accessTokenMinutes?: number;
  /** Lifetime of a refresh token (each rotation starts a new one) and of a grant, in days. Default 30. */
  refreshTokenDays?: number;
  /** Accept Client ID Metadata Documents (client_id = an https URL the relay fetches). Default true. */
  clientIdMetadataDocuments?: boolean;
  /**
   * Fetches Client ID Metadata Documents. Default: oidc-provider's, which refuses loopback and private
   * addresses (SSRF protection) and follows no redirect. Tests pass one that reaches a loopback https server.
   */
  fetch?: (url: URL | string, init: RequestInit) => Promise<Response>;
  /** Where grants, tokens and registered clients live; default in memory (this process only). */
  store?: AuthorizationStorage;
  /**
   * Consent answered from the app (./app-consent.ts): the connected agent of a subject, asked while its owner
   * looks at the consent page when it announced the `consent` feature. Without it only the page answers.
   */
  agentOf?: (subject: string) => ConsentAgent | undefined | Promise<ConsentAgent | undefined>;
  /** Where app consents live (Redis: shared by every relay); default in this process. */
  appConsentStore?: AppConsentStore;
  /** How long the consent page waits for the app's answer before only its own buttons count, in ms. Default 120 000. */
  appConsentTimeoutMs?: number;
  /**
   * Called when a grant ends before its time: the client revoked one of its tokens (RFC 7009), reused a refresh
   * token (oidc-provider revokes the grant), or the owner ended it (revokeGrants). `expiresAt` (epoch ms) is
   * when the last access token it could have issued expires. The relay ends the streams the grant's access
   * tokens opened, on every relay (issue 12). Its rejection is logged; the grant is revoked regardless.
   */
  onGrantRevoked?: (grantId: string, expiresAt: number) => Promise<void> | void;
  /**
   * The key that signs oidc-provider's cookies (the interaction and session cookies, base64url). Every relay of
   * a deployment must use the same one, kept across restarts, so that a browser's next step may reach another
   * relay, or this one restarted. Default: random at each init() (one relay, a restart ends sign-ins).
   */
  cookieKey?: string;
  /**
   * The signing key (a private JWK as JSON) shared under `name` by every relay: returns the stored one, or
   * stores what `make` returns (./shared-state.ts sharedValue). Default: `make()`, a new key at each init().
   */
  sharedValue?: (name: string, make: () => Promise<string>) => Promise<string>;
}

/** A grant as GET /manage/client-grants lists it (snake_case: it is a wire shape). */
export interface ClientGrant {
  /** The grant's id (opaque). */
  id: string;
  client_id: string;
  client_name?: string;
  /** The servers of the subject it covers. */
  servers: string[];
  /** When the owner consented (ISO 8601). */
  granted_at: string;
}

/** The outcome of checking an OAuth access token on an MCP request. */
export type AccessCheck =
  | { ok: true; clientId: string; email: string; grantId: string; expiresAt: number }
  | { ok: false; error: string };

export class AuthorizationServer {
  readonly issuer: string;
  readonly #store: AuthorizationStorage;
  /** Consents asked of the owner's app while the consent page shows (undefined without `agentOf`). */
  readonly appConsent: AppConsent | undefined;
  #provider: Provider | undefined;
  #invalidTarget: (indicator: string) => Error = () => new Error('invalid_target');
  #serve: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | undefined;

  constructor(private readonly options: AuthorizationServerOptions) {
    this.issuer = options.issuer.replace(/\/+$/, '');
    this.#store = options.store ?? new AuthorizationStore();
    const agentOf = options.agentOf;
    this.appConsent =
      agentOf &&
      new AppConsent({
        agentOf,
        store: options.appConsentStore,
        timeoutMs: options.appConsentTimeoutMs,
        log: options.log,
      });
  }

  /**
   * Creates the provider (its signing and cookie keys: the options', else fresh ones in memory). Must finish
   * before handle/verify. Rejects when the shared store cannot be reached.
   */
  async init(): Promise<void> {
    // Loaded only when sign-in is configured: a relay without it never loads oidc-provider.
    const { default: ProviderClass, errors, interactionPolicy } = await import('oidc-provider');
    // Consent is asked until the owner has allowed this client on every MCP server it names. oidc-provider's
    // own checks only ask when scopes are missing, so a request with no scope at all would skip the consent
    // page (the conformance suite's authorization request does that).
    const policy = interactionPolicy.base();
    policy.get('consent')!.checks.add(
      new interactionPolicy.Check(
        'mcp_servers_not_allowed',
        'the owner has not allowed this client on these MCP servers',
        (ctx) => {
          const resources = Object.keys(ctx.oidc.resourceServers ?? {});
          const allowed = (resource: string) =>
            ctx.oidc.grant?.getResourceScope(resource).split(' ').includes(MCP_SCOPE) ?? false;
          return resources.length === 0 || !resources.every(allowed);
        },
      ),
    );
    this.#invalidTarget = (indicator) =>
      new errors.InvalidTarget(
        `${indicator} is not an MCP server of this relay (<relay>/<subject>/<server>/mcp)`,
      );
    const makeKey = async () => {
      const { privateKey } = await generateKeyPair('RS256', { extractable: true });
      return JSON.stringify({
        ...(await exportJWK(privateKey)),
        kid: randomBytes(8).toString('hex'),
        use: 'sig',
      });
    };
    const shared = this.options.sharedValue ?? ((_name, make) => make());
    const jwk = JSON.parse(await shared('oidc-signing-jwk', makeKey)) as Record<string, unknown>;
    const provider = new ProviderClass(this.issuer, this.#configuration(jwk, policy));
    // handle() names the issuer's host and scheme on every request it passes on (below): oidc-provider builds
    // its endpoint URLs and cookie flags from them, whatever Host and proxy the request came through.
    provider.proxy = true;
    // A request without `scope` gets the default scope, mcp (RFC 6749 section 3.3: "process the request using
    // a pre-defined default value"); oidc-provider would otherwise refuse it with access_denied after consent.
    provider.use(async (ctx, next) => {
      if (ctx.path === AUTHORIZATION_ROUTES.authorization && ctx.method === 'GET' && !ctx.query['scope'])
        ctx.query = { ...ctx.query, scope: MCP_SCOPE };
      await next();
    });
    provider.on('server_error', (_ctx: unknown, error: Error) =>
      this.options.log.error('authorization server error:', error),
    );
    provider.on('grant.error', (_ctx: unknown, error: Error & { error_detail?: string }) =>
      this.options.log.debug(
        `token request refused: ${error.message} (${error.error_detail ?? 'no detail'})`,
      ),
    );
    provider.on('revocation.error', (_ctx: unknown, error: Error) =>
      this.options.log.debug(`token revocation refused: ${error.message}`),
    );
    // The client's revocation (RFC 7009, revokeGrantPolicy below) and a refresh token's reuse both end here.
    provider.on('grant.revoked', (_ctx: unknown, grantId: string) => void this.#grantRevoked(grantId));
    const callback = provider.callback();
    this.#provider = provider;
    this.#serve = (req, res) => Promise.resolve(callback(req, res));
  }

  /** Forgets what has expired; the relay calls it every minute. */
  tick(): void {
    this.#store.prune();
    this.appConsent?.tick();
  }

  /** Stops the timers of consents asked of apps (the relay is closing). */
  close(): void {
    this.appConsent?.close();
  }

  /** The canonical resource URL (RFC 8707, RFC 9728 `resource`) of a server of a subject. */
  resourceFor(subject: string, server: string): string {
    return `${this.issuer}/${encodeURIComponent(subject)}/${encodeURIComponent(server)}/mcp`;
  }

  /** The RFC 9728 metadata URL of a resource: the well-known path inserted before its path (section 3.1). */
  resourceMetadataUrl(subject: string, server: string): string {
    const resource = new URL(this.resourceFor(subject, server));
    return `${resource.origin}${RESOURCE_METADATA}${resource.pathname}`;
  }

  /**
   * The `WWW-Authenticate` challenge of a 401 on an MCP route (RFC 6750 section 3, RFC 9728 section 5.1):
   * names the resource metadata and the scope; `error` is `invalid_token` for a token that was presented.
   */
  challenge(subject: string, server: string, error?: { code: string; description: string }): string {
    const params = [
      `resource_metadata="${this.resourceMetadataUrl(subject, server)}"`,
      `scope="${MCP_SCOPE}"`,
    ];
    if (error) {
      params.push(`error="${error.code}"`);
      params.push(`error_description="${error.description.replace(/["\\]/g, "'")}"`);
    }
    return `Bearer ${params.join(', ')}`;
  }

  /** Whether a request path is the authorization server's (metadata, endpoints, its pages). */
  handles(path: string): boolean {
    return (
      path.startsWith('/oauth/') ||
      path === '/.well-known/oauth-authorization-server' ||
      path === '/.well-known/openid-configuration' ||
      path === RESOURCE_METADATA ||
      path.startsWith(`${RESOURCE_METADATA}/`)
    );
  }

  /** Serves a path for which handles() is true. Throws HttpError for what it refuses. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const provider = this.#ready();
    const path = url.pathname;
    if (path === RESOURCE_METADATA || path.startsWith(`${RESOURCE_METADATA}/`))
      return this.#resourceMetadata(req, res, path.slice(RESOURCE_METADATA.length));
    const interaction = INTERACTION.exec(path);
    if (interaction) return this.#interaction(provider, req, res, url, interaction[1]!, interaction[2]);
    // RFC 8414 section 3 and OpenID Connect Discovery serve the same metadata here: the issuer has no path.
    if (path === '/.well-known/oauth-authorization-server') {
      req.url = `/.well-known/openid-configuration${url.search}`;
    }
    // Endpoints and metadata always name the issuer (PUBLIC_BASE_URL), never a Host or X-Forwarded-Host the
    // caller chose; https there means secure cookies even behind a TLS-terminating proxy.
    const issuer = new URL(this.issuer);
    req.headers.host = issuer.host;
    req.headers['x-forwarded-proto'] = issuer.protocol.slice(0, -1);
    delete req.headers['x-forwarded-host'];
    delete req.headers['x-forwarded-port'];
    await this.#serve!(req, res);
  }

  /**
   * Checks an OAuth access token on a request to `server` of `subject`: it must be live (not expired, not
   * revoked), issued for exactly that resource, and granted by the subject's owner.
   */
  async verify(token: string, subject: string, server: string): Promise<AccessCheck> {
    const provider = this.#ready();
    const found = await provider.AccessToken.find(token);
    if (!found) return { ok: false, error: 'the access token is unknown, expired or revoked' };
    const audience = (found as unknown as { aud?: unknown }).aud;
    const expected = this.resourceFor(subject, server);
    if (audience !== expected) {
      return {
        ok: false,
        error: `the access token is not for ${expected}; authorize this client for that MCP server`,
      };
    }
    const email = found.accountId;
    if (!email || (await this.options.subjects.owner(subject)) !== identityOwner(email))
      return { ok: false, error: 'the access token was not granted by the owner of this subject' };
    // Every access token of the authorization code flow belongs to a grant; one without would be a bug.
    if (!found.grantId) return { ok: false, error: 'the access token belongs to no grant' };
    // oidc-provider's exp is epoch seconds; a live token found has one.
    const exp = (found as unknown as { exp?: unknown }).exp;
    const expiresAt =
      typeof exp === 'number' ? exp * 1000 : Date.now() + (this.options.accessTokenMinutes ?? 60) * 60_000;
    return { ok: true, clientId: found.clientId ?? '', email, grantId: found.grantId, expiresAt };
  }

  /** Whether `token` is a live access token of this authorization server (to refuse it on /connect). */
  async isAccessToken(token: string): Promise<boolean> {
    return (await this.#ready().AccessToken.find(token)) !== undefined;
  }

  /**
   * The grants the owner of `subject` made to MCP clients on its servers (for GET /manage/client-grants): one
   * entry per grant, with the client's name when it gave one. Expired grants are left out.
   */
  async grantsOf(subject: string): Promise<ClientGrant[]> {
    const provider = this.#ready();
    const grants: ClientGrant[] = [];
    for (const [id, payload] of await this.#store.grants()) {
      const servers = this.#serversOf(payload, subject);
      if (!servers.length) continue;
      const clientId = typeof payload['clientId'] === 'string' ? payload['clientId'] : '';
      const client = await provider.Client.find(clientId).catch(() => undefined);
      grants.push({
        id,
        client_id: clientId,
        ...(client?.clientName ? { client_name: client.clientName } : {}),
        servers,
        granted_at: new Date(Number(payload['iat'] ?? 0) * 1000).toISOString(),
      });
    }
    return grants;
  }

  /**
   * Ends the grants made on `subject`'s servers (only those of `clientId` when given): every access and
   * refresh token issued under them stops working at once. Returns how many grants ended.
   */
  async revokeGrants(subject: string, clientId?: string): Promise<number> {
    const provider = this.#ready();
    let revoked = 0;
    for (const [id, payload] of await this.#store.grants()) {
      if (!this.#serversOf(payload, subject).length) continue;
      if (clientId !== undefined && payload['clientId'] !== clientId) continue;
      await this.#store.revokeGrant(id);
      await provider.Grant.adapter.destroy(id);
      await this.#grantRevoked(id);
      revoked++;
    }
    if (revoked) this.options.log.info(`revoked ${revoked} MCP client grant(s) on subject "${subject}"`);
    return revoked;
  }

  /** Tells onGrantRevoked; never rejects (a failure to announce is logged, the grant is gone regardless). */
  async #grantRevoked(grantId: string): Promise<void> {
    const expiresAt = Date.now() + (this.options.accessTokenMinutes ?? 60) * 60_000;
    try {
      await this.options.onGrantRevoked?.(grantId, expiresAt);
    } catch (error) {
      this.options.log.warn(`a revoked grant's open streams may stay open: ${(error as Error).message}`);
    }
  }

  /** The servers of `subject` a stored grant covers. */
  #serversOf(payload: Record<string, unknown>, subject: string): string[] {
    const resources = payload['resources'];
    if (!resources || typeof resources !== 'object') return [];
    return Object.keys(resources)
      .map((resource) => this.#parseResource(resource))
      .filter((target) => target?.subject === subject)
      .map((target) => target!.server);
  }

  // ── RFC 9728 ─────────────────────────────────────────────────────────────────────────────────────────────

  #resourceMetadata(req: IncomingMessage, res: ServerResponse, resourcePath: string): void {
    if (req.method !== 'GET') throw new HttpError(405, `use GET ${RESOURCE_METADATA}…`, { Allow: 'GET' });
    const target = this.#parseResource(`${this.issuer}${resourcePath}`);
    if (!target) {
      throw new HttpError(
        404,
        `no protected resource at ${resourcePath || '/'}; MCP servers are at /<subject>/<server>/mcp`,
      );
    }
    sendJson(
      res,
      200,
      {
        resource: this.resourceFor(target.subject, target.server),
        authorization_servers: [this.issuer],
        scopes_supported: [MCP_SCOPE],
        bearer_methods_supported: ['header'],
        resource_name: `${target.server} (${target.subject}) on MCP Assistant Gateway relay`,
      },
      { 'Cache-Control': 'public, max-age=300' },
    );
  }

  /** The subject and server of a resource URL of this relay, or undefined when it names none. */
  #parseResource(resource: string): { subject: string; server: string } | undefined {
    if (!resource.startsWith(`${this.issuer}/`)) return undefined;
    const match = /^([^/?#]+)\/([^/?#]+)\/mcp$/.exec(resource.slice(this.issuer.length + 1));
    if (!match) return undefined;
    try {
      const subject = decodeURIComponent(match[1]!);
      const server = decodeURIComponent(match[2]!);
      if (!SUBJECT_PATTERN.test(subject) || !server || server.includes('/')) return undefined;
      return { subject, server };
    } catch {
      return undefined;
    }
  }

  // ── sign-in and consent ─────────────────────────────────────────────────────────────────────────────────

  async #interaction(
    provider: Provider,
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    uid: string,
    step: string | undefined,
  ): Promise<void> {
    let details: Awaited<ReturnType<Provider['interactionDetails']>>;
    try {
      details = await provider.interactionDetails(req, res);
    } catch {
      return sendPage(res, expiredAuthorization());
    }
    if (details.uid !== uid) return sendPage(res, expiredAuthorization());
    const deny = (description: string, error = 'access_denied') =>
      provider.interactionFinished(
        req,
        res,
        { error, error_description: description },
        { mergeWithLastSubmission: false },
      );

    if (details.prompt.name === 'login') {
      if (step === 'signed-in') {
        if (req.method !== 'GET') throw new HttpError(405, 'use GET', { Allow: 'GET' });
        const error = url.searchParams.get('error');
        if (error !== null)
          return deny(url.searchParams.get('error_description') ?? 'the sign-in did not succeed');
        const email = await this.options.signIn.redeemConsentSignIn(
          url.searchParams.get('session_id') ?? '',
          url.searchParams.get('code') ?? '',
          uid,
        );
        if (!email) return sendPage(res, expiredAuthorization());
        return provider.interactionFinished(
          req,
          res,
          { login: { accountId: email } },
          { mergeWithLastSubmission: false },
        );
      }
      if (req.method !== 'GET' || step) throw new HttpError(405, 'use GET', { Allow: 'GET' });
      const base = new URL(`${this.issuer}/`);
      const returnTo = new URL(`oauth/interaction/${uid}/signed-in`, base);
      const authUrl = await this.options.signIn.beginConsentSignIn(returnTo, base, uid);
      res.writeHead(303, { Location: authUrl, 'Content-Length': 0, 'Cache-Control': 'no-store' });
      res.end();
      return;
    }

    if (details.prompt.name !== 'consent') return deny(`unexpected prompt ${details.prompt.name}`);
    const email = details.session?.accountId;
    const clientId = stringParam(details.params['client_id']);
    const client = await provider.Client.find(clientId);
    if (!email || !client) return sendPage(res, expiredAuthorization());
    const resources = [details.params['resource'] ?? []].flat().map(String);
    const targets = resources.map((r) => this.#parseResource(r));
    const subjects = new Set(targets.map((t) => t?.subject));
    if (!targets.length || targets.some((t) => !t) || subjects.size !== 1) {
      return deny(
        'name the MCP server with the resource parameter (RFC 8707): one or more servers of one subject on this relay',
        'invalid_target',
      );
    }
    const subject = targets[0]!.subject;
    const owner = (await this.options.subjects.owner(subject)) === identityOwner(email);
    const servers = targets.map((t) => t!.server);
    const allow = async (via: string) => {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: email, clientId });
      if (!grant) return sendPage(res, expiredAuthorization());
      for (const resource of resources) grant.addResourceScope(resource, MCP_SCOPE);
      const missingOidc = (details.prompt.details as { missingOIDCScope?: string[] }).missingOIDCScope;
      if (missingOidc?.length) grant.addOIDCScope(missingOidc);
      const grantId = await grant.save();
      this.options.log.info(
        `consent: ${email} allowed client ${clientId} on ${servers.map((s) => `${subject}/${s}`).join(', ')} (${via})`,
      );
      return provider.interactionFinished(
        req,
        res,
        { consent: { grantId } },
        { mergeWithLastSubmission: true },
      );
    };

    if (step === 'confirm') {
      if (req.method !== 'POST') throw new HttpError(405, 'use POST', { Allow: 'POST' });
      const form = await readForm(req, 4096);
      if (!owner) {
        this.options.log.warn(`consent refused: ${email} does not own subject "${subject}"`);
        return deny(`the signed-in person does not own the agent "${subject}"`);
      }
      // First answer wins: an answer the app gave before this click stands.
      const clicked = form.get('decision') === 'allow' ? 'allowed' : 'denied';
      const decision = (await this.appConsent?.settle(uid, clicked)) ?? clicked;
      await this.appConsent?.forget(uid);
      if (decision !== 'allowed')
        return deny(clicked === decision ? 'the owner denied access' : 'the owner denied access in the app');
      return allow(clicked === decision ? 'on the consent page' : 'in the app');
    }
    if (req.method !== 'GET' || step) throw new HttpError(405, 'use GET', { Allow: 'GET' });
    const redirectUri = stringParam(details.params['redirect_uri']);
    // Only the owner is asked in the app: someone else signed in here gets the "not yours" page alone.
    const app = owner
      ? await this.appConsent?.ask(uid, {
          subject,
          client_id: clientId,
          ...(client.clientName ? { client_name: client.clientName } : {}),
          ...(client.clientUri ? { client_uri: client.clientUri } : {}),
          redirect_host: redirectHost(redirectUri),
          servers,
        })
      : undefined;
    if (app === 'allowed' || app === 'denied') {
      await this.appConsent!.forget(uid);
      return app === 'allowed' ? allow('in the app') : deny('the owner denied access in the app');
    }
    sendPage(
      res,
      consentPage({
        action: new URL(`${this.issuer}/oauth/interaction/${uid}/confirm`).pathname,
        clientName: client.clientName ?? clientId,
        clientId,
        clientUri: client.clientUri,
        redirectUri,
        subject,
        servers,
        email,
        owner,
        ...(app ? { app, reloadSeconds: AppConsent.RELOAD_SECONDS } : {}),
      }),
    );
  }

  // ── oidc-provider's configuration ───────────────────────────────────────────────────────────────────────

  #configuration(
    jwk: Record<string, unknown>,
    policy: NonNullable<NonNullable<Configuration['interactions']>['policy']>,
  ): Configuration {
    const accessTokenSeconds = (this.options.accessTokenMinutes ?? 60) * 60;
    const refreshSeconds = (this.options.refreshTokenDays ?? 30) * 24 * 3600;
    const configuration: Configuration = {
      adapter: (name: string) => this.#store.adapterFor(name),
      clients: [],
      findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
      claims: { openid: ['sub'] },
      // `mcp` is listed so that clients may register with it (RFC 7591 `scope`); it is the resource scope too.
      scopes: ['openid', 'offline_access', MCP_SCOPE],
      responseTypes: ['code'],
      // PKCE for every client, confidential ones too (MCP spec, "Authorization Code Protection"); oidc-provider
      // supports S256 only.
      pkce: { required: () => true },
      jwks: { keys: [jwk] },
      cookies: { keys: [this.options.cookieKey ?? randomBytes(32).toString('base64url')] },
      routes: AUTHORIZATION_ROUTES,
      clientDefaults: {
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'RS256',
      },
      interactions: { policy, url: (_ctx, interaction) => `/oauth/interaction/${interaction.uid}` },
      features: {
        devInteractions: { enabled: false },
        // RFC 7591, open: the MCP spec's fallback for clients without a metadata document.
        registration: { enabled: true },
        // RFC 7009: a client revokes only its own tokens (a public client proves no more than its client_id).
        revocation: {
          enabled: true,
          allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId,
        },
        userinfo: { enabled: false },
        resourceIndicators: {
          enabled: true,
          defaultResource: (_ctx, _client, oneOf) => oneOf ?? undefined!,
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx, indicator) => {
            const target = this.#parseResource(indicator);
            if (!target) throw this.#invalidTarget(indicator);
            return {
              scope: MCP_SCOPE,
              // The canonical form (what verify() compares), however the client spelled the URL.
              audience: this.resourceFor(target.subject, target.server),
              accessTokenTTL: accessTokenSeconds,
              accessTokenFormat: 'opaque',
            };
          },
        },
        clientIdMetadataDocument: {
          enabled: this.options.clientIdMetadataDocuments ?? true,
          ack: 'draft-02',
        },
      },
      // Every client allowed the refresh_token grant gets a refresh token (no offline_access needed: MCP
      // clients do not all ask for it), and every refresh rotates it (OAuth 2.1 section 4.3.1).
      issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
      rotateRefreshToken: () => true,
      // Revoking any token of a grant (the client's "disconnect") ends the grant: its access and refresh tokens
      // stop working at once, and the client must ask the owner again.
      revokeGrantPolicy: () => true,
      ttl: {
        AccessToken: accessTokenSeconds,
        AuthorizationCode: 60,
        ClientCredentials: 600,
        Grant: refreshSeconds,
        IdToken: 3600,
        Interaction: 600,
        RefreshToken: refreshSeconds,
        Session: 3600,
      },
      renderError: (ctx: KoaContextWithOIDC, out) => {
        const page = messagePage(
          400,
          'Authorization failed',
          `${out['error_description'] ?? out['error'] ?? 'the request was refused'}. Start again from the app that asked.`,
        );
        ctx.status = page.status;
        ctx.type = 'html';
        ctx.set('Content-Security-Policy', page.csp);
        ctx.set('Cache-Control', 'no-store');
        ctx.body = page.html;
      },
    };
    if (this.options.fetch) configuration.fetch = this.options.fetch as Configuration['fetch'];
    return configuration;
  }

  #ready(): Provider {
    if (!this.#provider) throw new Error('AuthorizationServer.init() has not finished');
    return this.#provider;
  }
}

/** The host a redirect URI sends the answer to (its scheme for an app's private-use scheme), as the app shows it. */
function redirectHost(uri: string): string {
  try {
    const url = new URL(uri);
    return url.host || url.protocol;
  } catch {
    return uri.slice(0, 200);
  }
}

/** An authorization request parameter as a string ('' when absent or not a string). */
const stringParam = (value: unknown): string => (typeof value === 'string' ? value : '');

const expiredAuthorization = () =>
  messagePage(
    400,
    'Authorization expired',
    'This authorization request has expired or was already answered. Start again from the app that asked.',
  );
