// Sign-in (/manage/oauth/*) over real sockets: a RelayServer on 127.0.0.1 with the built-in provider (a real
// USERS_FILE of scrypt hashes) or with a real OpenID Connect provider (oidc-provider on 127.0.0.1, devInteractions),
// driven by a small browser (fetch with manual redirects and a cookie jar) and by plain fetch as the agent.
// The tokens it issues are then used where agents use them: /connect and the client routes.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { startIdp } from '../e2e/support/oidc-idp.js';
import { startRelay } from '../e2e/support/relay-fixture.js';
import { decodeEntities, parseForm, TestBrowser } from '../e2e/support/test-browser.js';
import {
  hashPassword,
  parseHash,
  parseUsers,
  type ScryptParams,
  verifyPassword,
} from './identity/password.js';
import type { OAuthSettings } from './oauth.js';
import { relayOptionsFromEnv } from './relay-config.js';
import type { RelayOptions, RelayServer } from './relay-server.js';

// ── helpers ──────────────────────────────────────────────────────────────────────────────────────────────

type Json = Record<string, unknown>;

/** Whatever a describe block starts, closed in reverse order by its afterAll. */
class Owned {
  readonly #closers: (() => unknown)[] = [];
  add<T>(value: T, close: (value: T) => unknown): T {
    this.#closers.push(() => close(value));
    return value;
  }
  async closeAll(): Promise<void> {
    for (const close of this.#closers.splice(0).reverse()) {
      try {
        await close();
      } catch {
        // ignore: best-effort cleanup, the next closer must still run
      }
    }
  }
}

/** Cheap scrypt for test users (the default costs ~0.1 s per hash). */
const FAST: ScryptParams = { N: 2 ** 12, r: 8, p: 1 };
/** The agent's loopback callback: nothing needs to listen there, the test browser stops at the redirect. */
const CALLBACK = 'http://127.0.0.1:43110/callback/k3y?state=agent-state';

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

interface Started {
  session_id: string;
  auth_url: string;
  expires_at: string;
  provider: string;
}

async function start(relay: RelayServer, body: Json = {}): Promise<Started> {
  const res = await postJson(relay, '/manage/oauth/start', { redirect_uri: CALLBACK, ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as unknown as Started;
}

const complete = (relay: RelayServer, session_id: string, code: string) =>
  postJson(relay, '/manage/oauth/complete', { session_id, code });
const refresh = (relay: RelayServer, refresh_token: string, extra: Json = {}) =>
  postJson(relay, '/manage/oauth/refresh', { refresh_token, ...extra });

/** The parameters the relay appended to the agent's redirect_uri, checking that its own query was kept. */
function callbackParams(location: string | undefined): URLSearchParams {
  expect(location, 'a redirect to the agent').toBeDefined();
  expect(location!.startsWith(`${CALLBACK}&`), location).toBe(true);
  return new URL(location!).searchParams;
}

/** A raw agent: /connect with `token`, registered as `subject` with `servers`; resolves once registered. */
async function connectAgent(relay: RelayServer, token: string, subject: string, servers: string[]) {
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
  ws.send(JSON.stringify({ type: 'register', subject, capabilities: servers }));
  expect(await registered).toMatchObject({ type: 'registered', subject });
  return { ws, closed };
}

function closeWs(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    ws.once('close', () => resolve());
    ws.terminate();
  });
}

/** What a client route answers when the token passed but no agent is connected for the subject. */
const AUTH_PASSED = { status: 404, text: expect.stringContaining('no agent is connected') as unknown };

