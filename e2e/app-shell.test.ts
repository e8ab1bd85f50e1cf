// The Electron shell's logic with fakes of the Electron objects (this machine cannot run Electron) and a
// real Gateway: real server-everything, the real embedded local endpoint, the real control API.
import { EventEmitter } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { type AppShell, startApp } from '../src-main/app/app-shell.js';
import type { WindowBounds } from '../src-main/app/preferences.js';
import { Gateway } from '../src-main/core/gateway.js';
import { LogHub } from '../src-main/core/logging/log-hub.js';
import { localRelayFactory } from '../src-relay/local-endpoint.js';
import type { ServerInfo } from '../src-shared/control.js';
import { ROOT } from './support/cli.js';
import {
  click,
  type FakeElectron,
  fakeElectron,
  type FakeTray,
  FakeWebContents,
  type FakeWindow,
} from './support/fake-electron.js';
import { serverEverything } from './support/mcp-fixtures.js';
import { isAlive, until } from './support/wait.js';

interface Started {
  shell: AppShell;
  electron: FakeElectron;
  signals: EventEmitter;
  dir: string;
  config: string;
  prefs: Map<string, boolean>;
  logs: LogHub;
}

const running: Started[] = [];
afterEach(async () => {
  for (const { shell, dir } of running.splice(0)) {
    await shell.quit('test end');
    await rm(dir, { recursive: true, force: true });
  }
});

async function startShell(
  platform: NodeJS.Platform = 'linux',
  options: { ready?: boolean; hasTray?: boolean; firstRunDone?: boolean } = {},
): Promise<Started> {
  const dir = await mkdtemp(join(tmpdir(), 'mcpgw-shell-'));
  const config = join(dir, 'mcp.json');
  await writeFile(config, JSON.stringify({ mcpServers: { everything: serverEverything() } }, null, 2));
  const renderer = join(dir, 'renderer');
  await mkdir(renderer);
  await writeFile(join(renderer, 'index.html'), '<!doctype html><title>Gateway</title>');
  const electron = fakeElectron(platform, { userData: join(dir, 'userData'), logs: join(dir, 'logs') });
  await mkdir(join(dir, 'userData'));
  const signals = new EventEmitter();
  const logs = new LogHub();
  const prefs = new Map<string, boolean>([
    ['notifications', true],
    ['firstRunDone', options.firstRunDone ?? true],
  ]);
  const bounds: { saved?: WindowBounds } = {};
  const env = { LOCAL_RELAY_PORT: '0', XDG_CONFIG_HOME: join(dir, 'xdg'), HOME: dir };
  const shell = startApp({
    ports: electron,
    logs,
    resources: join(ROOT, 'resources'),
    rendererDir: renderer,
    preloadPath: join(dir, 'preload.cjs'),
    argv: [],
    env,
    execPath: '/usr/bin/electron',
    createGateway: (tokenStore) =>
      Gateway.create({
        cwd: dir,
        env,
        configPath: config,
        statePath: join(dir, 'state.json'),
        userDirs: { config: join(dir, 'user'), log: join(dir, 'log') },
        logs,
        tokenStore,
        watch: true,
        localEndpoint: localRelayFactory(logs.logger('local-relay')),
      }),
    preferences: () => ({
      get: (key) => prefs.get(key) ?? false,
      set: (key, value) => void prefs.set(key, value),
      bounds: () => bounds.saved,
      setBounds: (value) => void (bounds.saved = value),
    }),
    signals,
    hasTray: () => Promise.resolve(options.hasTray ?? true),
  })!;
  const started = { shell, electron, signals, dir, config, prefs, logs };
  running.push(started);
  if (options.ready !== false) {
    electron.app.emitReady();
    await shell.ready;
    await until(() => shell.gateway()?.state.state === 'connected', 15_000, 'the local endpoint link');
    await until(() => shell.gateway()!.servers.list()[0]?.state === 'running', 20_000, 'server-everything');
  }
  return started;
}

