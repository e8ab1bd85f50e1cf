// The launcher behind `npm start`: each case of its decision, and a real fetch through a stand-in for
// electron's install.js (a child process that succeeds, fails, or hangs past the time limit).
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { chooseLaunch, decideLaunch, electronBinary } from './launcher.js';

const display = { DISPLAY: ':0' };
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A folder shaped like node_modules/electron, whose install.js runs `body`. */
async function fakeElectron(body: string, installed = false): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mcpgw-electron-'));
  dirs.push(dir);
  await writeFile(join(dir, 'install.js'), body);
  if (installed) await installBinary(dir);
  return dir;
}
async function installBinary(dir: string) {
  await mkdir(join(dir, 'dist'), { recursive: true });
  await writeFile(join(dir, 'dist', 'electron'), '');
  await writeFile(join(dir, 'path.txt'), 'electron');
}
const INSTALLS = `const fs=require('fs'),p=require('path');fs.mkdirSync(p.join(__dirname,'dist'),{recursive:true});fs.writeFileSync(p.join(__dirname,'dist','electron'),'');fs.writeFileSync(p.join(__dirname,'path.txt'),'electron');`;

describe('the launcher decision', () => {
  it('starts Electron with a binary and a display', () => {
    expect(decideLaunch({ platform: 'linux', env: display, binary: '/e' })).toEqual({
      action: 'electron',
      binary: '/e',
    });
    expect(decideLaunch({ platform: 'darwin', env: {}, binary: '/e' }).action).toBe('electron');
    expect(decideLaunch({ platform: 'win32', env: {}, binary: '/e' }).action).toBe('electron');
  });

  it('runs headless without a display, whatever else is true, and says why', () => {
    const decision = decideLaunch({ platform: 'linux', env: {}, binary: '/e' });
    expect(decision).toEqual({
      action: 'headless',
      reason: 'no display (DISPLAY and WAYLAND_DISPLAY are unset)',
    });
    expect(
      decideLaunch({ platform: 'linux', env: { WAYLAND_DISPLAY: 'wayland-0' }, binary: '/e' }).action,
    ).toBe('electron');
  });

  it('fetches a missing binary, unless ELECTRON_SKIP_BINARY_DOWNLOAD is set', () => {
    expect(decideLaunch({ platform: 'linux', env: display, binary: undefined })).toEqual({ action: 'fetch' });
    expect(
      decideLaunch({
        platform: 'linux',
        env: { ...display, ELECTRON_SKIP_BINARY_DOWNLOAD: '1' },
        binary: undefined,
      }),
    ).toEqual({
      action: 'headless',
      reason: 'the Electron binary is not installed and ELECTRON_SKIP_BINARY_DOWNLOAD is set',
    });
  });

  it('runs headless after a failed fetch, with the cause and how to retry', () => {
    const decision = decideLaunch(
      { platform: 'linux', env: display, binary: undefined },
      { ok: false, why: 'getaddrinfo ENOTFOUND' },
    );
    expect(decision.action).toBe('headless');
    expect(decision.action === 'headless' && decision.reason).toMatch(/ENOTFOUND.*install\.js/);
  });

  it('MCPGW_HEADLESS forces the headless gateway', () => {
    expect(decideLaunch({ platform: 'darwin', env: { MCPGW_HEADLESS: '1' }, binary: '/e' }).action).toBe(
      'headless',
    );
  });
});

describe('fetching the binary', () => {
  const launch = (electronDir: string, env: NodeJS.ProcessEnv, fetchTimeoutMs = 20_000) => {
    const said: string[] = [];
    const result = chooseLaunch({
      root: process.cwd(),
      args: [],
      electronDir,
      platform: 'linux',
      env,
      fetchTimeoutMs,
      say: (line) => said.push(line),
    });
    return { result, said };
  };

  it('reads an installed binary the way electron does', async () => {
    const dir = await fakeElectron('', true);
    expect(electronBinary(dir, {})).toBe(join(dir, 'dist', 'electron'));
    const { result, said } = launch(dir, display);
    expect(await result).toEqual({ action: 'electron', binary: join(dir, 'dist', 'electron') });
    expect(said).toEqual([]);
  });

  it('runs install.js once when the binary is missing, then starts Electron', async () => {
    const dir = await fakeElectron(INSTALLS);
    expect(electronBinary(dir, {})).toBeUndefined();
    const { result, said } = launch(dir, display);
    expect(await result).toEqual({ action: 'electron', binary: join(dir, 'dist', 'electron') });
    expect(said).toEqual(['Fetching the Electron binary (once)…']);
  });

  it('gives up on a download that hangs, within the time limit', async () => {
    const dir = await fakeElectron('setInterval(() => {}, 1000);');
    const started = Date.now();
    const { result } = launch(dir, display, 500);
    const decision = await result;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(decision).toMatchObject({ action: 'headless' });
    expect(decision.action === 'headless' && decision.reason).toContain('no answer within 1 s');
  });

  it('reports a failed download and does not fetch when told not to', async () => {
    const failing = await fakeElectron('console.error("offline"); process.exit(1);');
    const failed = await launch(failing, display).result;
    expect(failed.action === 'headless' && failed.reason).toContain('install.js exited with 1');
    const marker = join(failing, 'ran');
    await writeFile(
      join(failing, 'install.js'),
      `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`,
    );
    const skipped = await launch(failing, { ...display, ELECTRON_SKIP_BINARY_DOWNLOAD: '1' }).result;
    expect(skipped.action).toBe('headless');
    expect(existsSync(marker)).toBe(false);
  });
});