/** A client-route call that needs only auth to pass (a notification: 202 without an answering agent). */
async function notifyStatus(relay: RelayServer, subject: string, server: string, token: string) {
  const res = await fetch(new URL(`/${subject}/${server}/mcp`, relay.url), {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      ...auth(token),
    },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  const text = await res.text();
  return { status: res.status, text };
}

// ── the built-in provider ────────────────────────────────────────────────────────────────────────────────

describe('sign-in with the built-in provider', () => {
  const owned = new Owned();
  let relay: RelayServer;
  let clockOffset = 0;
  const users = {
    alice: { email: 'alice@example.com', password: 'correct horse battery staple' },
    bob: { email: 'Bob@Example.com', password: 'hunter2-but-longer' },
  };

  beforeAll(async () => {
    const dir = owned.add(await mkdtemp(join(tmpdir(), 'relay-oauth-')), (d) =>
      rm(d, { recursive: true, force: true }),
    );
    const usersFile = join(dir, 'users');
    await writeFile(
      usersFile,
      `# test users\n${users.alice.email}:${await hashPassword(users.alice.password, FAST)}\n\n` +
        `${users.bob.email}:${await hashPassword(users.bob.password, FAST)}\n`,
    );
    relay = owned.add(
      await startRelay({
        jwtFallbackEnabled: true,
        oauth: { identity: { provider: 'builtin', usersFile }, now: () => Date.now() + clockOffset },
      }),
      (r) => r.close(),
    );
  });
  afterAll(() => owned.closeAll());

  /** start → sign-in page → form → the agent's callback; returns the session and the code. */
  async function signIn(user: { email: string; password: string }, body: Json = {}) {
    const started = await start(relay, body);
    const browser = new TestBrowser();
    const page = await browser.go(started.auth_url);
    expect(page.status).toBe(200);
    const done = await browser.submit(page.html, started.auth_url, {
      email: user.email,
      password: user.password,
    });
    const params = callbackParams(done.callback);
    expect(params.get('session_id')).toBe(started.session_id);
    return { started, code: params.get('code')!, browser };
  }

  async function signInComplete(user: { email: string; password: string }, body: Json = {}) {
    const { started, code } = await signIn(user, body);
    const res = await complete(relay, started.session_id, code);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as {
      token: string;
      subject: string;
      email: string;
      refresh_token: string;
      refresh_expires_at: string;
    };
  }

  it('signs in: start → sign-in page → form → 302 with a code → complete → a token for /connect and the client routes', async () => {
    const started = await start(relay, {
      subject: 'alice-laptop',
      expiry_minutes: 30,
      capabilities: ['notes'],
    });
    expect(started.provider).toBe('builtin');
    expect(started.session_id).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    const expiresIn = Date.parse(started.expires_at) - Date.now();
    expect(expiresIn).toBeGreaterThan(9 * 60_000);
    expect(expiresIn).toBeLessThanOrEqual(10 * 60_000);
    const authUrl = new URL(started.auth_url);
    expect(`${authUrl.origin}${authUrl.pathname}`).toBe(new URL('/manage/oauth/login', relay.url).href);
    expect(authUrl.searchParams.get('session_id')).toBe(started.session_id);

    const browser = new TestBrowser();
    const page = await browser.go(started.auth_url);
    expect(page.status).toBe(200);
    expect(page.page.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = page.page.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/form-action 'self' http:\/\/127\.0\.0\.1:43110(;|$)/);
    expect(csp).toMatch(/frame-ancestors 'none'/);
    expect(page.page.headers.get('cache-control')).toBe('no-store');
    expect(page.html).not.toMatch(/<script|<link|src=|https?:\/\/(?!127)/i);
    const form = parseForm(page.html, started.auth_url);
    expect(form.fields['session_id']).toBe(started.session_id);

    const done = await browser.submit(page.html, started.auth_url, users.alice);
    expect(done.status).toBe(302);
    const params = callbackParams(done.callback);
    expect(params.get('session_id')).toBe(started.session_id);
    expect(params.get('code')).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(params.get('state')).toBe('agent-state');

    const res = await complete(relay, started.session_id, params.get('code')!);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'complete',
      subject: 'alice-laptop',
      email: 'alice@example.com',
      auth_mode: 'oauth',
      refresh_token: expect.stringMatching(/^[A-Za-z0-9_-]{40,}$/) as unknown,
    });
    const refreshIn = Date.parse(res.body['refresh_expires_at'] as string) - Date.now();
    expect(Math.abs(refreshIn - 30 * 86_400_000)).toBeLessThan(60_000);
    const token = res.body['token'] as string;
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      iss: relay.url.origin,
      aud: 'mcpassistant-relay',
      sub: 'alice-laptop',
      role: 'agent',
      capabilities: ['notes'],
    });
    expect(claims.exp! - claims.iat!).toBe(30 * 60);
    expect(Math.abs(claims.iat! - Date.now() / 1000)).toBeLessThan(60);

    // The token is an agent token: /connect, the client routes, /agents.
    const agent = owned.add(await connectAgent(relay, token, 'alice-laptop', ['notes']), (a) =>
      closeWs(a.ws),
    );
    expect(await notifyStatus(relay, 'alice-laptop', 'notes', token)).toEqual({ status: 202, text: '' });
    expect((await notifyStatus(relay, 'alice-laptop', 'other', token)).status).toBe(403);
    const agents = await fetch(new URL('/agents', relay.url), { headers: auth(token) });
    expect(((await agents.json()) as { agents: Json[] }).agents).toHaveLength(1);
    await closeWs(agent.ws);
  });

  it('shows the form again after a wrong password, issues nothing, and ends the session after 5 tries', async () => {
    const started = await start(relay);
    const browser = new TestBrowser();
    let page = await browser.go(started.auth_url);
    for (const [attempt, credentials] of [
      { email: users.alice.email, password: 'wrong' },
      { email: 'nobody@example.com', password: users.alice.password },
      { email: users.bob.email, password: users.alice.password },
      { email: users.alice.email, password: '' },
    ].entries()) {
      const again = await browser.submit(page.html, started.auth_url, credentials);
      expect(again.callback, `attempt ${attempt}`).toBeUndefined();
      expect(again.status).toBe(401);
      expect(again.html).toContain('Wrong e-mail or password.');
      expect(parseForm(again.html, started.auth_url).fields['email']).toBe(credentials.email.toLowerCase());
      page = again;
    }
    const notYet = await complete(relay, started.session_id, 'anything');
    expect(notYet).toEqual({
      status: 400,
      body: { ok: false, error: 'the sign-in has not finished in the browser yet' },
    });

    const last = await browser.submit(page.html, started.auth_url, {
      email: users.alice.email,
      password: 'nope',
    });
    const params = callbackParams(last.callback);
    expect(params.get('error')).toBe('access_denied');
    expect(params.get('error_description')).toMatch(/5 wrong e-mails or passwords/);
    expect(params.get('code')).toBeNull();
    // The right password no longer helps on this session.
    const late = await browser.submit(page.html, started.auth_url, users.alice);
    expect(late.status).toBe(400);
    expect(late.html).toContain('expired or was already finished');
    const res = await complete(relay, started.session_id, 'anything');
    expect(res.status).toBe(403);
    expect(res.body['error']).toMatch(/^the sign-in failed: 5 wrong/);
  });

  it('redirects with error=access_denied when the user presses Cancel', async () => {
    const started = await start(relay);
    const browser = new TestBrowser();
    const page = await browser.go(started.auth_url);
    const cancelled = await browser.submit(page.html, started.auth_url, { action: 'cancel' });
    expect(cancelled.status).toBe(302);
    const params = callbackParams(cancelled.callback);
    expect(Object.fromEntries(params)).toEqual({
      state: 'agent-state',
      session_id: started.session_id,
      error: 'access_denied',
      error_description: 'the user cancelled the sign-in',
    });
    const res = await complete(relay, started.session_id, 'x');
    expect(res).toEqual({
      status: 403,
      body: { ok: false, error: 'the sign-in failed: the user cancelled the sign-in' },
    });
    const again = await browser.go(started.auth_url);
    expect(again.status).toBe(400);
    expect(again.html).toContain('expired or was already finished');
  });

  it('expires a login session after 10 minutes: complete answers 410, the sign-in page says so', async () => {
    const { started, code } = await signIn(users.alice);
    const waiting = await start(relay);
    clockOffset = 10 * 60_000 + 1000;
    try {
      const res = await complete(relay, started.session_id, code);
      expect(res.status).toBe(410);
      expect(res.body['error']).toMatch(/^the sign-in session has expired .*start the sign-in again$/);
      const page = await new TestBrowser().go(waiting.auth_url);
      expect(page.status).toBe(400);
      expect(page.html).toContain('expired or was already finished');
    } finally {
      clockOffset = 0;
    }
    const unknown = await complete(relay, 'no-such-session', code);
    expect(unknown).toEqual({
      status: 400,
      body: { ok: false, error: 'unknown sign-in session; start the sign-in again' },
    });
  });

  it('takes a code once: a wrong code is refused, a replayed one too, and it revokes what the code gave', async () => {
    const { started, code } = await signIn(users.alice, { subject: 'alice-replay' });
    const wrong = await complete(relay, started.session_id, `${code}x`);
    expect(wrong).toEqual({
      status: 400,
      body: { ok: false, error: 'the code is not valid for this sign-in session' },
    });
    const first = await complete(relay, started.session_id, code);
    expect(first.status).toBe(200);
    const token = first.body['token'] as string;
    expect(await notifyStatus(relay, 'alice-replay', 'notes', token)).toMatchObject(AUTH_PASSED);

    const replay = await complete(relay, started.session_id, code);
    expect(replay.status).toBe(400);
    expect(replay.body['error']).toMatch(/already used/);
    const after = await notifyStatus(relay, 'alice-replay', 'notes', token);
    expect(after.status).toBe(401);
    expect(after.text).toContain('revoked');
    expect((await refresh(relay, first.body['refresh_token'] as string)).status).toBe(401);
  });

  it('rotates refresh tokens: a used one is refused, and its reuse revokes the whole family', async () => {
    const signedIn = await signInComplete(users.alice, { subject: 'alice-rotate' });
    const r1 = await refresh(relay, signedIn.refresh_token, { expiry_minutes: 5 });
    expect(r1.status).toBe(200);
    expect(r1.body).toMatchObject({ status: 'ok', subject: 'alice-rotate', auth_mode: 'oauth' });
    const rotated = r1.body['refresh_token'] as string;
    expect(rotated).not.toBe(signedIn.refresh_token);
    const claims = decodeJwt(r1.body['token'] as string);
    expect(claims).toMatchObject({ sub: 'alice-rotate', role: 'agent', capabilities: ['*'] });
    expect(claims.exp! - claims.iat!).toBe(5 * 60);
    expect(await notifyStatus(relay, 'alice-rotate', 'notes', r1.body['token'] as string)).toMatchObject(
      AUTH_PASSED,
    );

    // The new one works once more (a chain of rotations).
    const r2 = await refresh(relay, rotated);
    expect(r2.status).toBe(200);
    const newest = r2.body['refresh_token'] as string;
    const newestToken = r2.body['token'] as string;

    // Reuse of a used token: refused, and the family is revoked — the newest token and its JWTs too.
    const reuse = await refresh(relay, rotated);
    expect(reuse).toEqual({
      status: 401,
      body: { ok: false, error: 'the refresh token was already used; the sign-in is revoked, sign in again' },
    });
    const afterReuse = await refresh(relay, newest);
    expect(afterReuse).toEqual({
      status: 401,
      body: { ok: false, error: 'the refresh token was revoked; sign in again' },
    });
    expect((await notifyStatus(relay, 'alice-rotate', 'notes', newestToken)).status).toBe(401);

    expect(await refresh(relay, 'not-a-refresh-token')).toEqual({
      status: 401,
      body: { ok: false, error: 'unknown refresh token; sign in again' },
    });
    expect((await refresh(relay, newest, { expiry_minutes: 2000 })).status).toBe(400);
    expect((await postJson(relay, '/manage/oauth/refresh', {})).status).toBe(400);

    // A refresh token lives REFRESH_TOKEN_DAYS (30 by default).
    const later = await signInComplete(users.alice, { subject: 'alice-rotate' });
    clockOffset = 30 * 86_400_000 + 1000;
    try {
      expect(await refresh(relay, later.refresh_token)).toEqual({
        status: 401,
        body: { ok: false, error: 'the refresh token has expired; sign in again' },
      });
    } finally {
      clockOffset = 0;
    }
  });

  it('logs out: the refresh family is revoked; the agent revokes its JWT with /manage/jwt/revoke', async () => {
    const signedIn = await signInComplete(users.alice, { subject: 'alice-logout' });
    const agent = owned.add(await connectAgent(relay, signedIn.token, 'alice-logout', ['notes']), (a) =>
      closeWs(a.ws),
    );
    expect(await postJson(relay, '/manage/oauth/logout', { refresh_token: signedIn.refresh_token })).toEqual({
      status: 200,
      body: { revoked: true },
    });
    expect((await refresh(relay, signedIn.refresh_token)).status).toBe(401);
    expect(await postJson(relay, '/manage/oauth/logout', { refresh_token: signedIn.refresh_token })).toEqual({
      status: 200,
      body: { revoked: false },
    });
    expect(await postJson(relay, '/manage/oauth/logout', { refresh_token: 'unknown' })).toEqual({
      status: 200,
      body: { revoked: false },
    });
    expect((await postJson(relay, '/manage/oauth/logout', {})).status).toBe(400);

    // Logout also revoked the JWTs issued from the family; /manage/jwt/revoke (the agent's own step) agrees.
    expect(await agent.closed).toEqual({ code: 4401, reason: 'token revoked' });
    expect(await postJson(relay, '/manage/jwt/revoke', { token: signedIn.token })).toEqual({
      status: 200,
      body: { revoked: true },
    });
    expect((await notifyStatus(relay, 'alice-logout', 'notes', signedIn.token)).status).toBe(401);
    await expect(connectAgent(relay, signedIn.token, 'alice-logout', [])).rejects.toThrow(/401/);
  });

  it('binds a subject to its first identity: another one gets 409; without a subject, one from the e-mail', async () => {
    const alice = await signInComplete(users.alice, { subject: 'team-box' });
    expect(alice.subject).toBe('team-box');
    // The same identity may have it again.
    expect((await signInComplete(users.alice, { subject: 'team-box' })).subject).toBe('team-box');

    const { started, code } = await signIn(users.bob, { subject: 'team-box' });
    const taken = await complete(relay, started.session_id, code);
    expect(taken).toEqual({
      status: 409,
      body: {
        ok: false,
        error: 'subject "team-box" belongs to another account; sign in without a subject to get your own',
      },
    });

    const bob = await signInComplete(users.bob);
    expect(bob.email).toBe('bob@example.com');
    expect(bob.subject).toMatch(/^bob-[0-9a-f]{8}$/);
    expect((await signInComplete(users.bob)).subject).toBe(bob.subject);

    // /manage/jwt/issue cannot take a signed-in identity's subject, nor sign-in one it handed out.
    const issued = await postJson(relay, '/manage/jwt/issue', { subject: 'team-box' });
    expect(issued.status).toBe(409);
    expect((await postJson(relay, '/manage/jwt/issue', { subject: 'anon-box' })).status).toBe(200);
    const anon = await postJson(relay, '/manage/oauth/start', {
      subject: 'anon-box',
      redirect_uri: CALLBACK,
    });
    expect(anon).toEqual({ status: 409, body: { ok: false, error: 'subject "anon-box" is already taken' } });
  });

  it('answers 400 to a redirect_uri that is not loopback, and to bad fields', async () => {
    for (const redirect_uri of [
      undefined,
      '',
      'not a url',
      'https://127.0.0.1:43110/callback',
      'http://example.com:43110/callback',
      'http://127.0.0.1.example.com/callback',
      'http://[::1]:43110/callback',
      'http://user:pw@127.0.0.1:43110/callback',
      'javascript:alert(1)',
      `http://127.0.0.1:43110/${'a'.repeat(2100)}`,
    ]) {
      const res = await postJson(relay, '/manage/oauth/start', { redirect_uri });
      expect(res.status, String(redirect_uri)).toBe(400);
      expect(res.body['error']).toMatch(/^redirect_uri/);
    }
    for (const redirect_uri of [
      'http://localhost:5000/cb',
      'http://127.0.0.1:1/',
      'http://127.0.0.1:9/a?b=c#frag',
    ]) {
      const res = await postJson(relay, '/manage/oauth/start', { redirect_uri });
      expect(res.status, redirect_uri).toBe(200);
    }
    for (const [field, value] of [
      ['subject', 'has space'],
      ['subject', 12],
      ['expiry_minutes', 0],
      ['expiry_minutes', 1441],
      ['capabilities', 'notes'],
    ] as const) {
      const res = await postJson(relay, '/manage/oauth/start', { redirect_uri: CALLBACK, [field]: value });
      expect(res.status, `${field}=${value}`).toBe(400);
      expect(res.body['error']).toMatch(new RegExp(`^${field}`));
    }
    // null fields are read as absent (older agents send them).
    const nulls = await postJson(relay, '/manage/oauth/start', {
      redirect_uri: CALLBACK,
      subject: null,
      expiry_minutes: null,
      capabilities: null,
    });
    expect(nulls.status).toBe(200);
    const get = await fetch(new URL('/manage/oauth/start', relay.url));
    expect(get.status).toBe(405);
    await get.body?.cancel();
  });

  it('refuses a sign-in form posted from another site', async () => {
    const started = await start(relay);
    const res = await fetch(new URL('/manage/oauth/login', relay.url), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: 'https://evil.example' },
      body: new URLSearchParams({ session_id: started.session_id, ...users.alice }).toString(),
      redirect: 'manual',
    });
    expect(res.status).toBe(403);
    await res.body?.cancel();
  });
});

