// Agent sign-in, as COMPAT.md describes the existing remote's flow, made safe where that flow is not:
// - the loopback callback listens on 127.0.0.1 only, only during one login (300 s at most), answers once,
//   and checks both a secret path segment and our own single-use `state`, besides the relay's session_id;
// - a busy callback port falls back to an ephemeral one (our relay accepts any loopback port);
// - the auth_url is opened only if it is https (or http to a loopback relay), through an API call, never a
//   shell string (the CVE class of opening remote-supplied URLs);
// - a relay without OAuth (404/405/503 on /manage/oauth/start) falls back to /manage/jwt/issue.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { errorMessage, GatewayError } from '../errors.js';
import type { Logger } from '../logging/log-hub.js';
import type { StoredTokens } from './token-store.js';

export const DEFAULT_CALLBACK_PORT = 43110;
const LOGIN_TIMEOUT_MS = 300_000;

export interface LoginOptions {
  /** https://relay.example.com (REMOTE_SERVER_BASE_URL). */
  relay: URL;
  subject?: string;
  capabilities?: string[];
  expiryMinutes?: number;
  callbackPort?: number;
  timeoutMs?: number;
  /**
   * Opens the sign-in page in the user's browser (the `open` package; tests play the browser), or in the
   * desktop app's login window, which watches for `redirectUri` (the loopback callback, with our `state`).
   */
  openUrl(url: URL, redirectUri: URL): Promise<void>;
  /** Says what is going on (the URL to open by hand, the port fallback). */
  say(line: string): void;
  log: Logger;
}

const isLoopbackHost = (host: string) => /^(127\.\d+\.\d+\.\d+|localhost|\[::1\]|::1)$/.test(host);

async function post(
  relay: URL,
  path: string,
  body: object,
  bearer?: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  // Tokens and codes travel in these bodies: never over plain http to another machine.
  if (relay.protocol !== 'https:' && !(relay.protocol === 'http:' && isLoopbackHost(relay.hostname))) {
    throw new GatewayError(
      'auth-failed',
      `refusing to send credentials over ${relay.protocol}// to ${relay.host}: use https://`,
    );
  }
  let res: Response;
  try {
    res = await fetch(new URL(path, relay), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
      },
      body: JSON.stringify(body),
      redirect: 'error',
    });
  } catch (error) {
    throw new GatewayError(
      'auth-failed',
      `cannot reach the relay at ${relay.origin} (${errorMessage(error)}). Check REMOTE_SERVER_BASE_URL.`,
    );
  }
  const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  return { status: res.status, json };
}

function relayError(what: string, status: number, json: Record<string, unknown>): GatewayError {
  const detail = typeof json['error'] === 'string' ? json['error'] : `HTTP ${status}`;
  return new GatewayError('auth-failed', `${what} failed: ${detail}`);
}

/** Signs in and returns the tokens (the caller stores them). Nothing is stored on any failure. */
export async function login(options: LoginOptions): Promise<StoredTokens> {
  const { relay } = options;
  if (relay.protocol !== 'https:' && !(relay.protocol === 'http:' && isLoopbackHost(relay.hostname))) {
    throw new GatewayError(
      'auth-failed',
      `refusing to sign in over ${relay.protocol}// to ${relay.host}: use https://`,
    );
  }
  const state = randomBytes(24).toString('base64url');
  const pathSecret = randomBytes(12).toString('base64url');
  const callback = await listenForCallback(options, pathSecret, state);
  try {
    const redirectUri = new URL(`http://127.0.0.1:${callback.port}/callback/${pathSecret}`);
    redirectUri.searchParams.set('state', state);
    const start = await post(relay, '/manage/oauth/start', {
      subject: options.subject,
      expiry_minutes: options.expiryMinutes ?? 60,
      capabilities: options.capabilities ?? ['*'],
      redirect_uri: redirectUri.href,
    });
    if ([404, 405, 503].includes(start.status)) {
      options.say('This relay has no sign-in page; asking it to issue a token instead.');
      return await issueFallback(options);
    }
    if (start.status !== 200) throw relayError('starting the sign-in', start.status, start.json);
    const sessionId = start.json['session_id'];
    const authUrlText = start.json['auth_url'];
    if (typeof sessionId !== 'string' || typeof authUrlText !== 'string') {
      throw new GatewayError(
        'auth-failed',
        'the relay answered /manage/oauth/start without session_id and auth_url',
      );
    }
    const authUrl = checkAuthUrl(authUrlText, relay, redirectUri);
    options.say(`Opening ${authUrl.origin} to sign in. If no browser opens, visit:\n  ${authUrl.href}`);
    await options
      .openUrl(authUrl, redirectUri)
      .catch((error: unknown) => options.log.warn(`could not open a browser: ${errorMessage(error)}`));
    const result = await callback.result(sessionId);
    const complete = await post(relay, '/manage/oauth/complete', {
      session_id: sessionId,
      code: result.code,
    });
    if (complete.status !== 200 || typeof complete.json['token'] !== 'string') {
      throw relayError('completing the sign-in', complete.status, complete.json);
    }
    return tokensFrom(complete.json, relay, 'oauth');
  } finally {
    await callback.close();
  }
}

