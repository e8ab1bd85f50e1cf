// The relay's state in Redis (issue 13) with a real redis-server (e2e/support/redis.ts) and real relays on
// 127.0.0.1: in-process RelayServers over real HTTP and WebSockets, and one `mcpassistant-relay` process.
// (a) a relay restarted on the same Redis keeps sign-ins (refresh tokens, with rotation and reuse detection),
//     subjects and revocations; (b) a token revoked through relay A is refused by relay B and B's agent using it
//     is disconnected (4401); (c) a subject claimed on A cannot be claimed by another owner on B;
// plus: the start-up error when Redis cannot be reached, and /healthz while Redis is away.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { type RedisFixture, startRedis } from '../e2e/support/redis.js';
import { startRelay } from '../e2e/support/relay-fixture.js';
import { TestBrowser } from '../e2e/support/test-browser.js';
import { hashPassword, type ScryptParams } from './identity/password.js';
import { RedisUnreachableError } from './redis-state.js';
import { relayOptionsFromEnv } from './relay-config.js';
import type { RelayOptions, RelayServer } from './relay-server.js';

type Json = Record<string, unknown>;

const FAST: ScryptParams = { N: 2 ** 12, r: 8, p: 1 };
const CALLBACK = 'http://127.0.0.1:43110/callback/k3y';
const users = {
  alice: { email: 'alice@example.com', password: 'correct horse battery staple' },
  bob: { email: 'bob@example.com', password: 'hunter2-but-longer' },
};
const auth = (token: string) => ({ Authorization: `Bearer ${token}` });