// ── no provider ──────────────────────────────────────────────────────────────────────────────────────────

describe('sign-in without a provider', () => {
  const owned = new Owned();
  afterAll(() => owned.closeAll());

  it('answers 404 on /manage/oauth/*, so that agents fall back to /manage/jwt/issue', async () => {
    const relay = owned.add(await startRelay({ jwtFallbackEnabled: true }), (r) => r.close());
    for (const path of ['/manage/oauth/start', '/manage/oauth/complete', '/manage/oauth/refresh']) {
      const res = await postJson(relay, path, { redirect_uri: CALLBACK });
      expect(res.status, path).toBe(404);
      expect(res.body['error']).toMatch(/sign-in is not configured on this relay/);
    }
    const fallback = await postJson(relay, '/manage/jwt/issue', { subject: 'carol', expiry_minutes: 5 });
    expect(fallback.status).toBe(200);
    // Tokens of /manage/jwt/issue name the relay too, and stay valid without JWT_ISSUER/JWT_AUDIENCE.
    expect(decodeJwt(fallback.body['token'] as string)).toMatchObject({
      iss: relay.url.origin,
      aud: 'mcpassistant-relay',
    });
    expect((await relay.tokens.verify(fallback.body['token'] as string)).ok).toBe(true);
  });
});

