// The relay as an MCP authorization server (issue 12): an SDK client's whole OAuth flow against a real relay
// with a real agent. The client discovers the authorization server from the 401, registers (by a Client ID
// Metadata Document served over https on 127.0.0.1, or by dynamic registration), the subject's owner signs in
// through the built-in provider and consents (the pages driven with plain HTTP requests), the client gets a
// token bound to one MCP server, calls a tool, refreshes, revokes; and tokens stay in their lane.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer, request as httpsRequest, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  Client as ClientV2,
  type OAuthClientInformationMixed as OAuthClientInformationMixedV2,
  type OAuthClientProvider as OAuthClientProviderV2,
  type OAuthTokens as OAuthTokensV2,
  StreamableHTTPClientTransport as StreamableHTTPClientTransportV2,
  UnauthorizedError as UnauthorizedErrorV2,
} from '@modelcontextprotocol/client';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { hashPassword } from '../src-relay/identity/password.js';
import type { RelayServer } from '../src-relay/relay-server.js';
import { ClientAccess } from '../src-shared/control.js';
import { createSandbox, runCli } from './support/cli.js';
import { IDP_CLIENT, signInAtIdp, startIdp } from './support/oidc-idp.js';
import {
  type AgentFixture,
  linkState,
  signInAgent,
  startAgent,
  startRelay,
} from './support/relay-fixture.js';
import { TestBrowser } from './support/test-browser.js';

const ALICE = { email: 'alice@example.com', password: 'alice password 123' };
const BOB = { email: 'bob@example.com', password: 'bob password 456' };
/** The MCP client's redirect URI: the test browser stops at it, nothing listens there. */
const REDIRECT = 'http://127.0.0.1:53682/callback';

let dir: string;
let relay: RelayServer;
let cimd: { server: Server; url: string; fetched: number };
let alice: { subject: string; agent: AgentFixture };
let bob: { subject: string; agent: AgentFixture };

