/// <reference lib="dom" />
// Client tokens on the local endpoint (issue 12: it "keeps its simple bearer, but also offers the same
// per-client tokens"): the built `mcpassistant-gateway ui` with no relay configured, in Debian's Chromium. The
// Clients view's "New client token" works there: the token is shown once with a config for the endpoint on
// 127.0.0.1, a real MCP client calls a tool with it, and Revoke ends it at once (401) while the simple bearer
// keeps working.
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';

import type { RelayServer } from '../src-relay/relay-server.js';
import { seriousViolations } from './support/axe.js';
import { launchChromium } from './support/chromium.js';
import {
  type CliProcess,
  createSandbox,
  type Sandbox,
  startCli,
  stopLeftovers,
  uiAddress,
} from './support/cli.js';
import { serverEverything } from './support/mcp-fixtures.js';
import { connectClient } from './support/relay-fixture.js';

let sandbox: Sandbox;
let cli: CliProcess;
let browser: Browser;
let url: URL;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  sandbox = await createSandbox();
  const configPath = join(sandbox.dir, 'mcp.json');
  await writeFile(configPath, `${JSON.stringify({ mcpServers: { everything: serverEverything() } })}\n`);
  cli = startCli(['ui', '--no-open', '--config', configPath], sandbox, { LOCAL_RELAY_PORT: '0' });
  url = await uiAddress(cli);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  for (const context of contexts.splice(0)) await context.close();
  await browser?.close();
  await stopLeftovers();
  await rm(sandbox.dir, { recursive: true, force: true });
});

/** A ping to the local endpoint's everything with `header`: the HTTP status. */
async function mcpStatus(endpoint: string, header: string): Promise<number> {
  const res = await fetch(endpoint, {
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

it('creates a client token for the local endpoint, serves a real MCP call with it, and revokes it (401 at once)', async () => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(url.href);
  await expect
    .poll(() => page.getByTestId('link-state').textContent(), { timeout: 20_000 })
    .toBe('Connected');
  await page.getByRole('navigation').getByRole('button', { name: 'Clients' }).click();
  await page.getByTestId('no-tokens').waitFor();
  expect(await page.locator('#tokens-title + p, .card p.muted').first().textContent()).toContain(
    'the local endpoint http://127.0.0.1:',
  );
  expect(await page.getByTestId('grants-note').textContent()).toContain(
    'local endpoint has no OAuth sign-in',
  );

  await page.getByRole('button', { name: 'New client token' }).click();
  await page.getByLabel('Name').fill('local editor');
  await page.getByRole('checkbox', { name: 'everything' }).check();
  await page.getByRole('button', { name: 'Create' }).click();
  const shown = page.getByTestId('new-token-header');
  await shown.waitFor();
  const header = (await shown.textContent())!.replace(/^Authorization: /, '').trim();
  expect(header).toMatch(/^Bearer ey/);
  const config = JSON.parse((await page.getByTestId('new-token-config').textContent())!) as {
    mcpServers: Record<string, { url: string; headers: Record<string, string> }>;
  };
  const endpoint = config.mcpServers['everything']!.url;
  expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/local\/everything\/mcp$/);
  await page.locator('tr[data-token="local editor"]').waitFor();
  expect(await seriousViolations(page), 'the token shown once').toEqual([]);

  const base = new URL(endpoint);
  const client = await connectClient(
    { url: new URL(base.origin) } as RelayServer,
    'local',
    'everything',
    header.slice(7),
  );
  const echoed = await client.callTool({ name: 'echo', arguments: { message: 'local window token' } });
  expect(JSON.stringify(echoed.content)).toContain('local window token');
  await client.close();

  await page.getByRole('button', { name: 'Revoke local editor' }).click();
  await page.getByRole('button', { name: 'Revoke it: local editor' }).click();
  await page.getByTestId('no-tokens').waitFor();
  expect(await mcpStatus(endpoint, header)).toBe(401);
}, 90_000);