function tokensFrom(json: Record<string, unknown>, relay: URL, mode: string): StoredTokens {
  const text = (key: string) => (typeof json[key] === 'string' ? json[key] : undefined);
  return {
    token: json['token'] as string,
    subject: text('subject'),
    refreshToken: text('refresh_token'),
    refreshExpiresAt: text('refresh_expires_at'),
    email: text('email'),
    authMode: text('auth_mode') ?? mode,
    relay: relay.href.replace(/\/$/, ''),
  };
}

async function issueFallback(options: LoginOptions): Promise<StoredTokens> {
  const issued = await post(options.relay, '/manage/jwt/issue', {
    subject: options.subject,
    expiry_minutes: Math.min(1440, Math.max(1, options.expiryMinutes ?? 60)),
    capabilities: options.capabilities ?? ['*'],
  });
  if (issued.status !== 200 || typeof issued.json['token'] !== 'string')
    throw relayError('asking for a token', issued.status, issued.json);
  return tokensFrom(issued.json, options.relay, 'jwt_fallback');
}

/** The sign-in page must be https (or http on a loopback relay), and any redirect_uri in it ours or the relay's. */
function checkAuthUrl(text: string, relay: URL, redirectUri: URL): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new GatewayError(
      'auth-failed',
      'the relay sent a sign-in address that is not a URL; not opening it',
    );
  }
  // Plain http only where nothing crosses a network: a relay on this machine sending us to a page on it.
  const local = url.protocol === 'http:' && isLoopbackHost(url.hostname) && isLoopbackHost(relay.hostname);
  if (url.protocol !== 'https:' && !local) {
    throw new GatewayError(
      'auth-failed',
      `the relay sent a sign-in address with ${url.protocol}//; only https:// is opened`,
    );
  }
  const redirect = url.searchParams.get('redirect_uri');
  if (redirect && !redirect.startsWith(redirectUri.origin) && !redirect.startsWith(relay.origin)) {
    throw new GatewayError(
      'auth-failed',
      `the sign-in address would send the browser to ${new URL(redirect).origin}; not opening it`,
    );
  }
  return url;
}

interface Callback {
  port: number;
  /** Resolves with the code when the browser comes back for `sessionId`; rejects on error or timeout. */
  result(sessionId: string): Promise<{ code: string }>;
  close(): Promise<void>;
}

const PAGE = (title: string, text: string) =>
  `<!doctype html><meta charset="utf-8"><title>${title}</title><body style="font:16px system-ui;margin:3em">` +
  `<h1>${title}</h1><p>${text}</p></body>`;

