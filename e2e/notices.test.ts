/// <reference lib="dom" />
// Notices: what the desktop app must say in the window rather than only in a passing notification (no tray
// icon on this desktop, tokens outside a keychain, the first run's start-at-login offer). A real Gateway, the
// real ControlApi and web host, the built renderer in Debian's Chromium; only start at login is a stand-in
// (the OS's login items cannot be touched from a test).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { ControlApi } from '../src-main/control/control-api.js';
import { WebHost } from '../src-main/control/web-host.js';
import { Gateway } from '../src-main/core/gateway.js';
import { LogHub } from '../src-main/core/logging/log-hub.js';
import { launchChromium } from './support/chromium.js';
import { ROOT } from './support/cli.js';

let dir: string;
let gateway: Gateway;
let control: ControlApi;
let host: WebHost;
let browser: Browser;
let startsAtLogin = false;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpgw-notices-'));
  await writeFile(join(dir, 'mcp.json'), '{ "mcpServers": {} }\n');
  const logs = new LogHub();
  gateway = await Gateway.create({
    cwd: dir,
    env: {},
    flags: {},
    configPath: join(dir, 'mcp.json'),
    userDirs: { config: join(dir, 'config'), log: join(dir, 'log') },
    logs,
  });
  await gateway.start({ connect: false });
  control = new ControlApi(gateway, {
    logs,
    autostart: {
      get: () => Promise.resolve(startsAtLogin),
      set: (enabled) => Promise.resolve((startsAtLogin = enabled)),
    },
  });
  host = await WebHost.start({
    control,
    rendererDir: join(ROOT, 'dist', 'renderer'),
    log: logs.logger('web-host'),
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await host?.close();
  control?.dispose();
  await gateway?.close();
  await rm(dir, { recursive: true, force: true });
});

it('shows a notice raised after the page loaded, turns start at login on from it, and dismisses another', async () => {
  const page = await browser.newPage();
  await page.goto(host.url.href);
  await page.getByTestId('link-state').waitFor();
  expect(await page.locator('.notice-banner').count()).toBe(0);

  control.notice({ id: 'no-tray', text: 'This desktop shows no tray icons (GNOME needs AppIndicator).' });
  control.notice({ id: 'autostart-offer', text: 'Start it when you log in?', action: 'autostart-on' });
  const offer = page.getByTestId('notice-autostart-offer');
  await offer.waitFor();
  await expect(page.getByTestId('notice-no-tray').innerText()).resolves.toContain('GNOME needs AppIndicator');

  await offer.getByRole('button', { name: 'Start at login' }).click();
  await offer.waitFor({ state: 'detached' });
  expect(startsAtLogin).toBe(true);

  await page.getByTestId('notice-no-tray').getByRole('button', { name: 'Dismiss' }).click();
  await page.getByTestId('notice-no-tray').waitFor({ state: 'detached' });
  const status = await control.invoke('status:get', {});
  expect(status.ok && status.value.notices).toEqual([]);
  // Dismissing twice names what is missing.
  const again = await control.call('notices:dismiss', { id: 'no-tray' });
  expect(again).toMatchObject({ ok: false, code: 'not-found' });
  await page.close();
});
