// Signing in as a user does: the CLI and the agent's login against our relay with its built-in provider,
// the browser played by a real HTTP client that follows redirects and submits the sign-in form.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { login, type LoginOptions } from '../src-main/core/auth/login.js';
import { StateFileTokenStore, type StoredTokens } from '../src-main/core/auth/token-store.js';
import { Gateway } from '../src-main/core/gateway.js';
import { LogHub } from '../src-main/core/logging/log-hub.js';
import type { RelayServer } from '../src-relay/relay-server.js';
import { createSandbox, startCli, stopLeftovers } from './support/cli.js';
import { serverEverything } from './support/mcp-fixtures.js';
import { IDP_CLIENT, signInAtIdp, startIdp } from './support/oidc-idp.js';
import { linkState, startRelay, startRelayWithUser } from './support/relay-fixture.js';
import { TestBrowser } from './support/test-browser.js';
import { until } from './support/wait.js';

const USER = { email: 'dana@example.com', password: 'correct horse battery' };
let relay: RelayServer;
let dir: string;
let clockOffset = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpgw-signin-'));
  relay = await startRelayWithUser(dir, USER, { now: () => Date.now() + clockOffset });
});
afterAll(async () => {
  await stopLeftovers();
  await relay?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The user at the sign-in page: opens `url`, submits the form, follows the redirect back to the agent. */
async function signInAt(url: URL, action: 'sign-in' | 'cancel' = 'sign-in'): Promise<string> {
  const browser = new TestBrowser();
  const page = await browser.go(url);
  expect(page.status).toBe(200);
  const fields: Record<string, string> =
    action === 'sign-in' ? { email: USER.email, password: USER.password } : { action: 'cancel' };
  const back = await browser.submit(page.html, url.href, fields);
  expect(back.callback, back.html).toBeDefined();
  const res = await fetch(back.callback!);
  return res.text();
}

/** The agent's login, with the test as the browser (`browse` decides what the user does). */
function agentLogin(options: Partial<LoginOptions> & { browse?: (url: URL) => Promise<unknown> } = {}) {
  const said: string[] = [];
  const logs = new LogHub();
  const done = login({
    relay: relay.url,
    callbackPort: 0,
    openUrl: (url) => {
      // The user acts while login() waits: not awaited, as a real browser is not.
      void (options.browse ?? signInAt)(url).catch(() => undefined);
      return Promise.resolve();
    },
    say: (line) => said.push(line),
    log: logs.logger('login'),
    ...options,
  });
  return { done, said };
}

/** A gateway whose stored tokens are `tokens` (as after `login`), serving server-everything. */
async function signedInGateway(
  dir: string,
  tokens: StoredTokens,
  env: Record<string, string> = {},
  logs = new LogHub(),
) {
  const store = new StateFileTokenStore(join(dir, 'state.json'));
  await store.save(tokens);
  const config = join(dir, 'mcp.json');
  await writeFile(config, JSON.stringify({ mcpServers: { everything: serverEverything() } }));
  const gateway = await Gateway.create({
    cwd: dir,
    env,
    configPath: config,
    statePath: store.path,
    userDirs: { config: join(dir, 'user'), log: join(dir, 'log') },
    logs,
  });
  return { gateway, store };
}

describe('sign-in with the relay’s built-in provider', () => {
  it('the CLI signs in through the browser, stores the token 0600, and `run` connects with it', async () => {
    const sandbox = await createSandbox();
    try {
      const cli = startCli(
        ['login', '--relay', relay.url.origin, '--no-browser', '--callback-port', '0'],
        sandbox,
      );
      await until(() => /visit:\n\s+(\S+)/.test(cli.stdout()), 10_000, 'the sign-in address');
      const url = new URL(/visit:\n\s+(\S+)/.exec(cli.stdout())![1]!);
      expect(await signInAt(url)).toContain('You can close this window');
      const result = await cli.exited;
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(
        /Signed in to http:\/\/127\.0\.0\.1:\d+ as "dana-[0-9a-f]{8}" \(dana@example\.com\)/,
      );

      const state = JSON.parse(
        await readFile(join(sandbox.configDir, '.mcpassistant.json'), 'utf8'),
      ) as Record<string, string>;
      expect(decodeJwt(state['jwt_token']!)).toMatchObject({ role: 'agent', aud: 'mcpassistant-relay' });
      expect(state['refresh_token']).toBeTruthy();

      const config = join(sandbox.dir, 'mcp.json');
      await writeFile(config, JSON.stringify({ mcpServers: { everything: serverEverything() } }));
      const run = startCli(['run', '--config', config], sandbox);
      await until(
        () => /Connected to ws:\/\/127\.0\.0\.1:\d+ as "dana-/.test(run.stdout()),
        15_000,
        `the agent to connect:\n${run.stdout()}`,
      );
      const sub = decodeJwt(state['jwt_token']!).sub;
      await until(() => relay.agents().some((a) => a.subject === sub), 5000, 'the relay to see the agent');
      run.child.kill('SIGTERM');
      expect((await run.exited).code).toBe(0);
      for (const text of [
        result.stdout,
        result.stderr,
        run.stdout(),
        await readFile(sandbox.logFile, 'utf8').catch(() => ''),
      ]) {
        expect(text).not.toContain(state['jwt_token']);
        expect(text).not.toContain(state['refresh_token']);
      }
    } finally {
      await rm(sandbox.dir, { recursive: true, force: true });
    }
  });

  it('refuses a callback with the wrong state, and a second use of the callback, storing nothing', async () => {
    let callbackUrl: URL | undefined;
    const { done } = agentLogin({
      browse: async (url) => {
        const browser = new TestBrowser();
        const page = await browser.go(url);
        const back = await browser.submit(page.html, url.href, {
          email: USER.email,
          password: USER.password,
        });
        callbackUrl = new URL(back.callback!);
        const forged = new URL(callbackUrl);
        forged.searchParams.set('state', 'not-ours');
        return fetch(forged);
      },
    });
    await expect(done).rejects.toThrow('the sign-in came back with the wrong state; nothing was stored');
    expect(callbackUrl).toBeDefined();
    // The listener is gone with the failed login: the genuine callback cannot be used afterwards either.
    await expect(fetch(callbackUrl!)).rejects.toThrow();

    // Within one login, the callback answers once: of two uses at once, one is refused with 410.
    let statuses: number[] = [];
    const second = agentLogin({
      browse: async (url) => {
        const browser = new TestBrowser();
        const page = await browser.go(url);
        const back = await browser.submit(page.html, url.href, {
          email: USER.email,
          password: USER.password,
        });
        const both = await Promise.all([fetch(back.callback!), fetch(back.callback!)]);
        statuses = both.map((res) => res.status).sort();
      },
    });
    await second.done;
    await until(() => statuses.length === 2, 5000, 'both callbacks to be answered');
    expect(statuses).toEqual([200, 410]);
  });

  it('says the user denied, and stores nothing', async () => {
    const { done } = agentLogin({ browse: (url) => signInAt(url, 'cancel') });
    await expect(done).rejects.toThrow(
      /sign-in was denied: the user cancelled the sign-in; nothing was stored/,
    );
  });

  it('says the login session expired when the browser comes back too late', async () => {
    const { done } = agentLogin({
      browse: async (url) => {
        const browser = new TestBrowser();
        const page = await browser.go(url);
        const back = await browser.submit(page.html, url.href, {
          email: USER.email,
          password: USER.password,
        });
        clockOffset = 11 * 60_000; // the relay's login session lasts 10 minutes
        await fetch(back.callback!);
      },
    });
    try {
      await expect(done).rejects.toThrow(/completing the sign-in failed: the sign-in session has expired/);
    } finally {
      clockOffset = 0;
    }
  });

  it('gives up after its timeout when the browser never comes back', async () => {
    const { done } = agentLogin({ timeoutMs: 300, browse: () => Promise.resolve() });
    await expect(done).rejects.toThrow('no answer from the browser within 0 s; nothing was stored');
  });

  it('moves to a free port when the callback port is busy, and says so', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as { port: number }).port;
    try {
      const { done, said } = agentLogin({ callbackPort: port });
      const tokens = await done;
      expect(tokens.subject).toMatch(/^dana-/);
      expect(said.join('\n')).toMatch(
        new RegExp(`Port ${port} is busy; waiting for the browser on port \\d+ instead`),
      );
    } finally {
      busy.close();
    }
  });
});