/** An OAuth client for the SDK that keeps everything in memory and lets the test play the browser. */
class TestOAuthClient implements OAuthClientProvider {
  authorizationUrl: URL | undefined;
  #client: OAuthClientInformationMixed | undefined;
  #tokens: OAuthTokens | undefined;
  #verifier = '';
  constructor(readonly clientMetadataUrl?: string) {}
  get redirectUrl() {
    return REDIRECT;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'Test MCP client',
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

/** The owner at the browser: signs in at the relay's page, then answers the consent page. */
async function authorizeInBrowser(
  authorizationUrl: URL,
  user: { email: string; password: string },
  decision: 'allow' | 'deny' = 'allow',
): Promise<{ callback: URL; consent: { status: number; html: string } }> {
  const browser = new TestBrowser((location) => location.startsWith(REDIRECT));
  const login = await browser.go(authorizationUrl);
  expect(login.status, login.html).toBe(200);
  expect(login.html).toContain('Sign in to the relay');
  const consent = await browser.submit(login.html, login.page.url, {
    email: user.email,
    password: user.password,
  });
  expect(consent.callback).toBeUndefined();
  const answered = await browser.submit(consent.html, consent.page.url, { decision });
  expect(answered.callback, answered.html).toBeDefined();
  return { callback: new URL(answered.callback!), consent };
}

/** Connects an SDK client to `server` of `subject`, running the OAuth flow as the owner `user`. */
async function authorizedClient(
  oauth: TestOAuthClient,
  subject: string,
  server: string,
  user = ALICE,
): Promise<{ client: Client; consentHtml: string; callback: URL }> {
  const url = new URL(`/${subject}/${server}/mcp`, relay.url);
  const first = new StreamableHTTPClientTransport(url, { authProvider: oauth });
  await expect(new Client({ name: 'oauth-e2e', version: '1.0.0' }).connect(first)).rejects.toThrow(
    UnauthorizedError,
  );
  expect(oauth.authorizationUrl).toBeDefined();
  const { callback, consent } = await authorizeInBrowser(oauth.authorizationUrl!, user);
  const code = callback.searchParams.get('code');
  expect(code).toBeTruthy();
  await first.finishAuth(code!);
  const client = new Client({ name: 'oauth-e2e', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(url, { authProvider: oauth }));
  return { client, consentHtml: consent.html, callback };
}

/** A POST to an MCP route with a bearer (an initialize), for status and challenge checks. */
function mcpPost(subject: string, server: string, token: string) {
  return fetch(new URL(`/${subject}/${server}/mcp`, relay.url), {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${token}`,
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    }),
  });
}

/** An agent signed in as `user` through /manage/oauth (so that the user owns its subject), connected. */
async function signedInAgent(user: { email: string; password: string }) {
  const { token, subject } = await signInAgent(relay, user);
  const agent = await startAgent(relay, { token });
  await linkState(agent.gateway, 'connected');
  return { subject, agent };
}

/** An https server on 127.0.0.1 with a throw-away self-signed certificate, serving a client metadata document. */
async function startMetadataServer(): Promise<{ server: Server; url: string; ca: string; fetched: number }> {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  const [key, cert] = await Promise.all([readFile(join(dir, 'key.pem')), readFile(join(dir, 'cert.pem'))]);
  const state = { fetched: 0 };
  let url = '';
  const server = createHttpsServer({ key, cert }, (req, res) => {
    if (req.url !== '/client.json') return void res.writeHead(404).end();
    state.fetched++;
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(
      JSON.stringify({
        client_id: url,
        client_name: 'Metadata Document Client',
        client_uri: 'https://client.example',
        redirect_uris: [REDIRECT],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/client.json`;
  return {
    server,
    url,
    ca: cert.toString(),
    get fetched() {
      return state.fetched;
    },
  };
}

/** A fetch for the relay that reaches the test's https server on loopback, trusting its certificate only. */
function loopbackFetch(ca: string) {
  return (input: URL | string, init: RequestInit): Promise<Response> =>
    new Promise((resolve, reject) => {
      const req = httpsRequest(
        new URL(input),
        { method: init.method ?? 'GET', ca, headers: { accept: 'application/json' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve(
              new Response(Buffer.concat(chunks), {
                status: res.statusCode ?? 500,
                headers: Object.entries(res.headers).flatMap(([k, v]) =>
                  v === undefined ? [] : [[k, String(v)] as [string, string]],
                ),
              }),
            ),
          );
        },
      );
      req.on('error', reject);
      req.end();
    });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpgw-client-auth-'));
  const usersFile = join(dir, 'users');
  const cheap = { N: 2 ** 12, r: 8, p: 1 };
  await writeFile(
    usersFile,
    `${ALICE.email}:${await hashPassword(ALICE.password, cheap)}\n${BOB.email}:${await hashPassword(BOB.password, cheap)}\n`,
  );
  const metadata = await startMetadataServer();
  cimd = metadata;
  relay = await startRelay({
    oauth: { identity: { provider: 'builtin', usersFile } },
    clientAuthorization: { fetch: loopbackFetch(metadata.ca), accessTokenMinutes: 5 },
  });
  alice = await signedInAgent(ALICE);
  bob = await signedInAgent(BOB);
}, 60_000);

afterAll(async () => {
  await alice?.agent.close();
  await bob?.agent.close();
  await relay?.close();
  cimd?.server.closeAllConnections();
  await new Promise<void>((resolve) => (cimd ? cimd.server.close(() => resolve()) : resolve()));
  await rm(dir, { recursive: true, force: true });
});

describe('discovery', () => {
  it('answers 401 naming the protected resource metadata, which names the relay as authorization server', async () => {
    const res = await fetch(new URL(`/${alice.subject}/everything/mcp`, relay.url), { method: 'POST' });
    expect(res.status).toBe(401);
    const challenge = res.headers.get('www-authenticate')!;
    const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)?.[1];
    expect(metadataUrl).toBe(
      `${relay.url.origin}/.well-known/oauth-protected-resource/${alice.subject}/everything/mcp`,
    );
    expect(challenge).toContain('scope="mcp"');
    const metadata = (await (await fetch(metadataUrl!)).json()) as Record<string, unknown>;
    expect(metadata).toMatchObject({
      resource: `${relay.url.origin}/${alice.subject}/everything/mcp`,
      authorization_servers: [relay.url.origin],
      scopes_supported: ['mcp'],
    });
    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const as = (await (await fetch(new URL(path, relay.url))).json()) as Record<string, unknown>;
      expect(as).toMatchObject({
        issuer: relay.url.origin,
        authorization_endpoint: `${relay.url.origin}/oauth/authorize`,
        token_endpoint: `${relay.url.origin}/oauth/token`,
        registration_endpoint: `${relay.url.origin}/oauth/register`,
        revocation_endpoint: `${relay.url.origin}/oauth/revoke`,
        code_challenge_methods_supported: ['S256'],
        authorization_response_iss_parameter_supported: true,
        client_id_metadata_document_supported: true,
      });
    }
    const none = await fetch(new URL('/.well-known/oauth-protected-resource/nope', relay.url));
    expect(none.status).toBe(404);
    // A forwarded host the caller chose never reaches the metadata: it always names the issuer.
    const spoofed = (await (
      await fetch(new URL('/.well-known/oauth-authorization-server', relay.url), {
        headers: { 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Proto': 'https' },
      })
    ).json()) as Record<string, string>;
    expect(spoofed['token_endpoint']).toBe(`${relay.url.origin}/oauth/token`);
  });

  it('does not exist on a relay without sign-in: nothing changes there', async () => {
    const plain = await startRelay();
    try {
      const res = await fetch(new URL('/alice/everything/mcp', plain.url), { method: 'POST' });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="mcpassistant-relay"');
      for (const path of [
        '/.well-known/oauth-protected-resource/alice/everything/mcp',
        '/.well-known/oauth-authorization-server',
        '/oauth/register',
        '/manage/client-grants',
      ])
        expect((await fetch(new URL(path, plain.url))).status, path).toBe(404);
      expect(plain.authorization).toBeUndefined();
    } finally {
      await plain.close();
    }
  });
});

describe('an SDK client, registered by its Client ID Metadata Document', () => {
  it('is authorized by the owner, calls a tool, refreshes, and is refused at once after revocation', async () => {
    const oauth = new TestOAuthClient(cimd.url);
    const { client, consentHtml, callback } = await authorizedClient(oauth, alice.subject, 'everything');
    // The relay fetched the document; the consent page named the client, the server and the subject.
    expect(cimd.fetched).toBeGreaterThan(0);
    expect(consentHtml).toContain('Metadata Document Client');
    expect(consentHtml).toContain(alice.subject);
    expect(consentHtml).toContain('<li>everything</li>');
    expect(consentHtml).toContain('Your answer goes to http://127.0.0.1:53682');
    expect(callback.searchParams.get('iss')).toBe(relay.url.origin);
    expect(oauth.clientInformation()?.client_id).toBe(cimd.url);

    const echo = await client.callTool({ name: 'echo', arguments: { message: 'via oauth' } });
    expect(JSON.stringify(echo.content)).toContain('via oauth');

    // Refresh: a new access token and a new refresh token; the old refresh token no longer works.
    const before = oauth.tokens()!;
    expect(before.refresh_token).toBeTruthy();
    const refreshed = await tokenRequest({
      grant_type: 'refresh_token',
      refresh_token: before.refresh_token!,
      client_id: cimd.url,
    });
    expect(refreshed.status).toBe(200);
    const after = (await refreshed.json()) as OAuthTokens;
    expect(after.access_token).not.toBe(before.access_token);
    expect(after.refresh_token).toBeTruthy();
    expect(after.refresh_token).not.toBe(before.refresh_token);
    expect((await mcpPost(alice.subject, 'everything', after.access_token)).status).toBe(200);

    // Revoking the access token (a client's disconnect): the next call on the open session fails at once, and
    // the grant is over: its refresh token no longer works either.
    oauth.saveTokens(after);
    await client.callTool({ name: 'echo', arguments: { message: 'still here' } });
    expect((await revoke(after.access_token, cimd.url)).status).toBe(200);
    const refused = await mcpPost(alice.subject, 'everything', after.access_token);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('error="invalid_token"');
    await expect(client.callTool({ name: 'echo', arguments: { message: 'x' } })).rejects.toThrow();
    await client.close();
    const again = await tokenRequest({
      grant_type: 'refresh_token',
      refresh_token: after.refresh_token!,
      client_id: cimd.url,
    });
    expect(again.status).toBe(400);
    expect(((await again.json()) as { error: string }).error).toBe('invalid_grant');
  });
});

/** RFC 7009 revocation by a public client. */
function revoke(token: string, clientId: string) {
  return fetch(new URL('/oauth/revoke', relay.url), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, client_id: clientId }),
  });
}

