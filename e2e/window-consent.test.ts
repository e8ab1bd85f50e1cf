/// <reference lib="dom" />
// Consent from the window (issue 12): the built `mcpassistant-gateway ui` signed in to a real relay with its
// built-in sign-in, in Debian's Chromium. An SDK client asks for the owner's everything; while the owner's
// browser shows the relay's consent page, the window brings its Requests view forward with who asks for what;
// Allow there lets the client in (the relay's page follows on its reload) and it calls a tool; Deny sends the
// next one back with access_denied. No secret reaches the page. Screenshots light and dark; axe-core scans.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';

import type { RelayServer } from '../src-relay/relay-server.js';
import { seriousViolations } from './support/axe.js';
import { launchChromium } from './support/chromium.js';
import {
  type CliProcess,
  createSandbox,
  ROOT,
  type Sandbox,
  startCli,
  stopLeftovers,
  uiAddress,
} from './support/cli.js';
import { serverEverything } from './support/mcp-fixtures.js';
import { reloadUntilAnswered, toConsentPage } from './support/oauth-client.js';
import { signInAgent, startRelayWithUser } from './support/relay-fixture.js';

const OWNER = { email: 'ines@example.com', password: 'ines password 789' };

let sandbox: Sandbox;
let relay: RelayServer;
let cli: CliProcess;
let browser: Browser;
let url: URL;
let agentToken: string;
let subject: string;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  sandbox = await createSandbox();
  relay = await startRelayWithUser(sandbox.dir, OWNER);
  ({ token: agentToken, subject } = await signInAgent(relay, OWNER));
  const configPath = join(sandbox.dir, 'mcp.json');
  await writeFile(configPath, `${JSON.stringify({ mcpServers: { everything: serverEverything() } })}\n`);
  cli = startCli(['ui', '--no-open', '--config', configPath], sandbox, {
    REMOTE_SERVER_BASE_URL: relay.url.href,
    AGENT_JWT: agentToken,
  });
  url = await uiAddress(cli);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  for (const context of contexts.splice(0)) await context.close();
  await browser?.close();
  await stopLeftovers();
  await relay?.close();
  await rm(sandbox.dir, { recursive: true, force: true });
});

async function openPage(colorScheme: 'light' | 'dark' = 'light'): Promise<Page> {
  const context = await browser.newContext({ colorScheme, viewport: { width: 1100, height: 800 } });
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(url.href);
  await expect
    .poll(() => page.getByTestId('link-state').textContent(), { timeout: 20_000 })
    .toBe('Connected');
  return page;
}

const endpoint = () => new URL(`/${subject}/everything/mcp`, relay.url);

it('shows who asks for what; Allow lets the client in and it calls a tool; no secret on the page', async () => {
  const page = await openPage();
  // No request yet: no Requests tab.
  expect(
    await page
      .getByRole('navigation')
      .getByRole('button', { name: /Requests/ })
      .count(),
  ).toBe(0);

  const { browser: owner, consent, pageUrl, finish } = await toConsentPage(endpoint(), OWNER, 'Notes app');
  expect(consent.html).toContain('asks you too');
  // The window brings the request forward by itself.
  const request = page.getByRole('article', { name: 'Notes app asks for access' });
  await request.waitFor({ timeout: 10_000 });
  expect(await page.getByRole('button', { name: 'Requests (1)' }).getAttribute('aria-current')).toBe('page');
  expect(await page.getByTestId('consent-servers').textContent()).toBe('everything');
  expect(await page.getByTestId('consent-redirect').textContent()).toBe('127.0.0.1:53682');
  expect(await request.textContent()).toContain(subject);
  expect(await seriousViolations(page), 'the Requests view').toEqual([]);
  // Neither the agent's token nor the browser's authorization request is on the page.
  const html = await page.content();
  expect(html).not.toContain(agentToken);
  expect(html).not.toContain(new URL(pageUrl).pathname);

  await request.getByRole('button', { name: 'Allow' }).click();
  await page.getByTestId('no-consent').waitFor();
  expect(await page.getByRole('status').textContent()).toContain('Allowed Notes app');

  const answered = await reloadUntilAnswered(owner, pageUrl);
  const code = answered.callback ? new URL(answered.callback).searchParams.get('code') : null;
  expect(code, answered.html).toBeTruthy();
  const client = await finish(code!);
  const echoed = await client.callTool({ name: 'echo', arguments: { message: 'allowed in the window' } });
  expect(JSON.stringify(echoed.content)).toContain('allowed in the window');
  await client.close();
}, 90_000);

it('Deny sends the client back with access_denied', async () => {
  const page = await openPage();
  const { browser: owner, pageUrl, tokens } = await toConsentPage(endpoint(), OWNER, 'Unknown tool');
  const request = page.getByRole('article', { name: 'Unknown tool asks for access' });
  await request.waitFor({ timeout: 10_000 });
  await request.getByRole('button', { name: 'Deny' }).click();
  await page.getByTestId('no-consent').waitFor();
  const answered = await reloadUntilAnswered(owner, pageUrl);
  expect(new URL(answered.callback!).searchParams.get('error')).toBe('access_denied');
  expect(tokens()).toBeUndefined();
}, 60_000);

it('takes the Requests view screenshots (light and dark)', async () => {
  const out = process.env['UPDATE_SCREENSHOTS'] ? join(ROOT, 'docs') : join(sandbox.dir, 'screenshots');
  await mkdir(out, { recursive: true });
  const pages = [await openPage('light'), await openPage('dark')];
  const { browser: owner, pageUrl } = await toConsentPage(endpoint(), OWNER, 'Claude');
  for (const [i, colorScheme] of (['light', 'dark'] as const).entries()) {
    const page = pages[i]!;
    await page.getByRole('article', { name: 'Claude asks for access' }).waitFor({ timeout: 10_000 });
    expect(await seriousViolations(page), colorScheme).toEqual([]);
    await page.screenshot({ path: join(out, `window-consent-${colorScheme}.png`), fullPage: true });
  }
  // Answered on the relay's page: the window's request goes away.
  const page = await owner.go(pageUrl);
  await owner.submit(page.html, pageUrl, { decision: 'deny' });
  await pages[0]!.getByTestId('no-consent').waitFor({ timeout: 10_000 });
}, 60_000);