async function postJson(
  relay: RelayServer,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const res = await fetch(new URL(path, relay.url), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

interface SignedIn {
  token: string;
  subject: string;
  refresh_token: string;
}

/** The whole agent sign-in on `relay`: start → the built-in form in a test browser → complete. */
async function signIn(
  relay: RelayServer,
  user: { email: string; password: string },
  body: Json = {},
): Promise<{ status: number; body: Json }> {
  const started = await postJson(relay, '/manage/oauth/start', { redirect_uri: CALLBACK, ...body });
  expect(started.status, JSON.stringify(started.body)).toBe(200);
  const authUrl = started.body['auth_url'] as string;
  const browser = new TestBrowser();
  const page = await browser.go(authUrl);
  const done = await browser.submit(page.html, authUrl, user);
  const code = new URL(done.callback!).searchParams.get('code')!;
  return postJson(relay, '/manage/oauth/complete', { session_id: started.body['session_id'], code });
}

const refresh = (relay: RelayServer, refresh_token: string) =>
  postJson(relay, '/manage/oauth/refresh', { refresh_token });

/** /agents with `token`: 200 while the token is valid on `relay`, 401 once it is revoked or unknown. */
async function agentsStatus(relay: RelayServer, token: string): Promise<number> {
  const res = await fetch(new URL('/agents', relay.url), { headers: auth(token) });
  await res.body?.cancel();
  return res.status;
}

/** A raw agent on /connect, registered as `subject`; `closed` resolves with the close code and reason. */
async function connectAgent(relay: RelayServer, token: string, subject: string) {
  const ws = new WebSocket(new URL('/connect', relay.url.href.replace(/^http/, 'ws')), {
    headers: auth(token),
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const registered = new Promise<Json>((resolve) =>
    ws.once('message', (data: Buffer) => resolve(JSON.parse(data.toString('utf8')) as Json)),
  );
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  ws.send(JSON.stringify({ type: 'register', subject, capabilities: ['notes'] }));
  expect(await registered).toMatchObject({ type: 'registered', subject });
  return { ws, closed };
}

/** A TCP port on 127.0.0.1 that nothing listens on (right after this call). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('relay state in Redis', () => {
  let redis: RedisFixture;
  let dir: string;
  let usersFile: string;
  const relays: RelayServer[] = [];

  /** A relay with sign-in and /manage/jwt/issue on the shared Redis; closed after each test. */
  async function relayOnRedis(options: Partial<RelayOptions> = {}): Promise<RelayServer> {
    const relay = await startRelay({
      redisUrl: redis.url,
      jwtFallbackEnabled: true,
      oauth: { identity: { provider: 'builtin', usersFile } },
      ...options,
    });
    relays.push(relay);
    return relay;
  }

  beforeAll(async () => {
    redis = await startRedis();
    dir = await mkdtemp(join(tmpdir(), 'relay-redis-'));
    usersFile = join(dir, 'users');
    await writeFile(
      usersFile,
      `${users.alice.email}:${await hashPassword(users.alice.password, FAST)}\n` +
        `${users.bob.email}:${await hashPassword(users.bob.password, FAST)}\n`,
    );
  });
  afterEach(async () => {
    for (const relay of relays.splice(0)) await relay.close();
  });
  afterAll(async () => {
    await redis?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('(a) a relay restarted on the same Redis accepts a refresh token issued before, and still detects reuse', async () => {
    const before = await relayOnRedis();
    const health = await fetch(new URL('/healthz', before.url));
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ ok: true, state: 'redis', redis: 'connected' });

    const first = await signIn(before, users.alice, { subject: 'alice-restart' });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const signedIn = first.body as unknown as SignedIn;
    const rotated = await refresh(before, signedIn.refresh_token);
    expect(rotated.status).toBe(200);
    const r2 = rotated.body['refresh_token'] as string;
    const accessBeforeRestart = rotated.body['token'] as string;
    // A revocation made before the restart: a token issued and revoked on the old relay.
    const revokedEarlier = await before.tokens.issue('alice-restart', ['*'], 60);
    expect((await postJson(before, '/manage/jwt/revoke', { token: revokedEarlier })).status).toBe(200);
    await before.close();

    const after = await relayOnRedis();
    expect(await agentsStatus(after, accessBeforeRestart)).toBe(200);
    expect(await agentsStatus(after, revokedEarlier)).toBe(401);
    // The refresh token from before the restart rotates on the new relay.
    const again = await refresh(after, r2);
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body).toMatchObject({ status: 'ok', subject: 'alice-restart', email: users.alice.email });
    const r3 = again.body['refresh_token'] as string;
    expect(r3).not.toBe(r2);
    // The subject is still alice's: bob cannot sign in with it.
    expect((await signIn(after, users.bob, { subject: 'alice-restart' })).status).toBe(409);
    // Reuse of r2 (used once already): the family is revoked, with r3 and the access tokens issued from it.
    const reused = await refresh(after, r2);
    expect(reused.status).toBe(401);
    expect(reused.body['error']).toMatch(/already used/);
    expect((await refresh(after, r3)).body['error']).toMatch(/revoked/);
    expect(await agentsStatus(after, accessBeforeRestart)).toBe(401);
    expect(await agentsStatus(after, again.body['token'] as string)).toBe(401);
  });

  it('(a) two relays rotating the same refresh token at once: never both; the family ends revoked', async () => {
    const a = await relayOnRedis();
    const b = await relayOnRedis();
    const signedIn = (await signIn(a, users.alice)).body as unknown as SignedIn;
    const answers = await Promise.all([
      refresh(a, signedIn.refresh_token),
      refresh(b, signedIn.refresh_token),
    ]);
    // One rotates (Lua: atomic), the other presents a used token: reuse detection revokes the family on both
    // relays. The winner answers 401 too when the revocation lands before it records its new access token.
    const statuses = answers.map((r) => r.status);
    expect(statuses).toContain(401);
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(1);
    expect(answers.some((r) => /already used/.test(String(r.body['error'])))).toBe(true);
    for (const winner of answers.filter((r) => r.status === 200)) {
      expect((await refresh(b, winner.body['refresh_token'] as string)).status).toBe(401);
      expect(await agentsStatus(a, winner.body['token'] as string)).toBe(401);
      expect(await agentsStatus(b, winner.body['token'] as string)).toBe(401);
    }
  });

  it('(b) a token revoked through relay A is refused by relay B at once, and B disconnects its agent (4401)', async () => {
    const a = await relayOnRedis();
    const b = await relayOnRedis();
    const token = await a.tokens.issue('bob-agent', ['notes'], 60);
    const agent = await connectAgent(b, token, 'bob-agent');
    expect(await agentsStatus(b, token)).toBe(200); // now in B's verified-token cache
    const revoked = await postJson(a, '/manage/jwt/revoke', { token });
    expect(revoked).toEqual({ status: 200, body: { revoked: true } });
    expect(await agentsStatus(b, token)).toBe(401);
    expect(await agent.closed).toEqual({ code: 4401, reason: 'token revoked' });
    // A relay started later learns it from Redis.
    const c = await relayOnRedis();
    expect(await agentsStatus(c, token)).toBe(401);
  });

  it("(b) logging out on A revokes the sign-in's access token on B and B's agent using it", async () => {
    const a = await relayOnRedis();
    const b = await relayOnRedis();
    const signedIn = (await signIn(a, users.bob, { subject: 'bob-logout' })).body as unknown as SignedIn;
    const agent = await connectAgent(b, signedIn.token, 'bob-logout');
    expect(await postJson(a, '/manage/oauth/logout', { refresh_token: signedIn.refresh_token })).toEqual({
      status: 200,
      body: { revoked: true },
    });
    expect(await agentsStatus(b, signedIn.token)).toBe(401);
    expect((await agent.closed).code).toBe(4401);
    expect((await refresh(b, signedIn.refresh_token)).status).toBe(401);
  });

  it('(c) a subject claimed on A cannot be claimed by another owner on B', async () => {
    const a = await relayOnRedis();
    const b = await relayOnRedis();
    // A signed-in owner on A, then another identity and an anonymous caller on B.
    expect((await signIn(a, users.alice, { subject: 'alice-shared' })).status).toBe(200);
    expect((await signIn(b, users.bob, { subject: 'alice-shared' })).status).toBe(409);
    expect((await postJson(b, '/manage/jwt/issue', { subject: 'alice-shared' })).status).toBe(409);
    // The owner herself signs in on B.
    expect((await signIn(b, users.alice, { subject: 'alice-shared' })).status).toBe(200);
    // An anonymous claim on B; A refuses both a sign-in and another anonymous caller.
    expect((await postJson(b, '/manage/jwt/issue', { subject: 'anon-shared' })).status).toBe(200);
    expect((await postJson(a, '/manage/jwt/issue', { subject: 'anon-shared' })).status).toBe(409);
    expect(
      (await postJson(a, '/manage/oauth/start', { redirect_uri: CALLBACK, subject: 'anon-shared' })).status,
    ).toBe(409);
    // Concurrent claims of one new subject on both relays: one wins.
    const both = await Promise.all([
      postJson(a, '/manage/jwt/issue', { subject: 'raced' }),
      postJson(b, '/manage/jwt/issue', { subject: 'raced' }),
    ]);
    expect(both.map((r) => r.status).sort()).toEqual([200, 409]);
  });
});

/** An MCP client of the relay's authorization server, by hand: RFC 7591 registration, PKCE, consent, tokens. */
async function authorizeMcpClient(
  relay: RelayServer,
  resource: string,
  owner: { email: string; password: string },
) {
  const redirect = 'http://127.0.0.1:53682/callback';
  const registered = await postJson(relay, '/oauth/register', {
    client_name: 'Redis test client',
    redirect_uris: [redirect],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  });
  expect(registered.status, JSON.stringify(registered.body)).toBe(201);
  const clientId = registered.body['client_id'] as string;
  const verifier = randomBytes(32).toString('base64url');
  const authorize = new URL('/oauth/authorize', relay.url);
  authorize.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirect,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    resource,
    scope: 'mcp offline_access',
    state: 'xyz',
  }).toString();
  const browser = new TestBrowser((location) => location.startsWith(redirect));
  const login = await browser.go(authorize.href);
  expect(login.status, login.html).toBe(200);
  const consent = await browser.submit(login.html, login.page.url, owner);
  const answered = await browser.submit(consent.html, consent.page.url, { decision: 'allow' });
  expect(answered.callback, answered.html).toBeDefined();
  const code = new URL(answered.callback!).searchParams.get('code')!;
  const tokens = await tokenRequest(relay, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: redirect,
    code_verifier: verifier,
    client_id: clientId,
    resource,
  });
  expect(tokens.status, JSON.stringify(tokens.body)).toBe(200);
  return {
    clientId,
    accessToken: tokens.body['access_token'] as string,
    refreshToken: tokens.body['refresh_token'] as string,
  };
}

