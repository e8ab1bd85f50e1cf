// The seam between the relay's sign-in flow (../oauth.ts) and whoever says who the user is: the built-in
// provider (a sign-in page and a file of password hashes, for self-hosting and tests) or any OpenID Connect
// provider. The flow owns login sessions, codes, subjects and tokens; a provider only turns browser requests
// under /manage/oauth/ into "this session is <e-mail>" or "denied".
import type { RelayLogger } from '../relay-log.js';

/** What a provider sees of a login session. */
export interface LoginSessionView {
  readonly id: string;
  /** The agent's loopback redirect_uri (the built-in page lets its form redirect there: CSP form-action). */
  readonly redirectUri: URL;
  readonly expiresAt: number;
  /**
   * The provider's own values for this session (PKCE verifier, nonce, failed attempts…), set by begin(); what
   * browser() changes is saved with the session (a shared store: every relay sees it).
   */
  readonly data: Map<string, string>;
}

export interface LoginSessions {
  /** A session still waiting for its browser sign-in (unknown, expired and finished ones are undefined). */
  get(id: string): Promise<LoginSessionView | undefined>;
  /** The same, by the key that begin() returned (the OIDC `state`). */
  byKey(key: string): Promise<LoginSessionView | undefined>;
}

/** A browser request under /manage/oauth/ that is not one of the flow's own JSON endpoints. */
export interface BrowserRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  /** The relay's base URL as this request reached it (PUBLIC_BASE_URL when set). */
  base: URL;
  /** Reads the body as a form post. */
  form(): Promise<URLSearchParams>;
}

export interface HtmlPage {
  status: number;
  html: string;
  /** The Content-Security-Policy of the page. */
  csp: string;
}

export type BrowserResult =
  /** The user proved this (lower-case) e-mail address. */
  | { kind: 'signed-in'; session: string; email: string }
  /** The sign-in did not succeed: the agent is sent `error` and `error_description`. */
  | { kind: 'failed'; session: string; error: string; description: string }
  /** A page to show (the sign-in form, a form with an error, "this link has expired"). */
  | { kind: 'page'; page: HtmlPage };

export interface IdentityProvider {
  /** Reported as `provider` by /manage/oauth/start. */
  readonly name: 'builtin' | 'oidc';
  /** Checks the configuration at startup (the users file parses); throws an Error that names the fix. */
  init(): Promise<void>;
  /** Prepares the sign-in of a new session: the URL to open in the browser, and a lookup key. */
  begin(session: LoginSessionView, base: URL): Promise<{ authUrl: string; key?: string }>;
  /** Answers a browser request; undefined when the path is not one of this provider's. */
  browser(request: BrowserRequest, sessions: LoginSessions): Promise<BrowserResult | undefined>;
}

export type IdentityConfig =
  | { provider: 'builtin'; usersFile: string }
  | {
      provider: 'oidc';
      issuer: string;
      clientId: string;
      clientSecret?: string;
      /** E-mail domains allowed to sign in (lower case); empty = any. */
      allowedDomains: string[];
    };

export interface IdentityDeps {
  log: RelayLogger;
}