/** A token endpoint request, form-encoded. */
function tokenRequest(params: Record<string, string>) {
  return fetch(new URL('/oauth/token', relay.url), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  });
}

describe('an SDK client, registered dynamically (RFC 7591)', () => {
  let oauth: TestOAuthClient;
  let token: string;

  beforeAll(async () => {
    oauth = new TestOAuthClient();
    const { client } = await authorizedClient(oauth, alice.subject, 'everything');
    const echo = await client.callTool({ name: 'echo', arguments: { message: 'registered' } });
    expect(JSON.stringify(echo.content)).toContain('registered');
    await client.close();
    token = oauth.tokens()!.access_token;
  });

  it('registered at the registration endpoint', () => {
    const id = oauth.clientInformation()?.client_id;
    expect(id).toBeTruthy();
    expect(id).not.toMatch(/^https:/);
  });

  it('keeps a token for server A of subject S away from server B and from subject T', async () => {
    const other = await mcpPost(alice.subject, 'slow', token);
    expect(other.status).toBe(401);
    expect(other.headers.get('www-authenticate')).toContain(
      `resource_metadata="${relay.url.origin}/.well-known/oauth-protected-resource/${alice.subject}/slow/mcp"`,
    );
    expect((await mcpPost(bob.subject, 'everything', token)).status).toBe(401);
    expect((await mcpPost(alice.subject, 'everything', token)).status).toBe(200);
  });

  it('cannot register an agent on /connect', async () => {
    const ws = new WebSocket(`${relay.url.origin.replace('http', 'ws')}/connect`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => undefined);
    });
    ws.terminate();
    expect(status).toBe(403);
  });

  it('is refused when the token has expired', async () => {
    // The same registered client authorized for slow (tokens are kept per server, as clients do), then the
    // token ages past its lifetime (5 minutes here).
    const forSlow = new TestOAuthClient();
    forSlow.saveClientInformation(oauth.clientInformation()!);
    const { client } = await authorizedClient(forSlow, alice.subject, 'slow');
    await client.close();
    const slowToken = forSlow.tokens()!.access_token;
    expect((await mcpPost(alice.subject, 'slow', slowToken)).status).toBe(200);
    const real = Date.now;
    try {
      Date.now = () => real() + 6 * 60_000;
      expect((await mcpPost(alice.subject, 'slow', slowToken)).status).toBe(401);
    } finally {
      Date.now = real;
    }
  });

  it('detects a refresh token used twice and revokes its grant; revoking a refresh token ends its grant', async () => {
    // A public client (token_endpoint_auth_method none): its client_id is all it sends.
    const clientId = oauth.clientInformation()!.client_id;
    expect(oauth.clientInformation()!.client_secret).toBeUndefined();
    const first = oauth.tokens()!;
    const rotated = (await (
      await tokenRequest({
        grant_type: 'refresh_token',
        refresh_token: first.refresh_token!,
        client_id: clientId,
      })
    ).json()) as OAuthTokens;
    expect((await mcpPost(alice.subject, 'everything', rotated.access_token)).status).toBe(200);
    // The old refresh token again: refused, and the grant with everything issued from it is revoked.
    const replay = await tokenRequest({
      grant_type: 'refresh_token',
      refresh_token: first.refresh_token!,
      client_id: clientId,
    });
    expect(replay.status).toBe(400);
    expect((await mcpPost(alice.subject, 'everything', rotated.access_token)).status).toBe(401);

    // A fresh authorization, then its refresh token revoked: its access token fails at once.
    const fresh = new TestOAuthClient();
    fresh.saveClientInformation(oauth.clientInformation()!);
    const { client } = await authorizedClient(fresh, alice.subject, 'everything');
    await client.close();
    const tokens = fresh.tokens()!;
    expect((await mcpPost(alice.subject, 'everything', tokens.access_token)).status).toBe(200);
    const revoked = await fetch(new URL('/oauth/revoke', relay.url), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens.refresh_token!, client_id: clientId }),
    });
    expect(revoked.status).toBe(200);
    expect((await mcpPost(alice.subject, 'everything', tokens.access_token)).status).toBe(401);
  });
});

