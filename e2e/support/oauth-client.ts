// An MCP client (SDK 1.x) that gets its access through the relay's OAuth flow (issue 12): it registers
// dynamically, the subject's owner signs in and allows it on the consent page (played by TestBrowser over plain
// HTTP), and it connects with the token it got. For tests that need a real grant on the relay.
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';

import { TestBrowser } from './test-browser.js';

/** The client's redirect URI: the test browser stops there; nothing listens on it. */
const REDIRECT = 'http://127.0.0.1:53682/callback';

/** Keeps the client's registration, tokens and PKCE verifier in memory; remembers where it was sent. */
class MemoryOAuthProvider implements OAuthClientProvider {
  authorizationUrl: URL | undefined;
  #client: OAuthClientInformationMixed | undefined;
  #tokens: OAuthTokens | undefined;
  #verifier = '';
  constructor(private readonly name: string) {}
  get redirectUrl() {
    return REDIRECT;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: this.name,
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() {
    return this.#client;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.#client = info;
  }
  tokens() {
    return this.#tokens;
  }
  saveTokens(tokens: OAuthTokens) {
    this.#tokens = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string) {
    this.#verifier = verifier;
  }
  codeVerifier() {
    return this.#verifier;
  }
}

/**
 * Connects an SDK client named `name` to `url` (an MCP endpoint of the relay) through the OAuth flow, the owner
 * `user` signing in and allowing it. Resolves with the connected client, its client_id and its access token.
 * Throws when a step does not go as the relay's pages should make it go.
 */
export async function oauthClient(
  url: URL,
  user: { email: string; password: string },
  name = 'Test MCP client',
): Promise<{ client: Client; clientId: string; accessToken: string }> {
  const provider = new MemoryOAuthProvider(name);
  const first = new StreamableHTTPClientTransport(url, { authProvider: provider });
  const refused = await new Client({ name, version: '1.0.0' }).connect(first).then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(refused instanceof UnauthorizedError) || !provider.authorizationUrl)
    throw new Error(`expected the relay to ask for authorization, got ${String(refused)}`);
  const browser = new TestBrowser((location) => location.startsWith(REDIRECT));
  const login = await browser.go(provider.authorizationUrl);
  const consent = await browser.submit(login.html, login.page.url, user);
  const answered = await browser.submit(consent.html, consent.page.url, { decision: 'allow' });
  const code = answered.callback ? new URL(answered.callback).searchParams.get('code') : null;
  if (!code) throw new Error(`the consent page did not send the client back with a code: ${answered.html}`);
  await first.finishAuth(code);
  const client = new Client({ name, version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
  return {
    client,
    clientId: provider.clientInformation()!.client_id,
    accessToken: provider.tokens()!.access_token,
  };
}

/**
 * The first half of `oauthClient`: the SDK client named `name` is refused (401) at `url`, the owner's browser
 * opens the authorization URL and `user` signs in (after `beforeSignIn`, when given: a test's fault between the
 * two), which stops on the consent page. `finish(code)` connects
 * the client with the code the page's answer sent back; `tokens()` is what it holds (nothing before that).
 */
export async function toConsentPage(
  url: URL,
  user: { email: string; password: string },
  name = 'Test MCP client',
  options: { beforeSignIn?: () => Promise<void> } = {},
) {
  const provider = new MemoryOAuthProvider(name);
  const first = new StreamableHTTPClientTransport(url, { authProvider: provider });
  const refused = await new Client({ name, version: '1.0.0' }).connect(first).then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(refused instanceof UnauthorizedError) || !provider.authorizationUrl)
    throw new Error(`expected the relay to ask for authorization, got ${String(refused)}`);
  const browser = new TestBrowser((location) => location.startsWith(REDIRECT));
  const login = await browser.go(provider.authorizationUrl);
  await options.beforeSignIn?.();
  const consent = await browser.submit(login.html, login.page.url, user);
  if (consent.status !== 200) throw new Error(`no consent page after sign-in: ${consent.html}`);
  return {
    browser,
    consent,
    /** The consent page's URL (what its meta refresh reloads). */
    pageUrl: consent.page.url,
    tokens: () => provider.tokens(),
    /** The client_id the relay gave it (registered before the sign-in). */
    clientId: () => provider.clientInformation()?.client_id,
    finish: async (code: string): Promise<Client> => {
      await first.finishAuth(code);
      const client = new Client({ name, version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
      return client;
    },
  };
}

/**
 * Reloads a consent page as its meta refresh does until it stops waiting for the owner's app (the app's
 * answer crosses the relay's WebSocket after the app's call returns). Resolves with the last load.
 */
export async function reloadUntilAnswered(browser: TestBrowser, pageUrl: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const last = await browser.go(pageUrl);
    if (last.callback || !last.html.includes('asks you too')) return last;
    if (Date.now() > deadline) throw new Error('the consent page kept waiting for the app');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