describe('token lifecycle', () => {
  it('refreshes a token about to expire before connecting; the used refresh token is refused afterwards', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'mcpgw-lifecycle-'));
    try {
      // A one-minute token: the agent must refresh it before connecting.
      const tokens = await agentLogin({ expiryMinutes: 1 }).done;
      const { gateway, store } = await signedInGateway(stateDir, tokens, {
        RECONNECT_INITIAL_DELAY_SECONDS: '0.1',
        RECONNECT_MAX_DELAY_SECONDS: '0.5',
      });
      try {
        await gateway.start();
        await linkState(gateway, 'connected');
        const refreshed = (await store.load())!;
        expect(refreshed.token).not.toBe(tokens.token);
        expect(refreshed.refreshToken).not.toBe(tokens.refreshToken);
        // The used refresh token is refused from now on.
        const reuse = await fetch(new URL('/manage/oauth/refresh', relay.url), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ refresh_token: tokens.refreshToken }),
        });
        expect(reuse.status).toBe(401);
      } finally {
        await gateway.close();
      }
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  it('renews the token when the relay closes the link with 4401, and logout makes the old JWT useless', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'mcpgw-lifecycle-'));
    try {
      const tokens = await agentLogin().done;
      const { gateway, store } = await signedInGateway(stateDir, tokens, {
        RECONNECT_INITIAL_DELAY_SECONDS: '0.1',
        RECONNECT_MAX_DELAY_SECONDS: '0.5',
      });
      try {
        await gateway.start();
        await linkState(gateway, 'connected');
        // Revoking the JWT closes the agent's link with 4401; the agent refreshes and is back.
        const states: string[] = [];
        gateway.on('state', (state) => states.push(state.state));
        await relay.tokens.revoke(tokens.token);
        await until(
          async () =>
            states.includes('connecting') &&
            gateway.state.state === 'connected' &&
            (await store.load())?.token !== tokens.token,
          10_000,
          'the agent to renew its token and reconnect',
        );
        const renewed = (await store.load())!;
        expect(renewed.refreshToken).not.toBe(tokens.refreshToken);

        // Logout: both revoked on the relay; /connect refuses the old JWT.
        const { logout } = await import('../src-main/core/auth/login.js');
        expect(await logout(relay.url, renewed)).toEqual([]);
        const status = await new Promise<number>((resolve) => {
          const ws = new WebSocket(`${relay.url.origin.replace('http', 'ws')}/connect`, {
            headers: { Authorization: `Bearer ${renewed.token}` },
          });
          ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
          ws.on('open', () => {
            ws.close();
            resolve(101);
          });
        });
        expect(status).toBe(401);
      } finally {
        await gateway.close();
      }
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});

