// Consent answered from the app (issue 12): a real relay with its built-in sign-in, the desktop shell's logic
// (fakes of the Electron objects only: the notification, the window, IPC) with a real Gateway connected to the
// relay over a real WebSocket, and an SDK client running the OAuth flow, the owner's browser played over plain
// HTTP. The relay's consent page asks the app too; the shell notifies, the click opens the window, the window's
// answer goes over IPC; the page follows the app's answer on its next reload. And the tray's "Copy client config"
// on that relay, which copies a new client token rather than the agent's own.
import { EventEmitter } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { type AppShell, startApp } from '../src-main/app/app-shell.js';
import { Gateway } from '../src-main/core/gateway.js';
import { LogHub } from '../src-main/core/logging/log-hub.js';
import { hashPassword } from '../src-relay/identity/password.js';
import type { RelayServer } from '../src-relay/relay-server.js';
import type { PendingConsent } from '../src-shared/control.js';
import { ROOT } from './support/cli.js';
import { click, type FakeElectron, fakeElectron } from './support/fake-electron.js';
import { serverEverything } from './support/mcp-fixtures.js';
import { reloadUntilAnswered, toConsentPage } from './support/oauth-client.js';
import { connectClient, linkState, signInAgent, startAgent, startRelay } from './support/relay-fixture.js';
import { until } from './support/wait.js';

const ALICE = { email: 'alice@example.com', password: 'alice password 123' };
const APP_PAGE = 'app://gateway/index.html';
/** How long the relay's consent page waits for the app (short, for the timeout case). */
const APP_TIMEOUT_MS = 3000;

let dir: string;
let relay: RelayServer;
let agentToken: string;
let subject: string;

interface Desktop {
  shell: AppShell;
  electron: FakeElectron;
  home: string;
}

const desktops: Desktop[] = [];
afterEach(async () => {
  for (const { shell, home } of desktops.splice(0)) {
    await shell.quit('test end');
    await rm(home, { recursive: true, force: true });
  }
});

/** The desktop app's shell (Electron faked) with its gateway signed in to the relay as Alice's agent. */
async function startDesktop(): Promise<Desktop> {
  const home = await mkdtemp(join(dir, 'desktop-'));
  const config = join(home, 'mcp.json');
  await writeFile(config, JSON.stringify({ mcpServers: { everything: serverEverything() } }));
  const renderer = join(home, 'renderer');
  await mkdir(renderer);
  await writeFile(join(renderer, 'index.html'), '<!doctype html><title>Gateway</title>');
  await mkdir(join(home, 'userData'));
  const electron = fakeElectron('linux', { userData: join(home, 'userData'), logs: join(home, 'logs') });
  const logs = new LogHub();
  const env = {
    REMOTE_WEBSOCKET_URL: `${relay.url.origin.replace('http', 'ws')}/connect`,
    REMOTE_SERVER_BASE_URL: relay.url.origin,
    AGENT_JWT: agentToken,
    XDG_CONFIG_HOME: join(home, 'xdg'),
    HOME: home,
  };
  const shell = startApp({
    ports: electron,
    logs,
    resources: join(ROOT, 'resources'),
    rendererDir: renderer,
    preloadPath: join(home, 'preload.cjs'),
    argv: [],
    env,
    execPath: '/usr/bin/electron',
    createGateway: (tokenStore) =>
      Gateway.create({
        cwd: home,
        env,
        configPath: config,
        statePath: join(home, 'state.json'),
        userDirs: { config: join(home, 'user'), log: join(home, 'log') },
        logs,
        tokenStore,
        answersConsent: true,
      }),
    preferences: () => ({
      get: (key) => key === 'firstRunDone',
      set: () => undefined,
      bounds: () => undefined,
      setBounds: () => undefined,
    }),
    signals: new EventEmitter(),
    hasTray: () => Promise.resolve(true),
  })!;
  const desktop = { shell, electron, home };
  desktops.push(desktop);
  electron.app.emitReady();
  await shell.ready;
  await linkState(shell.gateway()!, 'connected', 15_000);
  await until(() => shell.gateway()!.servers.list()[0]?.state === 'running', 20_000, 'server-everything');
  return desktop;
}

/** The SDK client "Consent Test Client" for Alice's everything, its owner's browser on the consent page. */
const consentPage = () =>
  toConsentPage(new URL(`/${subject}/everything/mcp`, relay.url), ALICE, 'Consent Test Client');