const tray = (s: Started): FakeTray => s.electron.trays[0]!;
const menuLabels = (s: Started) =>
  tray(s)
    .menu!.template.filter((i) => i.label)
    .map((i) => `${i.label}${i.enabled === false ? ' (off)' : ''}`);

/** The processes of the gateway's servers. */
const serverPids = (s: Started) => s.shell.gateway()!.servers.pids();

describe('the app shell, before and at ready', () => {
  it('registers app:// as privileged before ready, and touches no Tray, window or safeStorage before it', async () => {
    const s = await startShell('linux', { ready: false });
    expect(s.electron.calls).toEqual([
      'protocol.registerSchemesAsPrivileged',
      'app.requestSingleInstanceLock',
    ]);
    expect(s.electron.schemes).toEqual([
      { scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true } },
    ]);
    s.electron.app.emitReady();
    await s.shell.ready;
    const ready = s.electron.calls.indexOf('ready');
    for (const call of ['new Tray', 'protocol.handle', 'safeStorage.isEncryptionAvailable']) {
      expect(s.electron.calls.indexOf(call), call).toBeGreaterThan(ready);
    }
    // The renderer is served on app:// with the CSP.
    const res = await s.electron.protocolHandler!(new Request('app://gateway/index.html'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect((await s.electron.protocolHandler!(new Request('app://gateway/../../etc/passwd'))).status).toBe(
      404,
    );
  });

  it('a second instance quits at once, and the first one shows its window', async () => {
    const first = await startShell('linux');
    expect(first.electron.windows).toHaveLength(0);
    const second = fakeElectron('linux', { userData: first.dir, logs: first.dir });
    second.app.lock = false;
    const none = startApp({ ...({} as Parameters<typeof startApp>[0]), ports: second, logs: new LogHub() });
    expect(none).toBeUndefined();
    expect(second.calls).toContain('app.quit');
    // Electron tells the first instance.
    first.electron.app.emit('second-instance');
    await until(() => first.electron.windows.length === 1, 5000, 'the window');
    const window = first.electron.windows[0]!;
    expect(window.shown).toBe(0); // shown once ready-to-show
    window.emit('ready-to-show');
    expect(window.shown).toBe(1);
    expect(window.webContents.loaded).toEqual(['app://gateway/index.html']);
    first.electron.app.emit('second-instance');
    await until(() => window.shown === 2, 5000, 'the same window shown again');
    expect(first.electron.windows).toHaveLength(1);
  });
});

describe('the tray with a real gateway', () => {
  it('a click toggles connect and disconnect (macOS), and icon, tooltip and menu follow', async () => {
    const s = await startShell('darwin');
    await until(() => tray(s).image.endsWith('connectedTemplate.png'), 5000, 'the connected icon');
    expect(tray(s).tooltip).toBe('MCP Assistant Gateway: Connected: local endpoint on this computer');
    expect(menuLabels(s)).toContain('Disconnect');
    tray(s).emit('click');
    await until(() => s.shell.gateway()!.state.state === 'stopped', 5000, 'disconnected');
    await until(() => menuLabels(s).includes('Connect'), 5000, 'the Connect item');
    expect(tray(s).image).toMatch(/disconnectedTemplate\.png$/);
    expect(tray(s).tooltip).toBe('MCP Assistant Gateway: Disconnected');
    // The servers keep running while disconnected.
    expect(s.shell.gateway()!.servers.list()[0]!.state).toBe('running');
    tray(s).emit('click');
    await until(() => s.shell.gateway()!.state.state === 'connected', 10_000, 'connected again');
    await until(() => menuLabels(s).includes('Disconnect'), 5000, 'the Disconnect item');
  });

  it('on Linux a click does nothing (clicks are unreliable there) and the menu is always set', async () => {
    const s = await startShell('linux');
    expect(tray(s).menu).not.toBeNull();
    expect(tray(s).image).toMatch(/tray\/linux\/connected-dark\.png$/);
    tray(s).emit('click');
    expect(s.shell.gateway()!.state.state).toBe('connected');
    click(tray(s).menu!.item('Disconnect'));
    await until(() => s.shell.gateway()!.state.state === 'stopped', 5000, 'disconnected by the menu');
  });

  it('the Servers submenu follows server events: status, tool count, a new server, Restart, Copy URL', async () => {
    const s = await startShell('linux');
    await until(
      () => Boolean(tray(s).menu!.item(/^everything — running · \d+ tools$/)),
      5000,
      'the server item',
    );
    const everything = tray(s).menu!.item(/^everything — running/)!;
    const [restart, copy] = everything.submenu as { label: string; enabled?: boolean }[];
    expect(restart!.label).toBe('Restart');
    expect(copy!.label).toBe('Copy URL');
    click(copy);
    expect(s.electron.clipboardText).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/local\/everything\/mcp$/);
    // A second server added to mcp.json appears through the live reload, without polling.
    await writeFile(
      s.config,
      JSON.stringify({ mcpServers: { everything: serverEverything(), second: serverEverything() } }),
    );
    await until(() => Boolean(tray(s).menu!.item(/^second — running/)), 20_000, 'the new server in the menu');
    const before = serverPids(s);
    click(findRestart(s, 'second'));
    await until(
      () => serverPids(s).length === 2 && serverPids(s).some((pid) => !before.includes(pid)),
      20_000,
      'the restarted server',
    );
    click(tray(s).menu!.item('Gemini CLI'));
    await until(() => s.electron.clipboardText.startsWith('{'), 5000, 'the copied config');
    const config = JSON.parse(s.electron.clipboardText) as {
      mcpServers: Record<string, { httpUrl: string }>;
    };
    expect(Object.keys(config.mcpServers).sort()).toEqual(['everything', 'second']);
  });

  it('Start at login shows what the OS reports, and toggles the XDG autostart file', async () => {
    const s = await startShell('linux');
    const checkbox = () => tray(s).menu!.item('Start at login')!;
    expect(checkbox().checked).toBe(false);
    click(checkbox());
    const file = join(s.dir, 'xdg', 'autostart', 'mcpassistant-gateway.desktop');
    await until(() => checkbox().checked === true, 5000, 'the checkbox on');
    expect(await readFile(file, 'utf8')).toContain('Exec="/usr/bin/electron" "/opt/app" "--hidden"');
    // Removed by hand (or by the desktop's settings): the menu says so after the next event.
    await rm(file);
    click(checkbox()); // was on: turning it off finds nothing to remove and reads back off
    await until(() => checkbox().checked === false, 5000, 'the checkbox off');
  });

  it('the log folder and the window open from the menu; the first run opens the window', async () => {
    const s = await startShell('linux', { firstRunDone: false });
    expect(s.electron.windows).toHaveLength(1);
    expect(s.prefs.get('firstRunDone')).toBe(true);
    // The first run's window offers start at login (off until the user turns it on).
    const first = await s.shell.control()!.invoke('status:get', {});
    expect(first.ok && first.value.notices.map((n) => [n.id, n.action])).toEqual([
      ['autostart-offer', 'autostart-on'],
    ]);
    click(tray(s).menu!.item('Open log folder'));
    expect(s.electron.openedPaths).toEqual([join(s.dir, 'log')]);
    // The window comes back where it was.
    s.electron.windows[0]!.close();
    click(tray(s).menu!.item('Open window'));
    expect(s.electron.windows[1]!.options).toMatchObject({ x: 10, y: 20, width: 880, height: 640 });
  });

  it('with no tray host (GNOME without AppIndicator) the window opens and says how to get the icon', async () => {
    const s = await startShell('linux', { hasTray: false });
    expect(s.electron.windows).toHaveLength(1);
    expect(s.electron.notifications.map((n) => n.body).join('\n')).toMatch(/AppIndicator/);
    // Said in the window too, where it stays until dismissed (a notification passes unseen).
    const status = await s.shell.control()!.invoke('status:get', {});
    expect(status.ok && status.value.notices.find((n) => n.id === 'no-tray')?.text).toMatch(/AppIndicator/);
  });

  it('the server form’s folder picker is the OS dialog, and "Open log folder" in the window opens it', async () => {
    const s = await startShell('linux');
    const control = s.shell.control()!;
    s.electron.pickedFolder = join(s.dir, 'projects');
    await expect(control.invoke('dialog:pickFolder', {})).resolves.toEqual({
      ok: true,
      value: { path: join(s.dir, 'projects') },
    });
    expect(s.electron.dialogs[0]?.properties).toContain('openDirectory');
    s.electron.pickedFolder = undefined; // the user cancels
    await expect(control.invoke('dialog:pickFolder', {})).resolves.toEqual({
      ok: true,
      value: { path: null },
    });
    await expect(control.invoke('logs:openFolder', {})).resolves.toMatchObject({ ok: true });
    expect(s.electron.openedPaths).toEqual([join(s.dir, 'log')]);
  });
});