describe('sign-in through an external OpenID Connect provider', () => {
  it('the agent signs in at oidc-provider via the relay, stores the tokens, and connects', async () => {
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
    const stateDir = await mkdtemp(join(tmpdir(), 'mcpgw-oidc-'));
    try {
      const logs = new LogHub();
      // The agent's login, with the test as the user at the provider's pages.
      const signInAs = (email: string) =>
        login({
          relay: oidcRelay.url,
          callbackPort: 0,
          openUrl: (url) => {
            void signInAtIdp(new TestBrowser(), url.href, email, idp.issuer).then((step) =>
              fetch(step.callback!),
            );
            return Promise.resolve();
          },
          say: () => undefined,
          log: logs.logger('login'),
        });
      const tokens = await signInAs('erin@example.org');
      expect(tokens).toMatchObject({
        email: 'erin@example.org',
        authMode: 'oauth',
        subject: expect.stringMatching(/^erin-/) as unknown,
      });

      const { gateway } = await signedInGateway(stateDir, tokens, {}, logs);
      expect((await stat(join(stateDir, 'state.json'))).mode & 0o777).toBe(0o600);
      try {
        await gateway.start();
        await linkState(gateway, 'connected');
        // The agent says connected once its register is sent; the relay takes it a moment later.
        await until(
          () => oidcRelay.agents().some((a) => a.subject === tokens.subject),
          5000,
          'the relay to see the agent',
        );
      } finally {
        await gateway.close();
      }

      // A user of a domain the relay does not allow is turned away, and nothing is returned to store.
      await expect(signInAs('mallory@elsewhere.net')).rejects.toThrow(
        /sign-in was denied: the e-mail domain elsewhere\.net is not allowed/,
      );
    } finally {
      await oidcRelay.close();
      await idp.close();
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