describe('an SDK v2 client in the 2026-07-28 era', () => {
  it('discovers, registers (application_type native), is allowed by the owner and calls a tool', async () => {
    let verifier = '';
    let state = '';
    let tokens: OAuthTokensV2 | undefined;
    let info: OAuthClientInformationMixedV2 | undefined;
    let authorizationUrl: URL | undefined;
    const provider: OAuthClientProviderV2 = {
      redirectUrl: REDIRECT,
      clientMetadata: {
        client_name: 'SDK v2 client',
        redirect_uris: [REDIRECT],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
        application_type: 'native',
      },
      state: () => (state = randomUUID()),
      clientInformation: () => info,
      saveClientInformation: (value) => void (info = value),
      tokens: () => tokens,
      saveTokens: (value) => void (tokens = value),
      redirectToAuthorization: (url) => void (authorizationUrl = url),
      saveCodeVerifier: (value) => void (verifier = value),
      codeVerifier: () => verifier,
    };
    const url = new URL(`/${alice.subject}/everything/mcp`, relay.url);
    const options = { versionNegotiation: { mode: { pin: '2026-07-28' as const } } };
    const first = new StreamableHTTPClientTransportV2(url, { authProvider: provider });
    await expect(new ClientV2({ name: 'v2', version: '1.0.0' }, options).connect(first)).rejects.toThrow(
      UnauthorizedErrorV2,
    );
    expect(authorizationUrl?.searchParams.get('resource')).toBe(url.href);
    const { callback, consent } = await authorizeInBrowser(authorizationUrl!, ALICE);
    expect(consent.html).toContain('SDK v2 client');
    expect(callback.searchParams.get('state')).toBe(state);
    // The SDK checks the callback's iss against the issuer it discovered (RFC 9207) before redeeming the code.
    await first.finishAuth(callback.searchParams);
    const client = new ClientV2({ name: 'v2', version: '1.0.0' }, options);
    await client.connect(new StreamableHTTPClientTransportV2(url, { authProvider: provider }));
    try {
      const echo = await client.callTool({ name: 'echo', arguments: { message: 'modern era' } });
      expect(JSON.stringify(echo.content)).toContain('modern era');
    } finally {
      await client.close();
    }
  });
});

