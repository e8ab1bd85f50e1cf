/// <reference lib="dom" />
// Client tokens from the window (issue 12): the built `mcpassistant-gateway ui` linked to a real relay on
// 127.0.0.1 with server-everything, in Debian's Chromium. A token is created and shown once (gone after a
// reload), listed, used by a real MCP client through the relay, revoked from the window — and refused with 401
// at once. An MCP client the owner allowed by OAuth on a relay with sign-in is listed and its grant ended from
// the window. Screenshots of the view, light and dark; axe-core scans.
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
import { oauthClient } from './support/oauth-client.js';
import { connectClient, signInAgent, startRelay, startRelayWithUser } from './support/relay-fixture.js';

let sandbox: Sandbox;
let relay: RelayServer;
let cli: CliProcess;
let browser: Browser;
let url: URL;
const contexts: BrowserContext[] = [];
/** Every request a page made: none may go to another host than the page's own. */
const requests: string[] = [];

beforeAll(async () => {
  sandbox = await createSandbox();
  relay = await startRelay();
  const configPath = join(sandbox.dir, 'mcp.json');
  await writeFile(configPath, `${JSON.stringify({ mcpServers: { everything: serverEverything() } })}\n`);
  cli = startCli(['ui', '--no-open', '--config', configPath], sandbox, {
    REMOTE_SERVER_BASE_URL: relay.url.href,
    AGENT_JWT: await relay.tokens.issue('alice', ['*'], 60),
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
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url.origin });
  const page = await context.newPage();
  page.on('request', (request) => requests.push(request.url()));
  await page.goto(url.href);
  return page;
}

const view = (page: Page, name: string) => page.getByRole('navigation').getByRole('button', { name }).click();

/** A ping to alice's everything through the relay with `header`: the HTTP status. */
async function mcpStatus(header: string): Promise<number> {
  const res = await fetch(new URL('/alice/everything/mcp', relay.url), {
    method: 'POST',
    headers: {
      Authorization: header,
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
  });
  await res.body?.cancel();
  return res.status;
}

it('creates a client token shown once, lists it, serves a real MCP call with it, and revokes it (401 at once)', async () => {
  const page = await openPage();
  // The agent is linked before a client can reach it.
  await expect
    .poll(() => page.getByTestId('link-state').textContent(), { timeout: 20_000 })
    .toBe('Connected');
  await view(page, 'Clients');
  await page.getByTestId('no-tokens').waitFor();
  // This relay has no MCP client sign-in: the view says so instead of an empty list.
  expect(await page.getByTestId('grants-note').textContent()).toContain('has no MCP client sign-in');

  await page.getByRole('button', { name: 'New client token' }).click();
  await page.getByLabel('Name').fill('laptop Claude Code');
  await page.getByRole('checkbox', { name: 'everything' }).check();
  await page.getByLabel('Expires after (days)').fill('400');
  await page.getByRole('button', { name: 'Create' }).click();
  expect(await page.getByTestId('token-form-error').textContent()).toContain('from 1 to 365');
  expect(await seriousViolations(page), 'the form with an error').toEqual([]);
  await page.getByLabel('Expires after (days)').fill('7');
  await page.getByRole('button', { name: 'Create' }).click();

  const shown = page.getByTestId('new-token-header');
  await shown.waitFor();
  const header = (await shown.textContent())!.replace(/^Authorization: /, '').trim();
  expect(header).toMatch(/^Bearer ey/);
  const config = JSON.parse((await page.getByTestId('new-token-config').textContent())!) as {
    mcpServers: Record<string, { url: string; headers: Record<string, string> }>;
  };
  expect(config.mcpServers).toEqual({
    everything: {
      url: new URL('/alice/everything/mcp', relay.url).href,
      headers: { Authorization: header },
    },
  });
  await page.getByRole('button', { name: 'Copy client config' }).click();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toContain(header);
  const row = page.locator('tr[data-token="laptop Claude Code"]');
  await row.waitFor();
  expect(await row.textContent()).toContain('everything');

  // Shown once: after a reload the token is listed but nowhere on the page.
  await page.reload();
  await view(page, 'Clients');
  await row.waitFor();
  expect(await page.getByTestId('new-token').count()).toBe(0);
  expect(await page.content()).not.toContain(header.slice('Bearer '.length));

  // A real MCP client with that token, through the relay to the agent's server-everything.
  const client = await connectClient(relay, 'alice', 'everything', header.slice('Bearer '.length));
  const echoed = await client.callTool({ name: 'echo', arguments: { message: 'from the window token' } });
  expect(JSON.stringify(echoed.content)).toContain('from the window token');
  await client.close();
  expect(await mcpStatus(header)).toBe(200);

  // Revoke asks first; "Keep" keeps it.
  await page.getByRole('button', { name: 'Revoke laptop Claude Code' }).click();
  await page.getByRole('button', { name: 'Keep' }).click();
  expect(await mcpStatus(header)).toBe(200);
  await page.getByRole('button', { name: 'Revoke laptop Claude Code' }).click();
  await page.getByRole('button', { name: 'Revoke it: laptop Claude Code' }).click();
  await row.waitFor({ state: 'detached' });
  await page.getByTestId('no-tokens').waitFor();
  expect(await mcpStatus(header)).toBe(401);
  expect(requests.filter((r) => new URL(r).host !== url.host)).toEqual([]);
}, 90_000);

it('takes the Clients view screenshots (light and dark) with a listed token', async () => {
  const setup = await openPage();
  await view(setup, 'Clients');
  await setup.getByRole('button', { name: 'New client token' }).click();
  await setup.getByLabel('Name').fill('CI runner');
  await setup.getByRole('button', { name: 'Create' }).click();
  await setup.getByTestId('new-token').waitFor();
  expect(await seriousViolations(setup), 'the token shown once').toEqual([]);
  const out = process.env['UPDATE_SCREENSHOTS'] ? join(ROOT, 'docs') : join(sandbox.dir, 'screenshots');
  await mkdir(out, { recursive: true });
  for (const colorScheme of ['light', 'dark'] as const) {
    const page = await openPage(colorScheme);
    await view(page, 'Clients');
    await page.locator('tr[data-token="CI runner"]').waitFor();
    expect(await page.locator('tr[data-token="CI runner"]').textContent()).toContain('all servers');
    expect(await seriousViolations(page), colorScheme).toEqual([]);
    await page.screenshot({ path: join(out, `window-clients-tokens-${colorScheme}.png`), fullPage: true });
  }
  await setup.screenshot({ path: join(out, 'window-clients-created.png'), fullPage: true });
}, 60_000);

it('lists an MCP client the owner allowed by OAuth and ends its grant from the window (401 at once)', async () => {
  const owner = { email: 'rui@example.com', password: 'correct horse battery' };
  const signIn = await startRelayWithUser(sandbox.dir, owner);
  try {
    // The agent signed in as the owner (so that the owner's consent is asked), run by a second `ui`.
    const { token, subject } = await signInAgent(signIn, owner);
    const configPath = join(sandbox.dir, 'mcp-oauth.json');
    await writeFile(configPath, `${JSON.stringify({ mcpServers: { everything: serverEverything() } })}\n`);
    const second = startCli(
      ['ui', '--no-open', '--config', configPath, '--state', join(sandbox.dir, 'oauth-state.json')],
      sandbox,
      { REMOTE_SERVER_BASE_URL: signIn.url.href, AGENT_JWT: token },
    );
    const secondUrl = await uiAddress(second);
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(secondUrl.href);
    await expect
      .poll(() => page.getByTestId('link-state').textContent(), { timeout: 20_000 })
      .toBe('Connected');
    await view(page, 'Clients');
    await page.getByTestId('no-grants').waitFor();

    const endpoint = new URL(`/${subject}/everything/mcp`, signIn.url);
    const { client, clientId, accessToken } = await oauthClient(endpoint, owner, 'Notes app');
    await client.close();
    await page.reload();
    await view(page, 'Clients');
    const row = page.locator(`tr[data-grant="${clientId}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain('Notes app');
    expect(await row.textContent()).toContain('everything');
    expect(await seriousViolations(page), 'with a grant').toEqual([]);

    const ping = () =>
      fetch(endpoint, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${accessToken}`,
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
      }).then(async (res) => (await res.body?.cancel(), res.status));
    expect(await ping()).toBe(200);
    await page.getByRole('button', { name: 'Revoke Notes app' }).click();
    await page.getByRole('button', { name: 'Revoke it: Notes app' }).click();
    await row.waitFor({ state: 'detached' });
    await page.getByTestId('no-grants').waitFor();
    expect(await ping()).toBe(401);
  } finally {
    await signIn.close();
  }
}, 90_000);