async function listenForCallback(
  options: LoginOptions,
  pathSecret: string,
  state: string,
): Promise<Callback> {
  let settle: { resolve(value: { code: string }): void; reject(error: Error): void } | undefined;
  let expectedSession: string | undefined;
  let pending: { code?: string; error?: Error } | undefined;
  const finish = (outcome: { code?: string; error?: Error }) => {
    if (pending) return;
    pending = outcome;
    if (!settle) return;
    if (outcome.error) settle.reject(outcome.error);
    else settle.resolve({ code: outcome.code! });
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const send = (status: number, title: string, text: string) =>
      res
        .writeHead(status, {
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
        })
        .end(PAGE(title, text));
    // Anything but our secret path is someone else's request: answer nothing useful, keep waiting.
    if (req.method !== 'GET' || url.pathname !== `/callback/${pathSecret}`)
      return send(404, 'Not found', 'Nothing here.');
    if (pending)
      return send(410, 'Already used', 'This sign-in link was already used. Start again from the gateway.');
    if (url.searchParams.get('state') !== state) {
      send(
        400,
        'Sign-in refused',
        'This sign-in was not started by this gateway (state mismatch). Start again.',
      );
      return finish({
        error: new GatewayError(
          'auth-failed',
          'the sign-in came back with the wrong state; nothing was stored. Start again.',
        ),
      });
    }
    const error = url.searchParams.get('error');
    if (error) {
      const description = url.searchParams.get('error_description');
      send(200, 'Sign-in cancelled', 'You can close this window.');
      const why = error === 'access_denied' ? 'sign-in was denied' : `sign-in failed (${error})`;
      return finish({
        error: new GatewayError(
          'auth-failed',
          `${why}${description ? `: ${description}` : ''}; nothing was stored.`,
        ),
      });
    }
    // An error stores nothing, so it may end the wait whatever its session (the app's login window
    // reports a closed window this way); a code must belong to our session.
    if (expectedSession && url.searchParams.get('session_id') !== expectedSession) {
      send(400, 'Sign-in refused', 'This sign-in belongs to another session. Start again.');
      return finish({
        error: new GatewayError(
          'auth-failed',
          'the sign-in came back for another session; nothing was stored. Start again.',
        ),
      });
    }
    const code = url.searchParams.get('code');
    if (!code) {
      send(400, 'Sign-in failed', 'The relay sent no code. Start again.');
      return finish({
        error: new GatewayError(
          'auth-failed',
          'the relay sent the browser back without a code; nothing was stored.',
        ),
      });
    }
    send(200, 'Signed in', 'The gateway is signed in. You can close this window.');
    finish({ code });
  });

  const port = options.callbackPort ?? DEFAULT_CALLBACK_PORT;
  const listen = (p: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  try {
    await listen(port);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || port === 0) throw error;
    await listen(0);
    options.say(
      `Port ${port} is busy; waiting for the browser on port ${(server.address() as AddressInfo).port} instead.`,
    );
  }
  const timeoutMs = options.timeoutMs ?? LOGIN_TIMEOUT_MS;
  const timer = setTimeout(
    () =>
      finish({
        error: new GatewayError(
          'auth-failed',
          `no answer from the browser within ${Math.round(timeoutMs / 1000)} s; nothing was stored. Start again.`,
        ),
      }),
    timeoutMs,
  );
  return {
    port: (server.address() as AddressInfo).port,
    result(sessionId) {
      expectedSession = sessionId;
      if (pending)
        return pending.error ? Promise.reject(pending.error) : Promise.resolve({ code: pending.code! });
      return new Promise((resolve, reject) => (settle = { resolve, reject }));
    },
    async close() {
      clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Exchanges a refresh token for a new token pair (the relay rotates the refresh token). */
export async function refresh(
  relay: URL,
  tokens: StoredTokens,
  expiryMinutes?: number,
): Promise<StoredTokens> {
  if (!tokens.refreshToken) throw new GatewayError('auth-failed', 'there is no refresh token; sign in again');
  const res = await post(relay, '/manage/oauth/refresh', {
    refresh_token: tokens.refreshToken,
    expiry_minutes: expiryMinutes,
  });
  if (res.status !== 200 || typeof res.json['token'] !== 'string')
    throw relayError('refreshing the token', res.status, res.json);
  const next = tokensFrom(res.json, relay, tokens.authMode ?? 'oauth');
  // What the relay does not send again (the e-mail, say) stays as it was.
  return {
    ...tokens,
    token: next.token,
    refreshToken: next.refreshToken ?? tokens.refreshToken,
    refreshExpiresAt: next.refreshExpiresAt ?? tokens.refreshExpiresAt,
    subject: next.subject ?? tokens.subject,
    email: next.email ?? tokens.email,
  };
}

/** Revokes the tokens on the relay (best effort for each); the caller wipes them locally either way. */
export async function logout(relay: URL, tokens: StoredTokens): Promise<string[]> {
  const problems: string[] = [];
  const attempt = async (path: string, body: object) => {
    try {
      const res = await post(relay, path, body);
      const error = typeof res.json['error'] === 'string' ? res.json['error'] : `HTTP ${res.status}`;
      if (res.status !== 200 && res.status !== 404) problems.push(`${path}: ${error}`);
    } catch (error) {
      problems.push(`${path}: ${errorMessage(error)}`);
    }
  };
  await attempt('/manage/jwt/revoke', { token: tokens.token });
  if (tokens.refreshToken) await attempt('/manage/oauth/logout', { refresh_token: tokens.refreshToken });
  return problems;
}