describe('who consents', () => {
  it('refuses a person who does not own the subject: the client gets access_denied', async () => {
    const oauth = new TestOAuthClient();
    const url = new URL(`/${alice.subject}/everything/mcp`, relay.url);
    const transport = new StreamableHTTPClientTransport(url, { authProvider: oauth });
    await expect(new Client({ name: 'x', version: '1' }).connect(transport)).rejects.toThrow(
      UnauthorizedError,
    );
    const browser = new TestBrowser((location) => location.startsWith(REDIRECT));
    const login = await browser.go(oauth.authorizationUrl!);
    const page = await browser.submit(login.html, login.page.url, {
      email: BOB.email,
      password: BOB.password,
    });
    expect(page.status).toBe(403);
    expect(page.html).toContain('Not your MCP servers');
    expect(page.html).not.toContain('value="allow"');
    // Even a forged "allow" from Bob is refused.
    const answered = await browser.submit(page.html, page.page.url, { decision: 'allow' });
    const callback = new URL(answered.callback!);
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('code')).toBeNull();
  });

  it('the owner can deny', async () => {
    const oauth = new TestOAuthClient();
    const url = new URL(`/${alice.subject}/everything/mcp`, relay.url);
    const transport = new StreamableHTTPClientTransport(url, { authProvider: oauth });
    await expect(new Client({ name: 'x', version: '1' }).connect(transport)).rejects.toThrow(
      UnauthorizedError,
    );
    const { callback } = await authorizeInBrowser(oauth.authorizationUrl!, ALICE, 'deny');
    expect(callback.searchParams.get('error')).toBe('access_denied');
  });
});