/** The window's answer to a consent request, over IPC as the renderer sends it. */
function answerInWindow(desktop: Desktop, id: string, allow: boolean) {
  const window = desktop.electron.windows.at(-1)!;
  return desktop.electron.ipcMain.invoke(window.webContents, APP_PAGE, 'consent:answer', { id, allow });
}

/** The consent requests the window lists. */
async function pendingInWindow(desktop: Desktop): Promise<PendingConsent[]> {
  const result = (await desktop.shell.control()!.invoke('consent:list', {})) as {
    ok: true;
    value: PendingConsent[];
  };
  return result.value;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpgw-consent-'));
  const usersFile = join(dir, 'users');
  await writeFile(
    usersFile,
    `${ALICE.email}:${await hashPassword(ALICE.password, { N: 2 ** 12, r: 8, p: 1 })}\n`,
  );
  relay = await startRelay({
    oauth: { identity: { provider: 'builtin', usersFile } },
    clientAuthorization: { appConsentTimeoutMs: APP_TIMEOUT_MS },
  });
  ({ token: agentToken, subject } = await signInAgent(relay, ALICE));
}, 30_000);

afterAll(async () => {
  await relay?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('consent answered from the app', () => {
  it('notifies, opens the window on a click, and an approval there lets the client in to call a tool', async () => {
    const desktop = await startDesktop();
    const { browser, consent, pageUrl, finish } = await consentPage();
    // The page keeps its own buttons, says the app is asked too, and reloads itself to follow the app.
    expect(consent.html).toContain('asks you too');
    expect(consent.html).toMatch(/<meta http-equiv="refresh" content="2">/);
    expect(consent.html).toContain('name="decision" value="allow"');

    await until(() => desktop.electron.notifications.length > 0, 10_000, 'the consent notification');
    const notification = desktop.electron.notifications.at(-1)!;
    expect(notification.title).toBe('Consent Test Client asks for access');
    expect(notification.body).toContain(`to everything on ${subject}`);
    expect(notification.body).toContain('127.0.0.1:53682');
    expect(desktop.electron.windows).toHaveLength(0);
    desktop.electron.notificationClicks.at(-1)!();
    expect(desktop.electron.windows).toHaveLength(1);

    const [pending] = await pendingInWindow(desktop);
    expect(pending).toMatchObject({
      subject,
      clientName: 'Consent Test Client',
      redirectHost: '127.0.0.1:53682',
      servers: ['everything'],
    });
    expect(pending!.expiresAt - pending!.requestedAt).toBe(APP_TIMEOUT_MS);
    // Nothing secret crosses to the window: no token, no code, no interaction id of the browser's URL.
    expect(JSON.stringify(pending)).not.toContain(new URL(pageUrl).pathname.split('/').pop());
    expect(await answerInWindow(desktop, pending!.id, true)).toEqual({
      ok: true,
      value: { answered: pending!.id, allow: true },
    });
    expect(await pendingInWindow(desktop)).toEqual([]);

    // The browser's next reload finishes the authorization as if the owner had clicked Allow there.
    const reloaded = await reloadUntilAnswered(browser, pageUrl);
    expect(reloaded.callback, reloaded.html).toBeDefined();
    const code = new URL(reloaded.callback!).searchParams.get('code');
    expect(code).toBeTruthy();
    const client = await finish(code!);
    const echoed = await client.callTool({ name: 'echo', arguments: { message: 'allowed in the app' } });
    expect(JSON.stringify(echoed.content)).toContain('allowed in the app');
    await client.close();
  }, 60_000);

  it('a denial in the app sends the client back with access_denied; it gets no token', async () => {
    const desktop = await startDesktop();
    const { tokens, browser, pageUrl } = await consentPage();
    await until(async () => (await pendingInWindow(desktop)).length > 0, 10_000, 'the consent request');
    const [pending] = await pendingInWindow(desktop);
    desktop.electron.notificationClicks.at(-1)!();
    expect(await answerInWindow(desktop, pending!.id, false)).toMatchObject({ ok: true });

    const reloaded = await reloadUntilAnswered(browser, pageUrl);
    const back = new URL(reloaded.callback!);
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('code')).toBeNull();
    expect(back.searchParams.get('error_description')).toBe('the owner denied access in the app');
    expect(tokens()).toBeUndefined();
    // The authorization request is over: the page cannot be answered again.
    const late = await browser.go(pageUrl);
    expect(late.callback).toBeUndefined();
    expect(late.html).toMatch(/expired or was already answered/);
  }, 60_000);

  it('without an answer in time the page stops waiting and stays usable; the app drops the request', async () => {
    const desktop = await startDesktop();
    const { tokens, browser, pageUrl, finish } = await consentPage();
    await until(async () => (await pendingInWindow(desktop)).length > 0, 10_000, 'the consent request');
    const [pending] = await pendingInWindow(desktop);
    // The relay's timeout passes: it tells the app, which stops listing the request.
    await until(
      async () => (await pendingInWindow(desktop)).length === 0,
      APP_TIMEOUT_MS + 5000,
      'the request closed',
    );
    const timedOut = await browser.go(pageUrl);
    expect(timedOut.callback).toBeUndefined();
    expect(timedOut.html).toContain('did not answer in time');
    expect(timedOut.html).not.toContain('http-equiv="refresh"');
    expect(tokens()).toBeUndefined();
    // A late answer from the window changes nothing.
    desktop.electron.notificationClicks.at(-1)!();
    expect(await answerInWindow(desktop, pending!.id, true)).toMatchObject({ ok: false, code: 'not-found' });
    expect((await browser.go(pageUrl)).callback).toBeUndefined();
    // The page's own buttons still work.
    const answered = await browser.submit(timedOut.html, pageUrl, { decision: 'allow' });
    const client = await finish(new URL(answered.callback!).searchParams.get('code')!);
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    await client.close();
  }, 60_000);

  it('an agent that does not announce consent is never asked; the page works as before', async () => {
    // A headless agent (no window to ask): the feature is not announced.
    const agent = await startAgent(relay, { token: agentToken });
    await linkState(agent.gateway, 'connected');
    try {
      const { consent } = await consentPage();
      expect(consent.html).toContain('name="decision" value="allow"');
      expect(consent.html).not.toContain('asks you too');
      expect(consent.html).not.toContain('http-equiv="refresh"');
      expect(agent.gateway.consent.list()).toEqual([]);
    } finally {
      await agent.close();
    }
  }, 60_000);
});

describe("the tray's Copy client config on a relay", () => {
  it('copies a new client token scoped to the subject and the servers, never the agent token', async () => {
    const desktop = await startDesktop();
    const tray = desktop.shell.tray()!;
    await until(() => tray.status.link.state === 'connected', 10_000, 'the tray to see the link');
    click(desktop.electron.trays[0]!.menu!.item('Cursor'));
    await until(() => desktop.electron.clipboardText.startsWith('{'), 10_000, 'the copied config');
    const config = JSON.parse(desktop.electron.clipboardText) as {
      mcpServers: Record<string, { url: string; headers: { Authorization: string } }>;
    };
    expect(Object.keys(config.mcpServers)).toEqual(['everything']);
    const entry = config.mcpServers['everything']!;
    expect(entry.url).toBe(new URL(`/${subject}/everything/mcp`, relay.url).href);
    const token = entry.headers.Authorization.replace(/^Bearer /, '');
    expect(token).not.toBe(agentToken);
    expect(decodeJwt(token)).toMatchObject({ sub: subject, role: 'client', capabilities: ['everything'] });
    // Named, listed in the window's Clients view, and said so.
    const listed = await desktop.shell.control()!.invoke('clients:list', {});
    const tokens = listed.ok ? listed.value.tokens : [];
    expect(tokens).toHaveLength(1);
    expect(tokens[0]).toMatchObject({ subject, servers: ['everything'] });
    expect(tokens[0]!.name).toMatch(/^Tray copy Cursor \d{4}-\d{2}-\d{2}$/);
    expect(desktop.electron.notifications.at(-1)?.body).toContain(`"${tokens[0]!.name}"`);
    // It reaches the server through the relay; revoked in the window, it stops at once.
    const client = await connectClient(relay, subject, 'everything', token);
    const echoed = await client.callTool({ name: 'echo', arguments: { message: 'tray token' } });
    expect(JSON.stringify(echoed.content)).toContain('tray token');
    await client.close();
    expect(await desktop.shell.control()!.invoke('clients:revokeToken', { id: tokens[0]!.id })).toMatchObject(
      {
        ok: true,
      },
    );
    await expect(connectClient(relay, subject, 'everything', token)).rejects.toThrow(/the token was revoked/);
  }, 60_000);
});
