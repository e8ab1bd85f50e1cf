/// <reference lib="dom" />
// The window's views (issue 10) against the built `mcpassistant-gateway ui` with a real core and
// server-everything, in Debian's Chromium: the server editor, Try it, the live log, settings; an axe-core
// scan of every view; and no request to any host but the page's own.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

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

let sandbox: Sandbox;
let cli: CliProcess;
let browser: Browser;
let url: URL;
let configPath: string;
/** Every request any page made, checked after each test: none may go to another host. */
const requests: string[] = [];
const contexts: BrowserContext[] = [];

const GEMINI_SETTINGS = `{
    // my theme
    "theme": "GitHub",
    "mcpServers": {
        "other": { "command": "other-server" }
    }
}
`;

const writeConfig = (servers: Record<string, unknown>) =>
  writeFile(configPath, `${JSON.stringify({ mcpServers: servers }, null, 2)}\n`);

beforeAll(async () => {
  sandbox = await createSandbox();
  configPath = join(sandbox.dir, 'mcp.json');
  await writeConfig({ everything: serverEverything() });
  // Client configs of this (temporary) HOME: Claude Desktop's on Linux, and Gemini CLI's with a comment,
  // another setting and another server that "Add to Gemini CLI" must keep.
  await mkdir(join(sandbox.dir, 'xdg-config', 'Claude'), { recursive: true });
  await writeFile(
    join(sandbox.dir, 'xdg-config', 'Claude', 'claude_desktop_config.json'),
    JSON.stringify({ mcpServers: { everything: serverEverything(), memo: { command: 'memo-server' } } }),
  );
  await mkdir(join(sandbox.dir, '.gemini'), { recursive: true });
  await writeFile(join(sandbox.dir, '.gemini', 'settings.json'), GEMINI_SETTINGS);
  cli = startCli(['ui', '--no-open', '--config', configPath, '--local-relay-port', '0'], sandbox, {
    REQUEST_TIMEOUT_SECONDS: '45',
  });
  url = await uiAddress(cli);
  browser = await launchChromium();
}, 60_000);

