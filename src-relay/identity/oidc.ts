// Any standard OpenID Connect provider (Google, Microsoft Entra, Keycloak, Authentik, Dex…), through
// openid-client: discovery of OIDC_ISSUER, the authorization code flow with PKCE S256, `state` and `nonce`,
// the code exchanged server-side at /manage/oauth/callback (the relay is a confidential client with
// OIDC_CLIENT_SECRET), the ID Token checked by openid-client (signature, iss, aud, nonce). The identity is
// the verified e-mail address, optionally limited to OIDC_ALLOWED_DOMAINS.
import * as client from 'openid-client';

import { isLoopbackOrigin } from '../http-util.js';
import type { RelayLogger } from '../relay-log.js';
import { expiredPage } from './page.js';
import type {
  BrowserRequest,
  BrowserResult,
  IdentityProvider,
  LoginSessions,
  LoginSessionView,
} from './provider.js';

const CALLBACK_PATH = '/manage/oauth/callback';

export interface OidcOptions {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  allowedDomains: string[];
  log: RelayLogger;
  /** Bounds each request to the identity provider (discovery, token, userinfo). */
  timeoutSeconds?: number;
}

export class OidcProvider implements IdentityProvider {
  readonly name = 'oidc';
  #config: Promise<client.Configuration> | undefined;

  constructor(private readonly options: Readonly<OidcOptions>) {}

  init(): Promise<void> {
    // Discovery happens on the first sign-in (and again after a failure), so that the relay starts while
    // the identity provider is briefly unreachable.
    return Promise.resolve();
  }

  async begin(session: LoginSessionView, base: URL): Promise<{ authUrl: string; key: string }> {
    const config = await this.#configuration();
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const callback = new URL(CALLBACK_PATH.slice(1), base).href;
    session.data.set('verifier', verifier);
    session.data.set('nonce', nonce);
    session.data.set('state', state);
    session.data.set('callback', callback);
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: callback,
      scope: 'openid email',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { authUrl: url.href, key: state };
  }

  async browser(request: BrowserRequest, sessions: LoginSessions): Promise<BrowserResult | undefined> {
    if (request.path !== CALLBACK_PATH || request.method !== 'GET') return undefined;
    const session = await sessions.byKey(request.query.get('state') ?? '');
    if (!session) return { kind: 'page', page: expiredPage() };
    const fail = (error: string, description: string): BrowserResult => ({
      kind: 'failed',
      session: session.id,
      error,
      description,
    });

    const error = request.query.get('error');
    if (error !== null) {
      // The user denied consent (access_denied), or the provider refused the request: pass its words on.
      const code = /^[a-z_]{1,64}$/.test(error) ? error : 'server_error';
      const description = request.query.get('error_description') ?? `the identity provider answered ${code}`;
      return fail(code, description.slice(0, 500));
    }

    let email: unknown;
    let verified: unknown;
    try {
      const config = await this.#configuration();
      // The URL the provider redirected to, rebuilt on the callback URL that begin() sent (the same
      // redirect_uri must reach the token endpoint), with every parameter it added (code, state, iss).
      const current = new URL(session.data.get('callback')!);
      for (const [name, value] of request.query) current.searchParams.append(name, value);
      const tokens = await client.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: session.data.get('verifier')!,
        expectedState: session.data.get('state')!,
        expectedNonce: session.data.get('nonce')!,
        idTokenExpected: true,
      });
      const claims = tokens.claims()!;
      ({ email, email_verified: verified } = claims);
      if (email === undefined) {
        // Providers may keep scope claims out of the ID Token (oidc-provider does): ask userinfo.
        const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
        ({ email, email_verified: verified } = info);
      }
    } catch (error) {
      this.options.log.warn(`OIDC sign-in: the code exchange failed: ${(error as Error).message}`);
      return fail('server_error', `the identity provider's answer was refused: ${(error as Error).message}`);
    }

    if (typeof email !== 'string' || !/^[^\s@]+@[^\s@]+$/.test(email))
      return fail('access_denied', 'the identity provider did not give an e-mail address');
    const address = email.toLowerCase();
    if (verified !== undefined && verified !== true && verified !== 'true')
      return fail('access_denied', `the e-mail address ${address} is not verified at the identity provider`);
    const domain = address.slice(address.lastIndexOf('@') + 1);
    const allowed = this.options.allowedDomains;
    if (allowed.length && !allowed.includes(domain)) {
      this.options.log.info(`OIDC sign-in refused: the domain ${domain} is not allowed`);
      return fail('access_denied', `the e-mail domain ${domain} is not allowed to sign in to this relay`);
    }
    return { kind: 'signed-in', session: session.id, email: address };
  }

  /** Discovery, once; a failed one is retried by the next sign-in. */
  #configuration(): Promise<client.Configuration> {
    this.#config ??= this.#discover().catch((error: unknown) => {
      this.#config = undefined;
      throw error;
    });
    return this.#config;
  }

  async #discover(): Promise<client.Configuration> {
    const issuer = new URL(this.options.issuer);
    // openid-client refuses http:// by default; allow it only for an issuer on this machine (a local
    // identity provider, the tests' oidc-provider). Configuration already refuses other http:// issuers.
    const insecure = issuer.protocol === 'http:' && isLoopbackOrigin(issuer);
    return client.discovery(
      issuer,
      this.options.clientId,
      this.options.clientSecret,
      // client_secret_basic: the default token endpoint auth method of OpenID Connect Registration.
      this.options.clientSecret ? client.ClientSecretBasic(this.options.clientSecret) : client.None(),
      {
        execute: insecure ? [client.allowInsecureRequests] : [],
        timeout: this.options.timeoutSeconds ?? 15,
      },
    );
  }
}