function findRestart(s: Started, name: string) {
  const item = tray(s).menu!.item(new RegExp(`^${name} — `))!;
  return (item.submenu as { label: string }[]).find((i) => i.label === 'Restart')!;
}

describe('quitting leaves no child process', () => {
  const quitBy = async (s: Started, how: () => void) => {
    const pids = serverPids(s);
    expect(pids.length).toBe(1);
    for (const pid of pids) expect(isAlive(pid)).toBe(true);
    how();
    await s.shell.stopped;
    expect(s.electron.app.exitCode).toBe(0);
    for (const pid of pids) expect(isAlive(pid), `server ${pid} left behind`).toBe(false);
    expect(s.shell.gateway()!.state.state).toBe('stopped');
  };

  it('menu Quit', async () => {
    const s = await startShell('linux');
    await quitBy(s, () => click(tray(s).menu!.item('Quit')));
  });

  it('before-quit (Cmd+Q, the OS asking the app to quit): the quit waits for the servers', async () => {
    const s = await startShell('darwin');
    await quitBy(s, () => s.electron.app.quit());
    // The first quit was cancelled and replaced by exit once everything had stopped.
    const calls = s.electron.calls;
    expect(calls.lastIndexOf('app.exit(0)')).toBeGreaterThan(calls.indexOf('app.quit'));
  });

  it('SIGTERM', async () => {
    const s = await startShell('linux');
    await quitBy(s, () => s.signals.emit('SIGTERM'));
  });

  it('the session ending (Windows session-end on a window)', async () => {
    const s = await startShell('win32');
    const window = s.shell.openWindow();
    await quitBy(s, () => (window as unknown as EventEmitter).emit('session-end'));
  });
});