afterEach(async () => {
  for (const context of contexts.splice(0)) await context.close();
  const foreign = requests.filter((r) => new URL(r).host !== url.host);
  expect(foreign, 'requests to other hosts').toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await stopLeftovers();
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
const row = (page: Page, server: string) => page.locator(`tr[data-server="${server}"]`);
const stateOf = (page: Page, server: string) => row(page, server).getByTestId('server-state').textContent();

describe('the window', () => {
  it('adds a server through the form: the resolved command line first, then it runs and its tools appear', async () => {
    const page = await openPage();
    await view(page, 'Servers');
    await expect.poll(() => stateOf(page, 'everything'), { timeout: 20_000 }).toBe('running');
    await page.getByRole('button', { name: 'Add server' }).click();
    await page.getByLabel('Name').fill('added');
    await page.getByLabel('Command').fill('no-such-program-4711');
    await expect
      .poll(() => page.getByTestId('resolved').textContent())
      .toMatch(/^Not found: "no-such-program-4711" was not found on the PATH/);
    const everything = serverEverything();
    await page.getByLabel('Command').fill('node');
    for (const [i, arg] of everything.args.entries()) {
      await page.getByRole('button', { name: 'Add argument' }).click();
      await page.getByLabel(`Arguments ${i + 1}`, { exact: true }).fill(arg);
    }
    await expect
      .poll(() => page.getByTestId('resolved').textContent())
      .toMatch(new RegExp(`^Runs: /\\S+/node ${everything.args[0]!.replaceAll('/', '\\/')} stdio$`));
    await page
      .getByRole('button', { name: 'Add environment' })
      .click()
      .catch(() => undefined);
    await page.getByRole('button', { name: 'Add variable' }).click();
    await page.getByLabel('Environment name 1', { exact: true }).fill('API_KEY');
    await page.getByLabel('Environment value 1', { exact: true }).fill('s3cret-value-123');
    await page.getByRole('checkbox', { name: 'secret' }).check();
    expect(await page.getByLabel('Environment value 1', { exact: true }).getAttribute('type')).toBe(
      'password',
    );
    await page.getByRole('button', { name: 'Add server', exact: true }).last().click();

    await expect.poll(() => stateOf(page, 'added'), { timeout: 30_000 }).toBe('running');
    expect(await row(page, 'added').getByTestId('counts').textContent()).toMatch(/^[1-9]\d* \/ \d+ \/ \d+$/);
    expect(await row(page, 'added').getByTestId('pid').textContent()).toMatch(/^\d+$/);
    const saved = JSON.parse(await readFile(configPath, 'utf8')) as {
      mcpServers: Record<string, { command: string; env: Record<string, string> }>;
    };
    expect(saved.mcpServers['added']).toMatchObject({
      command: 'node',
      env: { API_KEY: 's3cret-value-123' },
    });

    // Editing shows the secret masked: its value never comes back to the page.
    await page.getByRole('button', { name: 'Edit added' }).click();
    expect(await page.getByLabel('Environment value 1', { exact: true }).inputValue()).toBe('');
    expect(await page.locator('body').textContent()).not.toContain('s3cret-value-123');
    await page.getByLabel('Description (optional)').fill('added from the window');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => row(page, 'added').textContent()).toContain('added from the window');
    const edited = JSON.parse(await readFile(configPath, 'utf8')) as typeof saved;
    expect(edited.mcpServers['added']!.env).toEqual({ API_KEY: 's3cret-value-123' });

    await view(page, 'Tools');
    await page.getByLabel('Server').selectOption('added');
    await expect.poll(() => page.locator('li[data-tool="echo"]').count(), { timeout: 20_000 }).toBe(1);
  }, 60_000);

  it('refuses invalid input inline and leaves mcp.json byte-identical', async () => {
    const page = await openPage();
    await view(page, 'Servers');
    const before = await readFile(configPath);
    await page.getByRole('button', { name: 'Add server' }).click();
    await page.getByLabel('Name').fill('bad name!');
    await page.getByLabel('Command').fill('node');
    await page.getByRole('button', { name: 'Add server', exact: true }).last().click();
    await expect.poll(() => page.getByTestId('error-name').textContent()).toMatch(/server name may use only/);
    expect(await page.getByLabel('Name').getAttribute('aria-invalid')).toBe('true');

    await page.getByLabel('Name').fill('fine');
    await page.getByLabel('Command').fill('   ');
    await page.getByRole('button', { name: 'Add server', exact: true }).last().click();
    await expect.poll(() => page.getByTestId('error-command').textContent()).toMatch(/must not be empty/);

    await page.getByRole('radio', { name: 'HTTP server' }).check();
    await page.getByLabel('URL').fill('ftp://example.com/x');
    await page.getByRole('button', { name: 'Add server', exact: true }).last().click();
    await expect.poll(() => page.getByTestId('error-url').textContent()).toMatch(/http:\/\/ or https:\/\//);
    expect((await readFile(configPath)).equals(before)).toBe(true);
    await page.getByRole('button', { name: 'Cancel' }).click();
    expect(await row(page, 'fine').count()).toBe(0);
  }, 60_000);

  it('follows mcp.json on disk, and removes, disables and restarts a server', async () => {
    const page = await openPage();
    await view(page, 'Servers');
    const current = JSON.parse(await readFile(configPath, 'utf8')) as { mcpServers: Record<string, unknown> };
    await writeConfig({ ...current.mcpServers, ondisk: serverEverything() });
    await expect.poll(() => row(page, 'ondisk').count(), { timeout: 5_000 }).toBe(1);
    await expect.poll(() => stateOf(page, 'ondisk'), { timeout: 20_000 }).toBe('running');

    await page.getByRole('button', { name: 'Remove ondisk' }).click();
    await page.getByRole('button', { name: 'Remove it: ondisk' }).click();
    await expect.poll(() => row(page, 'ondisk').count(), { timeout: 10_000 }).toBe(0);
    expect(
      Object.keys((JSON.parse(await readFile(configPath, 'utf8')) as typeof current).mcpServers),
    ).not.toContain('ondisk');

    const pid = await row(page, 'added').getByTestId('pid').textContent();
    await page.getByRole('button', { name: 'Restart added' }).click();
    await expect
      .poll(
        async () => [await stateOf(page, 'added'), await row(page, 'added').getByTestId('pid').textContent()],
        {
          timeout: 20_000,
        },
      )
      .toEqual(['running', expect.not.stringMatching(`^${pid}$`)]);

    await page.getByRole('button', { name: 'Disable added' }).click();
    await expect.poll(() => stateOf(page, 'added'), { timeout: 10_000 }).toBe('disabled');
    await page.getByRole('button', { name: 'Enable added' }).click();
    await expect.poll(() => stateOf(page, 'added'), { timeout: 20_000 }).toBe('running');

    // The details show what runs and the server's last stderr lines.
    await page.getByRole('button', { name: 'added', exact: true }).click();
    await expect
      .poll(() => row(page, 'added').locator('xpath=following-sibling::tr[1]').textContent())
      .toContain('stdio');
  }, 60_000);

  it('"Try it" calls echo and shows the result, and shows the progress of a long-running tool', async () => {
    const page = await openPage();
    await view(page, 'Tools');
    await page.getByLabel('Server').selectOption('everything');
    await page.getByRole('button', { name: 'Try it: echo' }).click();
    await page.getByLabel('message (required)').fill('hello from the window');
    await page.getByRole('button', { name: 'Call' }).click();
    await expect
      .poll(() => page.getByTestId('call-result').textContent(), { timeout: 20_000 })
      .toContain('Echo: hello from the window');

    await page.getByRole('button', { name: 'Back to the tools' }).click();
    await page.getByRole('button', { name: 'Try it: trigger-long-running-operation' }).click();
    await page.getByLabel('Raw JSON').check();
    await page.getByLabel('Arguments (JSON)').fill('{"duration": 2, "steps": 4}');
    await page.getByRole('button', { name: 'Call' }).click();
    await expect.poll(() => page.getByTestId('progress').textContent(), { timeout: 20_000 }).toMatch(/of 4/);
    await expect
      .poll(() => page.getByTestId('call-result').textContent(), { timeout: 20_000 })
      .toMatch(/completed/i);

    await page.getByRole('button', { name: 'Back to the tools' }).click();
    await page.getByRole('button', { name: 'Try it: echo' }).click();
    await page.getByLabel('Raw JSON').check();
    await page.getByLabel('Arguments (JSON)').fill('{nonsense');
    await page.getByRole('button', { name: 'Call' }).click();
    expect(await page.getByTestId('call-error').textContent()).toMatch(/not valid JSON/);
  }, 60_000);

  it('streams the log live, filters it by server and level, and searches it', async () => {
    const page = await openPage();
    await view(page, 'Logs');
    await expect.poll(() => page.getByTestId('log-line').count(), { timeout: 10_000 }).toBeGreaterThan(3);
    const count = async () =>
      Number(/^(\d+) of/.exec((await page.getByTestId('logs-count').textContent()) ?? '')?.[1]);
    const all = await count();

    // Live: a restart writes new lines while the view is open.
    await view(page, 'Servers');
    await page.getByRole('button', { name: 'Restart everything' }).click();
    await view(page, 'Logs');
    await expect.poll(count, { timeout: 10_000 }).toBeGreaterThan(all);

    await page.getByLabel('Server').selectOption('everything');
    await expect
      .poll(async () =>
        (await page.getByTestId('log-line').allTextContents()).every((l) => l.includes('[server:everything')),
      )
      .toBe(true);
    await page.getByLabel('Search').fill('starting:');
    await expect.poll(count).toBeGreaterThanOrEqual(1);
    for (const line of await page.getByTestId('log-line').allTextContents())
      expect(line).toContain('starting:');
    await page.getByLabel('Level').selectOption('error');
    await expect.poll(count).toBe(0);
  }, 60_000);

  it('shows the environment override badge and refuses an invalid setting inline', async () => {
    const page = await openPage();
    await view(page, 'Settings');
    const timeout = page.locator('tr[data-setting="REQUEST_TIMEOUT_SECONDS"]');
    await expect
      .poll(() => timeout.getByTestId('overridden').textContent())
      .toBe('overridden by environment');
    expect(
      await page.locator('tr[data-setting="RECONNECT_MAX_DELAY_SECONDS"]').getByTestId('overridden').count(),
    ).toBe(0);

    const field = page.getByLabel('RECONNECT_MAX_DELAY_SECONDS', { exact: true });
    await field.fill('soon');
    await page.getByRole('button', { name: 'Save RECONNECT_MAX_DELAY_SECONDS' }).click();
    const alert = page.locator('tr[data-setting="RECONNECT_MAX_DELAY_SECONDS"] [role="alert"]');
    await expect.poll(() => alert.textContent()).toMatch(/RECONNECT_MAX_DELAY_SECONDS/);
    expect(await field.getAttribute('aria-invalid')).toBe('true');

    await field.fill('90');
    await page.getByRole('button', { name: 'Save RECONNECT_MAX_DELAY_SECONDS' }).click();
    await expect.poll(() => alert.count()).toBe(0);
    await expect.poll(() => page.getByRole('status').last().textContent()).toMatch(/Saved/);
  }, 60_000);

  it('lists a call that an SDK client made through the endpoint in the activity view', async () => {
    const page = await openPage();
    // The endpoint and the full header, as a user copies them from the status view.
    const copyUrl = page.getByRole('button', { name: 'Copy the endpoint URL of everything' });
    await copyUrl.waitFor({ timeout: 20_000 });
    await copyUrl.click();
    await expect.poll(() => page.evaluate(() => navigator.clipboard.readText())).toMatch(/^http/);
    const endpoint = await page.evaluate(() => navigator.clipboard.readText());
    await page.getByRole('button', { name: 'Copy header' }).click();
    await expect
      .poll(() => page.evaluate(() => navigator.clipboard.readText()))
      .toMatch(/^Authorization: Bearer /);
    const [name, value] = (await page.evaluate(() => navigator.clipboard.readText())).split(': ') as [
      string,
      string,
    ];
    await view(page, 'Activity');
    const client = new Client({ name: 'activity-test', version: '1' });
    const transport = new StreamableHTTPClientTransport(new URL(endpoint), {
      requestInit: { headers: { [name]: value } },
    });
    await client.connect(transport);
    await client.callTool({ name: 'echo', arguments: { message: 'the arguments stay private' } });
    // The client session is shown by a label (a hash), never by its Mcp-Session-Id.
    const label = createHash('sha256').update(transport.sessionId!).digest('hex').slice(0, 8);
    await client.close();
    const echo = page.getByTestId('call').filter({ hasText: 'echo' });
    await expect.poll(() => echo.count(), { timeout: 10_000 }).toBe(1);
    expect(await echo.textContent()).toMatch(/everything[0-9a-f]{8}tools\/call echo\d+ msok/);
    expect(await echo.getByTestId('call-session').textContent()).toBe(label);
    expect(await page.locator('body').textContent()).not.toContain(transport.sessionId!);
    expect(await page.locator('body').textContent()).not.toContain('the arguments stay private');
  }, 60_000);

  it('imports a detected Claude Desktop config and a pasted VS Code config, conflicts marked, nonsense refused', async () => {
    const page = await openPage();
    await view(page, 'Import');
    await page.getByRole('button', { name: 'Preview Claude Desktop' }).click();
    const everything = page.locator('tr[data-import="everything"]');
    expect(await everything.getByTestId('conflict').textContent()).toContain('"everything" exists');
    expect(await page.getByLabel('Name for everything').inputValue()).toBe('everything-imported');
    expect(await page.locator('tr[data-import="memo"]').getByTestId('conflict').count()).toBe(0);
    await page.getByLabel('Import memo').uncheck();
    await page.getByRole('button', { name: 'Import selected' }).click();
    await expect
      .poll(() => page.getByRole('status').last().textContent())
      .toBe('Imported everything-imported.');
    const saved = JSON.parse(await readFile(configPath, 'utf8')) as { mcpServers: Record<string, unknown> };
    expect(saved.mcpServers['everything-imported']).toEqual(serverEverything());
    expect(saved.mcpServers['everything']).toEqual(serverEverything());

    const before = await readFile(configPath);
    await page.getByLabel(/^Paste JSON/).fill(
      JSON.stringify({
        servers: {
          everything: { type: 'stdio', ...serverEverything() },
          remote: { type: 'http', url: 'https://mcp.example.com/mcp' },
        },
      }),
    );
    await page.getByRole('button', { name: 'Preview', exact: true }).click();
    await expect
      .poll(() => page.locator('tr[data-import="everything"]').getByTestId('conflict').count())
      .toBe(1);
    expect(await page.locator('tr[data-import="remote"]').textContent()).toContain(
      'https://mcp.example.com/mcp',
    );
    expect(await page.locator('tr[data-import="remote"]').getByTestId('conflict').count()).toBe(0);

    await page.getByLabel(/^Paste JSON/).fill('hello {');
    await page.getByRole('button', { name: 'Preview', exact: true }).click();
    await expect.poll(() => page.getByTestId('import-error').textContent()).toMatch(/is not JSON/);
    await page.getByLabel(/^Paste JSON/).fill('{"colour": "blue"}');
    await page.getByRole('button', { name: 'Preview', exact: true }).click();
    await expect
      .poll(() => page.getByTestId('import-error').textContent())
      .toMatch(/has no servers: expected "mcpServers"/);
    expect((await readFile(configPath)).equals(before)).toBe(true);
  }, 60_000);

  it('"Add to Gemini CLI" writes ~/.gemini/settings.json with a backup, keeping its other entries', async () => {
    const page = await openPage();
    await expect
      .poll(() => page.getByTestId('link-state').textContent(), { timeout: 20_000 })
      .toBe('Connected');
    // Only clients whose config exists on this computer are offered "Add to" (this HOME has no Cursor).
    await page.getByLabel('Client', { exact: true }).selectOption('cursor');
    await page.getByTestId('client-not-found').waitFor();
    expect(await page.getByRole('button', { name: 'Add to Cursor' }).count()).toBe(0);
    await page.getByLabel('Client', { exact: true }).selectOption('gemini-cli');
    await page.getByLabel('Server', { exact: true }).selectOption('everything');
    expect(await page.getByTestId('snippet').textContent()).toContain('"httpUrl"');
    await page.getByRole('button', { name: 'Add to Gemini CLI' }).click();
    await expect
      .poll(() => page.getByRole('status').last().textContent())
      .toMatch(/^Added everything to .*settings\.json \(backup: .*settings\.json\.bak\)/);
    const path = join(sandbox.dir, '.gemini', 'settings.json');
    const text = await readFile(path, 'utf8');
    expect(await readFile(`${path}.bak`, 'utf8')).toBe(GEMINI_SETTINGS);
    expect(text).toContain('// my theme');
    expect(text).toContain('"theme": "GitHub"');
    expect(text).toMatch(/\n {4}"mcpServers": \{\n {8}"other": \{\s*"command": "other-server"\s*\},/);
    const endpoint = await page.locator('tr[data-server="everything"]').getByTestId('endpoint').textContent();
    expect(text).toContain(`"httpUrl": "${endpoint}"`);
    expect(text).toMatch(/"Authorization": "Bearer [^«"]+"/);

    // Again under the same name: refused, the file unchanged.
    await page.getByRole('button', { name: 'Add to Gemini CLI' }).click();
    await expect
      .poll(() => page.getByRole('status').last().textContent())
      .toMatch(/already has a server named "everything"/);
    expect(await readFile(path, 'utf8')).toBe(text);
  }, 60_000);

  it('passes an axe-core scan on every view and takes their screenshots, light and dark', async () => {
    const out = process.env['UPDATE_SCREENSHOTS'] ? join(ROOT, 'docs') : join(sandbox.dir, 'screenshots');
    await mkdir(out, { recursive: true });
    for (const colorScheme of ['light', 'dark'] as const) {
      const page = await openPage(colorScheme);
      for (const name of [
        'Status',
        'Servers',
        'Tools',
        'Clients',
        'Logs',
        'Activity',
        'Import',
        'Settings',
      ]) {
        await view(page, name);
        if (name === 'Status')
          await expect
            .poll(() => page.getByTestId('link-state').textContent(), { timeout: 20_000 })
            .toBe('Connected');
        if (name === 'Tools') await page.locator('li[data-tool="echo"]').waitFor({ timeout: 20_000 });
        if (name === 'Logs') await page.getByTestId('log-line').first().waitFor();
        if (name === 'Settings') await page.locator('tr[data-setting]').first().waitFor();
        // The local endpoint has no relay: the view says where client tokens come from.
        if (name === 'Clients') await page.getByTestId('grants-note').waitFor();
        expect(await seriousViolations(page), `${name} (${colorScheme})`).toEqual([]);
        await page.screenshot({
          path: join(out, `window-${name.toLowerCase()}-${colorScheme}.png`),
          fullPage: true,
        });
      }
    }
  }, 90_000);
});
