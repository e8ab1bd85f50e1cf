// The desktop app's login window against a real relay with its built-in provider: the sign-in page is
// served for real and filled in by a real HTTP client; the fake webContents stands for the embedded
// Chromium and emits what it would (the redirect to the callback, a foreign navigation, Google's
// disallowed_useragent page).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { desktopTokenStore } from '../src-main/app/keychain-token-store.js';
import { type LoginWindow, openLoginWindow } from '../src-main/app/login-window.js';
import { login } from '../src-main/core/auth/login.js';
import { Gateway } from '../src-main/core/gateway.js';
import { LogHub } from '../src-main/core/logging/log-hub.js';
import type { RelayServer } from '../src-relay/relay-server.js';
import {
  type FakeElectron,
  fakeElectron,
  FakeSafeStorage,
  type FakeWindow,
} from './support/fake-electron.js';
import { serverEverything } from './support/mcp-fixtures.js';
import { linkState, startRelayWithUser } from './support/relay-fixture.js';
import { TestBrowser } from './support/test-browser.js';
import { until } from './support/wait.js';

const USER = { email: 'lee@example.com', password: 'correct horse battery' };
let relay: RelayServer;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpgw-loginwin-'));
  relay = await startRelayWithUser(dir, USER);
});
afterAll(async () => {
  await relay?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Starts login() with the login window as its browser; resolves once the window shows the sign-in page. */
async function signInWithWindow() {
  const electron: FakeElectron = fakeElectron('linux', { userData: dir, logs: dir });
  electron.app.emitReady();
  let opened: (LoginWindow & { authUrl: URL; redirectUri: URL }) | undefined;
  const logs = new LogHub();
  const tokens = login({
    relay: relay.url,
    callbackPort: 0,
    timeoutMs: 20_000,
    openUrl: (authUrl, redirectUri) => {
      const window = openLoginWindow({
        ports: electron,
        registerPolicy: () => () => undefined,
        authUrl,
        redirectUri,
        relay: relay.url,
        log: logs.logger('login'),
      });
      opened = { ...window, authUrl, redirectUri };
      return Promise.resolve();
    },
    say: () => undefined,
    log: logs.logger('login'),
  });
  tokens.catch(() => undefined); // asserted by each test
  await until(() => opened !== undefined, 10_000, 'the login window');
  const { outcome, authUrl, redirectUri } = opened!;
  const window = opened!.window as FakeWindow;
  return { electron, tokens, window, contents: window.webContents, outcome, authUrl, redirectUri, logs };
}

/** The user signs in on the real page; returns where the relay's answer redirects the browser. */
async function userSignsIn(authUrl: URL): Promise<string> {
  const browser = new TestBrowser();
  const page = await browser.go(authUrl);
  expect(page.status).toBe(200);
  const back = await browser.submit(page.html, authUrl.href, { email: USER.email, password: USER.password });
  expect(back.callback, back.html).toBeDefined();
  return back.callback!;
}

describe('the login window', () => {
  it('is its own sandboxed session without a preload, and loads the relay’s sign-in page', async () => {
    const { window, contents, authUrl, tokens } = await signInWithWindow();
    const prefs = window.options.webPreferences!;
    expect(prefs.partition).toMatch(/^login-[0-9a-f]{12}$/);
    expect(prefs.preload).toBeUndefined();
    expect(prefs).toMatchObject({ sandbox: true, contextIsolation: true, nodeIntegration: false });
    expect(contents.loaded).toEqual([authUrl.href]);
    expect(await contents.session.request('media')).toBe(false);
    window.close();
    await expect(tokens).rejects.toThrow(
      /sign-in was denied: the sign-in window was closed; nothing was stored/,
    );
  });

  it('completes a sign-in: the redirect to the callback is caught, its state checked, the tokens come back', async () => {
    const { contents, window, authUrl, tokens, outcome } = await signInWithWindow();
    const callback = await userSignsIn(authUrl);
    // The embedded browser would now follow the redirect: the window catches it instead.
    expect(contents.navigate('will-redirect', callback)).toBe(false);
    const signedIn = await tokens;
    expect(decodeJwt(signedIn.token)).toMatchObject({ role: 'agent', aud: 'mcpassistant-relay' });
    expect(signedIn.email).toBe(USER.email);
    expect(await outcome).toBe('callback');
    expect(window.isDestroyed()).toBe(true);
  });

  it('refuses a callback with another state, and the sign-in ends with nothing stored', async () => {
    const { contents, authUrl, tokens, outcome } = await signInWithWindow();
    const callback = new URL(await userSignsIn(authUrl));
    callback.searchParams.set('state', 'forged');
    expect(contents.navigate('will-redirect', callback.href)).toBe(false);
    expect(await outcome).toBe('state-mismatch');
    await expect(tokens).rejects.toThrow(/state_mismatch.*nothing was stored/);
  });

  it('stays on the relay and its identity provider: a foreign navigation is refused', async () => {
    const { contents, window, tokens } = await signInWithWindow();
    expect(contents.navigate('will-navigate', 'https://evil.example/phish')).toBe(false);
    expect(contents.navigate('will-navigate', `${relay.url.origin}/oauth/page`)).toBe(true);
    // The relay's server redirect to its provider makes the provider's origin allowed.
    expect(contents.navigate('will-redirect', 'https://idp.example/authorize?x=1')).toBe(true);
    expect(contents.navigate('will-navigate', 'https://idp.example/next')).toBe(true);
    expect(contents.navigate('will-navigate', 'file:///etc/passwd')).toBe(false);
    expect(contents.openHandler).toBeUndefined(); // new windows: denied by the shell's web-contents-created
    window.close();
    await expect(tokens).rejects.toThrow(/the sign-in window was closed/);
  });

  it('hands a disallowed_useragent page to the system browser, where the same sign-in completes', async () => {
    const { electron, contents, window, authUrl, tokens, outcome } = await signInWithWindow();
    contents.finishLoad(
      'https://accounts.google.com/signin/oauth/error?authError=disallowed_useragent',
      'Access blocked: This browser or app may not be secure',
    );
    expect(await outcome).toBe('system-browser');
    expect(window.isDestroyed()).toBe(true);
    await until(() => electron.opened.length === 1, 2000, 'the system browser');
    expect(electron.opened).toEqual([authUrl.href]);
    // The user goes on in the system browser: login() still listens, nobody starts over.
    const callback = await userSignsIn(new URL(electron.opened[0]!));
    await fetch(callback);
    expect((await tokens).email).toBe(USER.email);
  });

  it('detects the refusal in the page text too, and "Use my browser instead" does the same on request', async () => {
    const first = await signInWithWindow();
    first.contents.finishLoad(
      'https://accounts.google.com/v3/signin/rejected',
      'Error 403: disallowed_useragent',
    );
    expect(await first.outcome).toBe('system-browser');
    await fetch(await userSignsIn(first.authUrl));
    await first.tokens;

    const second = await signInWithWindow();
    const menu = second.window.menu as { template: { label: string; click: () => void }[] };
    expect(menu.template.map((i) => i.label)).toEqual(['Use my browser instead']);
    menu.template[0]!.click();
    expect(await second.outcome).toBe('system-browser');
    await until(() => second.electron.opened.length === 1, 2000, 'the system browser');
    await fetch(await userSignsIn(second.authUrl));
    expect((await second.tokens).token).toBeTruthy();
  });

  it('the tokens it got go to the keychain, and the gateway connects to the relay with them', async () => {
    const { contents, authUrl, tokens, logs } = await signInWithWindow();
    contents.navigate('will-redirect', await userSignsIn(authUrl));
    const home = await mkdtemp(join(dir, 'home-'));
    const { store, backend } = desktopTokenStore({
      platform: 'linux',
      safeStorage: new FakeSafeStorage([]),
      keychainPath: join(home, 'tokens.bin'),
      statePath: join(home, 'state.json'),
      log: logs.logger('tokens'),
    });
    expect(backend).toBe('keychain');
    await store.save(await tokens);
    const config = join(home, 'mcp.json');
    await writeFile(config, JSON.stringify({ mcpServers: { everything: serverEverything() } }));
    const gateway = await Gateway.create({
      cwd: home,
      env: {},
      configPath: config,
      statePath: join(home, 'state.json'),
      userDirs: { config: join(home, 'user'), log: join(home, 'log') },
      logs,
      tokenStore: store,
      watch: false,
    });
    try {
      await gateway.start();
      await linkState(gateway, 'connected', 20_000);
      expect(gateway.state).toMatchObject({ state: 'connected', subject: (await tokens).subject });
    } finally {
      await gateway.close();
    }
  });
});