describe('every window is locked down', () => {
  it('contextIsolation, sandbox, no nodeIntegration, no webview; permissions, navigation and new windows denied', async () => {
    const s = await startShell('linux');
    const window = s.electron.windows[0] ?? (s.shell.openWindow(), s.electron.windows[0]!);
    expect(window.options.webPreferences).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInSubFrames: false,
      nodeIntegrationInWorker: false,
      webviewTag: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
    });
    expect(window.options.webPreferences!.preload).toBe(join(s.dir, 'preload.cjs'));
    const contents = window.webContents;
    for (const permission of ['media', 'geolocation', 'notifications', 'openExternal'])
      expect(await contents.session.request(permission)).toBe(false);
    expect(contents.session.checkHandler!(null, 'clipboard-read')).toBe(false);
    expect(contents.navigate('will-navigate', 'https://evil.example/')).toBe(false);
    expect(contents.navigate('will-navigate', 'app://gateway/other.html')).toBe(false);
    const attach = { defaultPrevented: false, preventDefault: () => (attach.defaultPrevented = true) };
    contents.emit('will-attach-webview', attach);
    expect(attach.defaultPrevented).toBe(true);
    expect(contents.openHandler!({ url: 'https://docs.example/help' })).toEqual({ action: 'deny' });
    expect(contents.openHandler!({ url: 'file:///etc/passwd' })).toEqual({ action: 'deny' });
    await until(() => s.electron.opened.length === 1, 2000, 'the external link');
    expect(s.electron.opened).toEqual(['https://docs.example/help']);
  });
});