async function tokenRequest(relay: RelayServer, params: Record<string, string>) {
  const res = await fetch(new URL('/oauth/token', relay.url), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

/** An MCP request with `token` on `subject`/`server`: 404 (no agent connected) once auth passed, 401 if not. */
async function mcpStatus(
  relay: RelayServer,
  subject: string,
  server: string,
  token: string,
): Promise<number> {
  const res = await fetch(new URL(`/${subject}/${server}/mcp`, relay.url), {
    method: 'POST',
    headers: {
      ...auth(token),
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  await res.body?.cancel();
  return res.status;
}

describe('the authorization server on Redis', () => {
  let redis: RedisFixture;
  let dir: string;
  let usersFile: string;
  const relays: RelayServer[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    dir = await mkdtemp(join(tmpdir(), 'relay-redis-as-'));
    usersFile = join(dir, 'users');
    await writeFile(usersFile, `${users.alice.email}:${await hashPassword(users.alice.password, FAST)}\n`);
  });
  afterAll(async () => {
    for (const relay of relays.splice(0)) await relay.close();
    await redis?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("keeps an MCP client's grant, access and refresh tokens and registration across a restart", async () => {
    // The same port and so the same issuer before and after (in production: PUBLIC_BASE_URL).
    const options = { redisUrl: redis.url, oauth: { identity: { provider: 'builtin' as const, usersFile } } };
    const before = await startRelay(options);
    relays.push(before);
    const port = Number(before.url.port);
    const agent = (await signIn(before, users.alice, { subject: 'alice-mcp' })).body as unknown as SignedIn;
    const resource = `${before.url.origin}/alice-mcp/notes/mcp`;
    const client = await authorizeMcpClient(before, resource, users.alice);
    expect(await mcpStatus(before, 'alice-mcp', 'notes', client.accessToken)).toBe(404);
    await before.close();
    relays.splice(0);

    const after = await startRelay({ ...options, port });
    relays.push(after);
    expect(await mcpStatus(after, 'alice-mcp', 'notes', client.accessToken)).toBe(404);
    expect(await mcpStatus(after, 'alice-mcp', 'other', client.accessToken)).toBe(401);
    // The registered client and its refresh token, from before the restart.
    const refreshed = await tokenRequest(after, {
      grant_type: 'refresh_token',
      refresh_token: client.refreshToken,
      client_id: client.clientId,
    });
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
    const newAccess = refreshed.body['access_token'] as string;
    expect(await mcpStatus(after, 'alice-mcp', 'notes', newAccess)).toBe(404);
    // The grant is listed for the owner's agent token, and ending it ends the tokens at once.
    const grants = await fetch(new URL('/manage/client-grants', after.url), { headers: auth(agent.token) });
    const listed = ((await grants.json()) as { grants: Json[] }).grants;
    expect(listed).toMatchObject([{ client_id: client.clientId, servers: ['notes'] }]);
    expect(await postJson(after, '/manage/client-grants/revoke', {}, auth(agent.token))).toEqual({
      status: 200,
      body: { revoked: 1 },
    });
    expect(await mcpStatus(after, 'alice-mcp', 'notes', newAccess)).toBe(401);
    expect(await mcpStatus(after, 'alice-mcp', 'notes', client.accessToken)).toBe(401);
  });
});

describe('Redis unreachable', () => {
  it('refuses to start, naming the URL without its password and the fix', async () => {
    const port = await closedPort();
    const error = await startRelay({ redisUrl: `redis://:s3cret-pass@127.0.0.1:${port}` }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RedisUnreachableError);
    const message = (error as Error).message;
    expect(message).toContain(`redis://:***@127.0.0.1:${port}`);
    expect(message).not.toContain('s3cret');
    expect(message).toMatch(/REDIS_URL/);
  });

  it('`mcpassistant-relay` exits 1 with one line naming REDIS_URL', async () => {
    const port = await closedPort();
    const bin = new URL('../bin/mcpassistant-relay.js', import.meta.url).pathname;
    const child = spawn(process.execPath, [bin], {
      cwd: tmpdir(),
      env: {
        PATH: process.env['PATH'] ?? '',
        HOST: '127.0.0.1',
        PORT: '0',
        JWT_SECRET: 'test-secret-0123456789abcdef',
        REDIS_URL: `redis://:s3cret-pass@127.0.0.1:${port}`,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /^mcpassistant-relay: cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/? \(connect ECONNREFUSED/,
    );
    expect(stderr).toContain('REDIS_URL');
    expect(stderr).not.toContain('s3cret');
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });

  it('while Redis is away: /healthz and state-bound routes answer 503, /connect too, and the relay lives on', async () => {
    const redis = await startRedis();
    const dir = await mkdtemp(join(tmpdir(), 'relay-redis-away-'));
    const usersFile = join(dir, 'users');
    await writeFile(usersFile, `${users.alice.email}:${await hashPassword(users.alice.password, FAST)}\n`);
    const relay = await startRelay({
      redisUrl: redis.url,
      jwtFallbackEnabled: true,
      oauth: { identity: { provider: 'builtin', usersFile } },
    });
    try {
      expect((await fetch(new URL('/healthz', relay.url))).status).toBe(200);
      const agentToken = await relay.tokens.issue('away-agent', ['*'], 60);
      await redis.close();
      await expect
        .poll(async () => {
          const res = await fetch(new URL('/healthz', relay.url));
          return { status: res.status, body: (await res.json()) as Json };
        })
        .toMatchObject({ status: 503, body: { ok: false, state: 'redis', redis: 'disconnected' } });
      const issued = await postJson(relay, '/manage/jwt/issue', { subject: 'while-away' });
      expect(issued.status).toBe(503);
      expect(issued.body['error']).toMatch(/shared state \(Redis\)/);
      // An opaque bearer on /connect is looked up in the authorization server's store: 503, not a crash.
      const upgrade = await new Promise<number>((resolve) => {
        const ws = new WebSocket(new URL('/connect', relay.url.href.replace(/^http/, 'ws')), {
          headers: auth('opaque-token-without-dots'),
        });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => resolve(101));
        ws.on('error', () => undefined);
      });
      expect(upgrade).toBe(503);
      // What needs no store still works: a JWT is verified in memory.
      expect(await agentsStatus(relay, agentToken)).toBe(200);
    } finally {
      await relay.close();
      await redis.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('`mcpassistant-relay` with REDIS_URL', () => {
  it('reads REDIS_URL and REDIS_KEY_PREFIX, and refuses a URL that is not redis://', () => {
    const base = { JWT_SECRET: 'test-secret-0123456789abcdef' };
    expect(relayOptionsFromEnv({ ...base, REDIS_URL: 'redis://:pw@10.0.0.5:6380/2' })).toMatchObject({
      redisUrl: 'redis://:pw@10.0.0.5:6380/2',
      redisKeyPrefix: 'mcpassistant:',
    });
    expect(relayOptionsFromEnv({ ...base, REDIS_KEY_PREFIX: 'relay-eu:' })).toMatchObject({
      redisUrl: undefined,
      redisKeyPrefix: 'relay-eu:',
    });
    expect(() => relayOptionsFromEnv({ ...base, REDIS_URL: 'http://localhost:6379' })).toThrow(
      /REDIS_URL must be redis:\/\//,
    );
  });

  it('starts on Redis, says so on /healthz, and exits 0 on SIGTERM (its Redis connections closed)', async () => {
    const redis = await startRedis();
    const bin = new URL('../bin/mcpassistant-relay.js', import.meta.url).pathname;
    const child = spawn(process.execPath, [bin], {
      cwd: tmpdir(),
      env: {
        PATH: process.env['PATH'] ?? '',
        HOST: '127.0.0.1',
        PORT: '0',
        JWT_SECRET: 'test-secret-0123456789abcdef',
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: 'cli-test:',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      let stderr = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
          stderr += chunk;
          const match = /listening on (http:\/\/\S+)/.exec(stderr);
          if (match) resolve(match[1]!);
        });
        void exit.then((code) => reject(new Error(`the relay exited (${code}):\n${stderr}`)));
      });
      const health = await fetch(new URL('/healthz', url));
      expect(await health.json()).toMatchObject({ ok: true, state: 'redis', redis: 'connected' });
      await expect.poll(() => stderr).toContain(`shared state: Redis at ${redis.url}`);
      child.kill('SIGTERM');
      expect(await exit).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await redis.close();
    }
  });
});

describe('without REDIS_URL', () => {
  it('keeps the state in memory and says so on /healthz', async () => {
    const relay = await startRelay();
    try {
      const res = await fetch(new URL('/healthz', relay.url));
      expect(res.status).toBe(200);
      const body = (await res.json()) as Json;
      expect(body).toMatchObject({ ok: true, state: 'memory' });
      expect(body).not.toHaveProperty('redis');
    } finally {
      await relay.close();
    }
  });
});