// ── an OpenID Connect provider ───────────────────────────────────────────────────────────────────────────

describe('sign-in with an OpenID Connect provider', () => {
  const owned = new Owned();
  let relay: RelayServer;
  let issuer: string;

  beforeAll(async () => {
    const idp = owned.add(await startIdp(), (i) => i.close());
    issuer = idp.issuer;
    const oauth: OAuthSettings = {
      identity: {
        provider: 'oidc',
        issuer,
        clientId: 'relay',
        clientSecret: 'relay-client-secret-0123456789',
        allowedDomains: ['example.com'],
      },
    };
    relay = owned.add(await startRelay({ oauth }), (r) => r.close());
    idp.configure(new URL('/manage/oauth/callback', relay.url).href);
  });
  afterAll(() => owned.closeAll());

  /** Plays the user at oidc-provider's pages: the login form, then consent; returns the agent's callback. */
  async function atIdp(
    authUrl: string,
    login: string,
    options: { abort?: boolean; browser?: TestBrowser } = {},
  ) {
    const browser = options.browser ?? new TestBrowser();
    let step = await browser.go(authUrl);
    for (let pages = 0; !step.callback && pages < 4; pages++) {
      expect(step.status, step.html).toBe(200);
      const base = step.page.url || authUrl;
      if (options.abort) {
        const cancel = /href="([^"]*\/abort)"/.exec(step.html)?.[1];
        expect(cancel).toBeDefined();
        step = await browser.go(new URL(decodeEntities(cancel!), issuer));
        continue;
      }
      const isLogin = /name="login"/.test(step.html);
      step = await browser.submit(step.html, base, isLogin ? { login, password: 'any' } : {});
    }
    return callbackParams(step.callback);
  }

  it('signs in with PKCE S256, state and nonce, and a server-side code exchange', async () => {
    const started = await start(relay, { capabilities: ['notes'] });
    expect(started.provider).toBe('oidc');
    const authUrl = new URL(started.auth_url);
    expect(authUrl.origin).toBe(issuer);
    expect(Object.fromEntries(authUrl.searchParams)).toMatchObject({
      client_id: 'relay',
      response_type: 'code',
      scope: 'openid email',
      redirect_uri: new URL('/manage/oauth/callback', relay.url).href,
      code_challenge_method: 'S256',
      code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) as unknown,
      state: expect.stringMatching(/.{20,}/) as unknown,
      nonce: expect.stringMatching(/.{20,}/) as unknown,
    });

    const browser = new TestBrowser();
    const params = await atIdp(started.auth_url, 'dana@example.com', { browser });
    expect(params.get('session_id')).toBe(started.session_id);
    expect(params.get('error')).toBeNull();
    // The provider came back to the relay's callback with a code, the state and its issuer (RFC 9207).
    const callback = browser.history.find((u) =>
      u.href.startsWith(`${relay.url.origin}/manage/oauth/callback?`),
    );
    expect(Object.fromEntries(callback!.searchParams)).toMatchObject({
      code: expect.any(String) as unknown,
      state: authUrl.searchParams.get('state'),
      iss: issuer,
    });
    // Loading that callback again (a replay) finds no waiting session.
    const replay = await fetch(callback!, { redirect: 'manual' });
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain('expired or was already finished');
    const res = await complete(relay, started.session_id, params.get('code')!);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ status: 'complete', email: 'dana@example.com', auth_mode: 'oauth' });
    expect(res.body['subject']).toMatch(/^dana-[0-9a-f]{8}$/);
    const claims = decodeJwt(res.body['token'] as string);
    expect(claims).toMatchObject({ sub: res.body['subject'], role: 'agent', capabilities: ['notes'] });
    expect((await relay.tokens.verify(res.body['token'] as string)).ok).toBe(true);
    const rotated = await refresh(relay, res.body['refresh_token'] as string);
    expect(rotated.status).toBe(200);
  });

  it('sends a user of a domain that is not allowed back with error=access_denied naming the domain', async () => {
    const started = await start(relay);
    const params = await atIdp(started.auth_url, 'mallory@other.example');
    expect(params.get('session_id')).toBe(started.session_id);
    expect(params.get('code')).toBeNull();
    expect(params.get('error')).toBe('access_denied');
    expect(params.get('error_description')).toBe(
      'the e-mail domain other.example is not allowed to sign in to this relay',
    );
    const res = await complete(relay, started.session_id, 'x');
    expect(res.status).toBe(403);
    expect(res.body['error']).toContain('other.example');
  });

  it('refuses an e-mail address that the provider says is not verified', async () => {
    const started = await start(relay);
    const params = await atIdp(started.auth_url, 'erin+unverified@example.com');
    expect(params.get('error')).toBe('access_denied');
    expect(params.get('error_description')).toMatch(/not verified/);
  });

  it('passes the provider’s access_denied on when the user cancels there', async () => {
    const started = await start(relay);
    const params = await atIdp(started.auth_url, 'dana@example.com', { abort: true });
    expect(params.get('session_id')).toBe(started.session_id);
    expect(params.get('error')).toBe('access_denied');
    expect(params.get('error_description')).toBeTruthy();
  });

  it('answers 502 to /manage/oauth/start while the identity provider cannot be reached', async () => {
    // A port that was just free: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const down = owned.add(
      await startRelay({
        oauth: {
          identity: {
            provider: 'oidc',
            issuer: `http://127.0.0.1:${port}`,
            clientId: 'relay',
            allowedDomains: [],
          },
        },
      }),
      (r) => r.close(),
    );
    const res = await postJson(down, '/manage/oauth/start', { redirect_uri: CALLBACK });
    expect(res.status).toBe(502);
    expect(res.body['error']).toMatch(/^the identity provider cannot be reached: /);
  });

  it('answers a callback with an unknown state with the "expired" page', async () => {
    const res = await fetch(new URL('/manage/oauth/callback?code=abc&state=forged', relay.url));
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('expired or was already finished');
  });
});

