// Sign-in from the window (issue 10): the built `mcpassistant-gateway ui` with a relay configured, in Debian's
// Chromium; the relay's built-in provider served for real. The system browser that `ui` opens is played by a
// BROWSER script (xdg-open honours it) that hands the sign-in URL to the test, whose HTTP client submits the
// sign-in form as a person would. The profile appears, the link connects with the new token, sign-out clears it.
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';

import type { RelayServer } from '../src-relay/relay-server.js';
import { launchChromium } from './support/chromium.js';
import {
  type CliProcess,
  createSandbox,
  type Sandbox,
  startCli,
  stopLeftovers,
  uiAddress,
} from './support/cli.js';
import { startRelayWithUser } from './support/relay-fixture.js';
import { TestBrowser } from './support/test-browser.js';
import { until } from './support/wait.js';

const USER = { email: 'rui@example.com', password: 'correct horse battery' };
let sandbox: Sandbox;
let relay: RelayServer;
let cli: CliProcess;
let browser: Browser;
let url: URL;
let opened: string;

beforeAll(async () => {
  sandbox = await createSandbox();
  relay = await startRelayWithUser(sandbox.dir, USER);
  await writeFile(join(sandbox.dir, 'mcp.json'), '{ "mcpServers": {} }\n');
  opened = join(sandbox.dir, 'opened.txt');
  const fakeBrowser = join(sandbox.dir, 'browser.sh');
  await writeFile(fakeBrowser, `#!/bin/sh\nprintf '%s\\n' "$1" >> '${opened}'\n`);
  await chmod(fakeBrowser, 0o755);
  cli = startCli(['ui', '--no-open', '--config', join(sandbox.dir, 'mcp.json')], sandbox, {
    REMOTE_SERVER_BASE_URL: relay.url.href,
    BROWSER: fakeBrowser,
    DISPLAY: '',
    XDG_CURRENT_DESKTOP: '',
  });
  url = await uiAddress(cli);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await stopLeftovers();
  await relay?.close();
  await rm(sandbox.dir, { recursive: true, force: true });
});

it('signs in through the relay’s built-in provider, shows the profile and connects; sign-out clears it', async () => {
  const page = await browser.newPage();
  const requests: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  await page.goto(url.href);
  await until(async () => (await page.getByTestId('link-state').innerText()) !== '…', 10_000, 'the state');
  expect(await page.getByTestId('link-state').innerText()).toBe('Sign-in needed');

  await page.getByRole('navigation').getByRole('button', { name: 'Settings' }).click();
  await page.getByRole('button', { name: 'Sign in' }).click();
  // The "system browser" got the relay's sign-in page; the person signs in there.
  await until(
    async () => (await readFile(opened, 'utf8').catch(() => '')).includes('http'),
    15_000,
    'the browser',
  );
  const authUrl = new URL((await readFile(opened, 'utf8')).trim().split('\n').at(-1)!);
  expect(authUrl.origin).toBe(relay.url.origin);
  const person = new TestBrowser();
  const form = await person.go(authUrl);
  const back = await person.submit(form.html, authUrl.href, USER);
  await fetch(back.callback!);

  const subject = page.getByTestId('profile-subject');
  await subject.waitFor({ timeout: 15_000 });
  expect(await subject.innerText()).not.toBe('');
  await page.getByRole('navigation').getByRole('button', { name: 'Status' }).click();
  await until(
    async () => (await page.getByTestId('link-state').innerText()) === 'Connected',
    15_000,
    'connected with the new token',
  );

  await page.getByRole('navigation').getByRole('button', { name: 'Settings' }).click();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByTestId('profile').waitFor({ state: 'detached' });
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  // The page itself only ever talked to its own host: the sign-in ran in "the system browser".
  expect(requests.filter((r) => new URL(r).host !== url.host)).toEqual([]);
  await page.close();
}, 60_000);