describe('the owner revokes', () => {
  it('lists the clients allowed on the subject and ends their grants with the agent token', async () => {
    const oauth = new TestOAuthClient();
    const { client } = await authorizedClient(oauth, alice.subject, 'everything');
    const clientId = oauth.clientInformation()!.client_id;
    const tokens = oauth.tokens()!;
    const grants = (token: string) =>
      fetch(new URL('/manage/client-grants', relay.url), { headers: { Authorization: `Bearer ${token}` } });

    const listed = (await (await grants(alice.agent.token)).json()) as {
      grants: { client_id: string; client_name?: string; servers: string[] }[];
    };
    expect(listed.grants).toContainEqual(
      expect.objectContaining({
        client_id: clientId,
        client_name: 'Test MCP client',
        servers: ['everything'],
      }),
    );
    // Bob sees none of Alice's clients; a client token (or an OAuth access token) cannot list them.
    const bobs = (await (await grants(bob.agent.token)).json()) as { grants: { client_id: string }[] };
    expect(bobs.grants.map((g) => g.client_id)).not.toContain(clientId);
    const clientToken = await relay.tokens.issue(alice.subject, ['*'], 10, 'client');
    expect((await grants(clientToken)).status).toBe(403);
    expect((await grants(tokens.access_token)).status).toBe(401);

    const revoke = (token: string, body: object) =>
      fetch(new URL('/manage/client-grants/revoke', relay.url), {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    // Bob cannot end Alice's grants: his revocation covers his own subject only.
    expect(await (await revoke(bob.agent.token, { client_id: clientId })).json()).toEqual({ revoked: 0 });
    expect((await mcpPost(alice.subject, 'everything', tokens.access_token)).status).toBe(200);

    expect(await (await revoke(alice.agent.token, { client_id: clientId })).json()).toEqual({ revoked: 1 });
    expect((await mcpPost(alice.subject, 'everything', tokens.access_token)).status).toBe(401);
    await expect(client.callTool({ name: 'echo', arguments: { message: 'x' } })).rejects.toThrow();
    await client.close();
    const refresh = await tokenRequest({
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token!,
      client_id: clientId,
    });
    expect(refresh.status).toBe(400);
    const after = (await (await grants(alice.agent.token)).json()) as { grants: { client_id: string }[] };
    expect(after.grants.map((g) => g.client_id)).not.toContain(clientId);
  });
});

describe('mcpassistant-gateway clients', () => {
  it('adds a client token that calls a tool, lists it with the OAuth clients, revokes each (401 at once)', async () => {
    const oauth = new TestOAuthClient();
    const { client } = await authorizedClient(oauth, alice.subject, 'everything');
    await client.close();
    const clientId = oauth.clientInformation()!.client_id;
    const accessToken = oauth.tokens()!.access_token;
    const sandbox = await createSandbox();
    const env = { AGENT_JWT: alice.agent.token, REMOTE_SERVER_BASE_URL: relay.url.origin };
    try {
      const added = await runCli(
        ['clients', 'add', 'laptop', '--server', 'everything', '--json'],
        sandbox,
        env,
      );
      expect(added.code, added.stderr).toBe(0);
      const created = JSON.parse(added.stdout) as {
        token: { id: string };
        header: string;
        endpoints: Record<string, string>;
        config: { mcpServers: Record<string, { url: string; headers: Record<string, string> }> };
      };
      const url = `${relay.url.origin}/${alice.subject}/everything/mcp`;
      expect(created.endpoints).toEqual({ everything: url });
      expect(created.config.mcpServers['everything']).toEqual({
        url,
        headers: { Authorization: created.header },
      });
      // The printed config works as a client would use it: a tool call through the relay to the agent.
      const withToken = new Client({ name: 'cli-token', version: '1.0.0' });
      await withToken.connect(
        new StreamableHTTPClientTransport(new URL(url), {
          requestInit: { headers: created.config.mcpServers['everything']!.headers },
        }),
      );
      const echoed = await withToken.callTool({ name: 'echo', arguments: { message: 'via a client token' } });
      expect(JSON.stringify(echoed.content)).toContain('via a client token');
      await withToken.close();
      const bearer = created.header.slice('Bearer '.length);

      const listed = await runCli(['clients', 'list', '--json'], sandbox, env);
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).not.toContain(bearer);
      const access = ClientAccess.parse(JSON.parse(listed.stdout));
      expect(access.tokens).toEqual([
        expect.objectContaining({ id: created.token.id, name: 'laptop', servers: ['everything'] }),
      ]);
      expect(access.grants).toContainEqual(
        expect.objectContaining({ clientId, clientName: 'Test MCP client', servers: ['everything'] }),
      );
      const text = await runCli(['clients'], sandbox, env);
      expect(text.stdout).toContain(`laptop (id ${created.token.id})`);
      expect(text.stdout).toContain(`Test MCP client (client_id ${clientId})`);

      const usage = await runCli(['clients', 'revoke'], sandbox, env);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toContain('or pass --all');

      // A token id revokes the token; the OAuth client keeps its access.
      const token = await runCli(['clients', 'revoke', created.token.id], sandbox, env);
      expect(token.code, token.stderr).toBe(0);
      expect(token.stdout).toContain('Revoked the client token "laptop"');
      expect((await mcpPost(alice.subject, 'everything', bearer)).status).toBe(401);
      expect((await mcpPost(alice.subject, 'everything', accessToken)).status).toBe(200);

      // A client_id ends that client's grants.
      const revoked = await runCli(['clients', 'revoke', clientId], sandbox, env);
      expect(revoked.code, revoked.stderr).toBe(0);
      expect(revoked.stdout).toContain('Revoked 1 grant of the OAuth client');
      expect((await mcpPost(alice.subject, 'everything', accessToken)).status).toBe(401);

      const again = await runCli(['clients', 'revoke', clientId], sandbox, env);
      expect(again.code).toBe(2);
      expect(again.stderr).toContain(`no client token or OAuth client "${clientId}"`);
    } finally {
      await rm(sandbox.dir, { recursive: true, force: true });
    }
  });

  it('revokes every client token and every OAuth client with --all', async () => {
    const oauth = new TestOAuthClient();
    const { client } = await authorizedClient(oauth, bob.subject, 'everything', BOB);
    await client.close();
    const accessToken = oauth.tokens()!.access_token;
    const sandbox = await createSandbox();
    const env = { AGENT_JWT: bob.agent.token, REMOTE_SERVER_BASE_URL: relay.url.origin };
    try {
      const added = await runCli(['clients', 'add', 'tablet', '--servers', 'everything,slow'], sandbox, env);
      expect(added.code, added.stderr).toBe(0);
      const bearer = /^Authorization: Bearer (\S+)$/m.exec(added.stdout)![1]!;
      expect(added.stdout).toContain(`slow  ${relay.url.origin}/${bob.subject}/slow/mcp`);
      expect((await mcpPost(bob.subject, 'everything', bearer)).status).toBe(200);
      expect((await mcpPost(bob.subject, 'everything', accessToken)).status).toBe(200);

      const all = await runCli(['clients', 'revoke', '--all'], sandbox, env);
      expect(all.code, all.stderr).toBe(0);
      expect(all.stdout).toContain('Revoked 1 client token.');
      expect(all.stdout).toMatch(/Revoked [1-9]\d* OAuth client grants?\./);
      expect((await mcpPost(bob.subject, 'everything', bearer)).status).toBe(401);
      expect((await mcpPost(bob.subject, 'everything', accessToken)).status).toBe(401);
      const after = ClientAccess.parse(
        JSON.parse((await runCli(['clients', '--json'], sandbox, env)).stdout),
      );
      expect(after).toMatchObject({ tokens: [], grants: [] });
    } finally {
      await rm(sandbox.dir, { recursive: true, force: true });
    }
  });
});

describe('consent after signing in at an OpenID Connect provider', () => {
  it('the owner signs in at oidc-provider through the relay, consents, and the client calls a tool', async () => {
    const idp = await startIdp();
    const oidcRelay = await startRelay({
      oauth: {
        identity: {
          provider: 'oidc',
          issuer: idp.issuer,
          clientId: IDP_CLIENT.clientId,
          clientSecret: IDP_CLIENT.clientSecret,
          allowedDomains: ['example.org'],
        },
      },
    });
    idp.configure(new URL('/manage/oauth/callback', oidcRelay.url).href);
    let agent: AgentFixture | undefined;
    let client: Client | undefined;
    try {
      // The agent signs in as erin at the provider, so erin owns its subject.
      const agentCallback = 'http://127.0.0.1:43110/callback/agent';
      const start = (await (
        await fetch(new URL('/manage/oauth/start', oidcRelay.url), {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ redirect_uri: agentCallback }),
        })
      ).json()) as Record<string, string>;
      const step = await signInAtIdp(new TestBrowser(), start['auth_url']!, 'erin@example.org', idp.issuer);
      const completed = (await (
        await fetch(new URL('/manage/oauth/complete', oidcRelay.url), {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({
            session_id: start['session_id'],
            code: new URL(step.callback!).searchParams.get('code'),
          }),
        })
      ).json()) as { token: string; subject: string };
      agent = await startAgent(oidcRelay, { token: completed.token });
      await linkState(agent.gateway, 'connected');

      // The MCP client: the relay sends the owner to the provider, then to its own consent page.
      const oauth = new TestOAuthClient();
      const url = new URL(`/${completed.subject}/everything/mcp`, oidcRelay.url);
      const first = new StreamableHTTPClientTransport(url, { authProvider: oauth });
      await expect(new Client({ name: 'x', version: '1' }).connect(first)).rejects.toThrow(UnauthorizedError);
      const browser = new TestBrowser((location) => location.startsWith(REDIRECT));
      let page = await browser.go(oauth.authorizationUrl!);
      let consentSeen = false;
      for (let steps = 0; !page.callback && steps < 8; steps++) {
        expect(page.status, page.html).toBeLessThan(400);
        const at = page.page.url;
        if (at.startsWith(idp.issuer)) {
          const isLogin = /name="login"/.test(page.html);
          page = await browser.submit(
            page.html,
            at,
            isLogin ? { login: 'erin@example.org', password: 'any' } : {},
          );
        } else {
          expect(page.html).toContain('value="allow"');
          expect(page.html).toContain('erin@example.org');
          consentSeen = true;
          page = await browser.submit(page.html, at, { decision: 'allow' });
        }
      }
      expect(consentSeen).toBe(true);
      await first.finishAuth(new URL(page.callback!).searchParams.get('code')!);
      client = new Client({ name: 'oidc-consent', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(url, { authProvider: oauth }));
      const echo = await client.callTool({ name: 'echo', arguments: { message: 'via the provider' } });
      expect(JSON.stringify(echo.content)).toContain('via the provider');
    } finally {
      await client?.close();
      await agent?.close();
      await oidcRelay.close();
      await idp.close();
    }
  });
});

describe('existing bearer JWTs', () => {
  it('keep working on client routes', async () => {
    const clientToken = await relay.tokens.issue(alice.subject, ['everything'], 10, 'client');
    expect((await mcpPost(alice.subject, 'everything', clientToken)).status).toBe(200);
    expect((await mcpPost(alice.subject, 'everything', alice.agent.token)).status).toBe(200);
    const res = await mcpPost(alice.subject, 'slow', clientToken);
    expect(res.status).toBe(403);
  });
});