// ── USERS_FILE, hash-password and the environment ────────────────────────────────────────────────────────

describe('password hashes and USERS_FILE', () => {
  it('hashes with scrypt, verifies in constant time, and refuses wrong passwords and unknown users', async () => {
    const line = await hashPassword('s3cret pässword', FAST);
    expect(line).toMatch(/^scrypt:4096:8:1:[A-Za-z0-9+/]+=*:[A-Za-z0-9+/]+=*$/);
    const { users, problems } = parseUsers(`a@example.com:${line}\n`);
    expect(problems).toEqual([]);
    const user = users.get('a@example.com');
    expect(await verifyPassword(user, 's3cret pässword')).toBe(true);
    // NFC and NFD spellings of the same text are one password.
    expect(await verifyPassword(user, 's3cret pa\u0308ssword')).toBe(true);
    expect(await verifyPassword(user, 's3cret password')).toBe(false);
    expect(await verifyPassword(undefined, 's3cret pässword')).toBe(false);
    expect((await hashPassword('x', FAST)) === (await hashPassword('x', FAST))).toBe(false);
  });

  it('names every bad line of a USERS_FILE without echoing it', async () => {
    const good = await hashPassword('pw', FAST);
    const { users, problems } = parseUsers(
      [
        '# comment',
        `ok@example.com:${good}`,
        'no-colon-here',
        `not-an-email:${good}`,
        'x@example.com:bcrypt:1:2:3:4:5',
        'y@example.com:scrypt:1000:8:1:AAAAAAAAAAA=:AAAAAAAAAAAAAAAAAAAAAA==',
        `OK@example.com:${good}`,
      ].join('\n'),
    );
    expect([...users.keys()]).toEqual(['ok@example.com']);
    expect(problems).toEqual([
      'line 3: expected email:scrypt:<N>:<r>:<p>:<salt>:<hash>',
      'line 4: expected email:scrypt:<N>:<r>:<p>:<salt>:<hash>',
      'line 5 (x@example.com): expected scrypt:<N>:<r>:<p>:<salt base64>:<hash base64>',
      'line 6 (y@example.com): N must be a power of two from 2 to 2^20',
      'line 7: ok@example.com is listed twice (the first wins)',
    ]);
  });

  it('refuses to start with a USERS_FILE that does not parse', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'relay-users-'));
    try {
      const usersFile = join(dir, 'users');
      await writeFile(usersFile, 'alice@example.com:nope\n');
      const options: Partial<RelayOptions> = { oauth: { identity: { provider: 'builtin', usersFile } } };
      await expect(startRelay(options)).rejects.toThrow(/USERS_FILE .*users line 1 \(alice@example.com\)/);
      const missing: Partial<RelayOptions> = {
        oauth: { identity: { provider: 'builtin', usersFile: join(dir, 'absent') } },
      };
      await expect(startRelay(missing)).rejects.toThrow(/cannot be read \(ENOENT\)/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('`mcpassistant-relay hash-password` reads stdin and prints a hash that verifies', async () => {
    const bin = new URL('../bin/mcpassistant-relay.js', import.meta.url).pathname;
    if (!existsSync(new URL('../dist/src-relay/main.js', import.meta.url)))
      throw new Error('dist/src-relay/main.js is missing: run `node scripts/prepare.mjs` first');
    const run = (input: string) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [bin, 'hash-password'], { stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
        child.stdin.end(input);
      });
    const ok = await run('open sesame\n');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^scrypt:65536:8:1:\S+:\S+\n$/);
    const record = parseHash(ok.stdout.trim());
    expect(await verifyPassword({ email: 'a@b.c', ...record }, 'open sesame')).toBe(true);
    const empty = await run('');
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/no password/);
  });
});