describe('the control API over IPC', () => {
  const APP = 'app://gateway/index.html';

  it('answers the app’s frame, refuses a foreign frame and malformed arguments, and changes nothing', async () => {
    const s = await startShell('linux');
    const window = s.shell.openWindow() as FakeWindow;
    const page = window.webContents;
    const ipc = s.electron.ipcMain;
    const listed = (await ipc.invoke(page, APP, 'servers:list', {})) as { ok: true; value: ServerInfo[] };
    expect(listed.ok).toBe(true);
    expect(listed.value.map((server) => server.name)).toEqual(['everything']);

    for (const frame of [
      'https://evil.example/cb?code=oauth-code-123#token=frag-token-456',
      'file:///tmp/x.html',
      'app://other/index.html',
    ]) {
      expect(await ipc.invoke(page, frame, 'servers:disable', { name: 'everything' })).toMatchObject({
        ok: false,
        code: 'forbidden',
      });
    }
    // The refusal is logged with the frame's origin only: its path, query and fragment may hold a code.
    const refusals = s.logs.recent().filter((entry) => entry.message.includes('refused'));
    expect(refusals.map((entry) => entry.message)).toContain(
      'IPC servers:disable from https://evil.example refused',
    );
    expect(JSON.stringify(refusals)).not.toMatch(/oauth-code-123|frag-token-456/);
    expect(await ipc.invoke(page, APP, 'servers:disable', { name: 5 })).toMatchObject({
      ok: false,
      code: 'invalid-args',
    });
    expect(await ipc.invoke(page, APP, 'servers:disable', { name: 'everything' }, 'extra')).toMatchObject({
      ok: false,
      code: 'invalid-args',
    });
    expect(await readFile(s.config, 'utf8')).not.toContain('disabled');
    expect(s.shell.gateway()!.servers.list()[0]!.state).toBe('running');
  });

  it('pushes events only to the pages that subscribed, as (name, payload)', async () => {
    const s = await startShell('linux');
    const ipc = s.electron.ipcMain;
    const subscribed = (s.shell.openWindow() as FakeWindow).webContents;
    const other = new FakeWebContents();
    expect(await ipc.invoke(subscribed, APP, 'control:subscribe', 'status')).toEqual({
      ok: true,
      value: null,
    });
    expect(await ipc.invoke(other, 'https://evil.example/', 'control:subscribe', 'status')).toMatchObject({
      code: 'forbidden',
    });
    expect(await ipc.invoke(subscribed, APP, 'control:subscribe', 'secrets')).toMatchObject({
      code: 'unknown-call',
    });
    await ipc.invoke(subscribed, APP, 'link:disconnect', {});
    await until(() => subscribed.sent.length > 0, 5000, 'a status event');
    const [channel, name, payload] = subscribed.sent.at(-1)!;
    expect([channel, name]).toEqual(['control:event', 'status']);
    expect(payload).toMatchObject({ link: { state: 'stopped' } });
    expect(other.sent).toEqual([]);
    await ipc.invoke(subscribed, APP, 'control:unsubscribe', 'status');
    const count = subscribed.sent.length;
    await ipc.invoke(subscribed, APP, 'link:connect', {});
    await until(() => s.shell.gateway()!.state.state === 'connected', 10_000, 'connected');
    expect(subscribed.sent.length).toBe(count);
  });
});
