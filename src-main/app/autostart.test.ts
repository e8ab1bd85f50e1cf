// Start at login on each OS: the XDG autostart file in a temporary HOME (quoted Exec, the AppImage case),
// and the login-item calls on macOS and Windows fakes (read back with the same arguments).
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { FakeApp } from '../../e2e/support/fake-electron.js';
import { autostartFor, desktopEntry, quoteExecArg } from './autostart.js';

const homes: string[] = [];
afterEach(async () => {
  for (const home of homes.splice(0)) await rm(home, { recursive: true, force: true });
});
const tempHome = async () => {
  const home = await mkdtemp(join(tmpdir(), 'mcpgw-home-'));
  homes.push(home);
  return home;
};
const packagedApp = () => Object.assign(new FakeApp([], { userData: '', logs: '' }), { isPackaged: true });

describe('start at login on Linux (XDG autostart)', () => {
  it('writes and removes ~/.config/autostart/mcpassistant-gateway.desktop, and reads it back', async () => {
    const home = await tempHome();
    const autostart = autostartFor('linux', packagedApp(), '/opt/MCP Assistant/mcp-gateway', { HOME: home });
    const file = join(home, '.config', 'autostart', 'mcpassistant-gateway.desktop');
    expect(await autostart.get()).toBe(false);
    expect(await autostart.set(true)).toBe(true);
    const text = await readFile(file, 'utf8');
    expect(text).toContain('[Desktop Entry]\nType=Application\n');
    expect(text).toContain('Exec="/opt/MCP Assistant/mcp-gateway" "--hidden"\n');
    expect((await stat(file)).mode & 0o777).toBe(0o644);
    expect(await autostart.set(false)).toBe(false);
    await expect(stat(file)).rejects.toThrow(/ENOENT/);
  });

  it('points at $APPIMAGE under an AppImage (the mount path changes every run), in XDG_CONFIG_HOME', async () => {
    const home = await tempHome();
    const env = {
      HOME: '/nonexistent',
      XDG_CONFIG_HOME: join(home, 'cfg'),
      APPIMAGE: '/home/me/Apps/Gateway.AppImage',
    };
    const autostart = autostartFor('linux', packagedApp(), '/tmp/.mount_GatewayX1/gateway', env);
    await autostart.set(true);
    const text = await readFile(join(home, 'cfg', 'autostart', 'mcpassistant-gateway.desktop'), 'utf8');
    expect(text).toContain('Exec="/home/me/Apps/Gateway.AppImage" "--hidden"');
  });

  it('an unpackaged app starts Electron on the app folder', () => {
    const app = new FakeApp([], { userData: '', logs: '' });
    expect(desktopEntry({ executable: '/usr/lib/electron', args: [app.getAppPath()] })).toContain(
      'Exec="/usr/lib/electron" "/opt/app" "--hidden"',
    );
  });

  it('quotes Exec arguments per the Desktop Entry spec', () => {
    expect(quoteExecArg('/a b/c')).toBe('"/a b/c"');
    expect(quoteExecArg('say "hi" $HOME `x`')).toBe('"say \\\\"hi\\\\" \\\\$HOME \\\\`x\\\\`"');
    expect(quoteExecArg('C:\\x')).toBe('"C:\\\\\\\\x"');
    expect(quoteExecArg('100%')).toBe('"100%%"');
  });

  it('a desktop environment’s own switch-off counts as off', async () => {
    const home = await tempHome();
    const autostart = autostartFor('linux', packagedApp(), '/opt/gw', { HOME: home });
    await autostart.set(true);
    const file = join(home, '.config', 'autostart', 'mcpassistant-gateway.desktop');
    await writeFile(file, `${await readFile(file, 'utf8')}Hidden=true\n`);
    expect(await autostart.get()).toBe(false);
  });
});

describe('start at login on macOS and Windows (login items)', () => {
  it('Windows: written and read back with the same path and args', async () => {
    const app = packagedApp();
    const autostart = autostartFor('win32', app, 'C:\\Program Files\\Gateway\\Gateway.exe', {});
    expect(await autostart.set(true)).toBe(true);
    expect(app.loginItemCalls).toEqual([
      { openAtLogin: true, path: 'C:\\Program Files\\Gateway\\Gateway.exe', args: ['--hidden'] },
    ]);
    // Read without the arguments, Windows reports another (absent) entry: the port never does that.
    expect(app.getLoginItemSettings().openAtLogin).toBe(false);
    expect(await autostart.get()).toBe(true);
    expect(await autostart.set(false)).toBe(false);
    expect(app.loginItemCalls.at(-1)).toEqual({
      openAtLogin: false,
      path: 'C:\\Program Files\\Gateway\\Gateway.exe',
      args: ['--hidden'],
    });
  });

  it('macOS: the login item of the app bundle', async () => {
    const app = packagedApp();
    const autostart = autostartFor('darwin', app, '/Applications/Gateway.app/Contents/MacOS/Gateway', {});
    expect(await autostart.get()).toBe(false);
    expect(await autostart.set(true)).toBe(true);
    expect(app.loginItemCalls).toEqual([{ openAtLogin: true }]);
    expect(await autostart.get()).toBe(true);
  });
});