describe('relayOptionsFromEnv: sign-in', () => {
  const secret = 'a-secret-of-at-least-16-characters';

  it('has no provider by default, infers builtin from USERS_FILE and oidc from OIDC_ISSUER', () => {
    expect(relayOptionsFromEnv({ JWT_SECRET: secret }).oauth).toBeUndefined();
    expect(relayOptionsFromEnv({ JWT_SECRET: secret, USERS_FILE: '/etc/relay/users' }).oauth).toEqual({
      identity: { provider: 'builtin', usersFile: '/etc/relay/users' },
      refreshTokenDays: 30,
    });
    expect(
      relayOptionsFromEnv({
        JWT_SECRET: secret,
        OIDC_ISSUER: 'https://accounts.example.com',
        OIDC_CLIENT_ID: 'relay',
        OIDC_CLIENT_SECRET: 'shh',
        OIDC_ALLOWED_DOMAINS: 'Example.com, @corp.example',
        REFRESH_TOKEN_DAYS: '7',
      }).oauth,
    ).toEqual({
      identity: {
        provider: 'oidc',
        issuer: 'https://accounts.example.com',
        clientId: 'relay',
        clientSecret: 'shh',
        allowedDomains: ['example.com', 'corp.example'],
      },
      refreshTokenDays: 7,
    });
    const chosen = relayOptionsFromEnv({
      JWT_SECRET: secret,
      OAUTH_PROVIDER: 'builtin',
      USERS_FILE: 'users',
      OIDC_ISSUER: 'https://accounts.example.com',
    });
    expect(chosen.oauth?.identity.provider).toBe('builtin');
  });

  it('names what is missing or wrong', () => {
    const env = (extra: Record<string, string>) => () =>
      relayOptionsFromEnv({ JWT_SECRET: secret, ...extra });
    expect(env({ USERS_FILE: 'u', OIDC_ISSUER: 'https://id.example' })).toThrow(/choose with OAUTH_PROVIDER/);
    expect(env({ OAUTH_PROVIDER: 'builtin' })).toThrow(/^USERS_FILE: required/);
    expect(env({ OAUTH_PROVIDER: 'oidc' })).toThrow(/OIDC_ISSUER: required[\s\S]*OIDC_CLIENT_ID: required/);
    expect(env({ OIDC_ISSUER: 'https://id.example' })).toThrow(/^OIDC_CLIENT_ID: required/);
    expect(env({ OIDC_ISSUER: 'http://id.example', OIDC_CLIENT_ID: 'x' })).toThrow(
      /OIDC_ISSUER must be https/,
    );
    expect(env({ OIDC_ISSUER: 'http://127.0.0.1:9000', OIDC_CLIENT_ID: 'x' })).not.toThrow();
    expect(env({ OAUTH_PROVIDER: 'ldap' })).toThrow(/^OAUTH_PROVIDER:/);
    expect(env({ USERS_FILE: 'u', REFRESH_TOKEN_DAYS: '0' })).toThrow(/^REFRESH_TOKEN_DAYS:/);
  });
});
