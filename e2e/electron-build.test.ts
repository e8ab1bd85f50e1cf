// What only a real Electron would catch, checked from the outside on the build output:
// - the main entry loads under Electron's module rules (an ES module; `electron` a built-in, here the fake
//   of support/fake-electron-module.cjs resolved by a module hook), registers app:// before `ready`,
//   touches no Tray, window, screen or safeStorage before it, and SIGTERM stops it with no child left;
// - the preload is one CommonJS file whose only `require` is `electron`, and exposes named functions only.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';

import { afterAll, describe, expect, it } from 'vitest';

import { rendererResponse } from '../src-main/app/app-protocol.js';
import { descendants, ROOT } from './support/cli.js';
import { serverEverything } from './support/mcp-fixtures.js';
import { isAlive, until } from './support/wait.js';

const MAIN = join(ROOT, 'dist', 'src-main', 'app', 'main.js');
const PRELOAD = join(ROOT, 'dist', 'src-preload', 'preload.cjs');
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('the built main entry', () => {
  it('loads as an ES module with `electron` as a built-in, in Electron’s order, and SIGTERM leaves no child', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpgw-main-'));
    dirs.push(dir);
    const config = join(dir, 'mcp.json');
    await writeFile(config, JSON.stringify({ mcpServers: { everything: serverEverything() } }));
    const child = spawn(
      process.execPath,
      ['--import', join(ROOT, 'e2e', 'support', 'electron-hooks.mjs'), MAIN],
      {
        cwd: dir,
        env: {
          PATH: process.env.PATH,
          HOME: dir,
          XDG_CONFIG_HOME: join(dir, 'config'),
          XDG_STATE_HOME: join(dir, 'state'),
          AGENT_CONFIG_PATH: config,
          LOCAL_RELAY_PORT: '0',
          FAKE_ELECTRON_DATA: join(dir, 'data'),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await until(() => output.includes('FAKE_ELECTRON_CALL new Tray'), 30_000, `the tray:\n${output}`);
    // The servers run: wait for server-everything to be a child of the app.
    await until(() => descendants(child.pid!).length > 0, 20_000, 'the server process');
    const children = descendants(child.pid!);
    child.kill('SIGTERM');
    expect(await exited, output).toBe(0);
    for (const pid of children) expect(isAlive(pid), `process ${pid} left behind`).toBe(false);

    const calls = JSON.parse(/^FAKE_ELECTRON_CALLS (.*)$/m.exec(output)![1]!) as string[];
    const ready = calls.indexOf('ready');
    expect(calls.slice(0, ready)).toEqual([
      'protocol.registerSchemesAsPrivileged (before ready)',
      'app.requestSingleInstanceLock (before ready)',
    ]);
    expect(calls.filter((c) => c.includes('(before ready)'))).toHaveLength(2);
    for (const after of [
      'protocol.handle',
      'safeStorage.isEncryptionAvailable',
      'new Tray',
      'ipcMain.handle servers:list',
    ])
      expect(calls.indexOf(after), after).toBeGreaterThan(ready);
    expect(calls.at(-1)).toBe('app.exit(0)');
  }, 60_000);
});

describe('the built renderer on app://', () => {
  it('is served from dist/renderer with the CSP, its scripts and styles included', async () => {
    const dir = join(ROOT, 'dist', 'renderer');
    const index = await rendererResponse(dir, new Request('app://gateway/index.html'));
    expect(index.status).toBe(200);
    expect(index.headers.get('content-security-policy')).toMatch(/^default-src 'self'; script-src 'self'/);
    const html = await index.text();
    const assets = [...html.matchAll(/(?:src|href)="\.\/([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
    for (const asset of assets) {
      const res = await rendererResponse(dir, new Request(`app://gateway/${asset}`));
      expect(res.status, asset).toBe(200);
      expect(res.headers.get('content-type'), asset).toMatch(/javascript|css/);
    }
  });
});

describe('the built preload', () => {
  const source = readFileSync(PRELOAD, 'utf8');

  it('is one CommonJS script whose only require is electron', () => {
    const requires = [...source.matchAll(/\brequire\(\s*(["'`])([^"'`]*)\1\s*\)/g)].map((m) => m[2]);
    expect(new Set(requires)).toEqual(new Set(['electron']));
    expect(source).not.toMatch(/^\s*(import|export)\s/m);
    expect(source).not.toMatch(/\bimport\(/);
  });

  it('exposes window.gateway: named functions from the contract, unsubscribe functions, payloads only', async () => {
    const invoked: unknown[][] = [];
    const exposed: Record<string, unknown> = {};
    let onEvent: ((event: unknown, name: string, payload: unknown) => void) | undefined;
    const electron = {
      contextBridge: { exposeInMainWorld: (key: string, api: unknown) => (exposed[key] = api) },
      ipcRenderer: {
        invoke: (...args: unknown[]) => {
          invoked.push(args);
          return Promise.resolve({ ok: true, value: [] });
        },
        on: (channel: string, listener: typeof onEvent) => {
          expect(channel).toBe('control:event');
          onEvent = listener;
        },
      },
    };
    const module = { exports: {} };
    runInNewContext(source, {
      require: (name: string) => {
        if (name !== 'electron') throw new Error(`a sandboxed preload cannot require ${name}`);
        return electron;
      },
      module,
      exports: module.exports,
    });
    expect(Object.keys(exposed)).toEqual(['gateway']);
    type Api = Record<string, Record<string, (args?: unknown) => Promise<unknown>>> & {
      subscribe(event: string, listener: (payload: unknown) => void): () => void;
    };
    const gateway = exposed['gateway'] as Api;
    // Only plain objects of functions: nothing of Electron's reaches the page.
    const shapes = Object.fromEntries(
      Object.entries(gateway).map(([key, value]) => [
        key,
        typeof value === 'function' ? 'function' : Object.values(value).every((f) => typeof f === 'function'),
      ]),
    );
    expect(shapes).toMatchObject({ servers: true, link: true, auth: true, subscribe: 'function' });
    expect(Object.keys(gateway['servers']!).sort()).toEqual(
      ['add', 'disable', 'enable', 'get', 'list', 'remove', 'resolve', 'restart', 'tools', 'update'].sort(),
    );
    expect(JSON.stringify(gateway)).not.toMatch(/ipcRenderer|contextBridge/);

    await gateway['servers']!['list']!();
    await gateway['servers']!['disable']!({ name: 'fs' });
    expect(invoked).toEqual([
      ['servers:list', {}],
      ['servers:disable', { name: 'fs' }],
    ]);
    const seen: unknown[][] = [];
    const off = gateway.subscribe('status', (...args: unknown[]) => seen.push(args));
    expect(typeof off).toBe('function');
    expect(invoked.at(-1)).toEqual(['control:subscribe', 'status']);
    onEvent!({ sender: 'an Electron event object' }, 'status', { link: { state: 'stopped' } });
    onEvent!({}, 'servers', []);
    expect(seen).toEqual([[{ link: { state: 'stopped' } }]]);
    off();
    expect(invoked.at(-1)).toEqual(['control:unsubscribe', 'status']);
    onEvent!({}, 'status', { link: { state: 'connected' } });
    expect(seen).toHaveLength(1);
  });
});
