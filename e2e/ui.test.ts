/// <reference lib="dom" />
// `mcpassistant-gateway ui` as a user runs it: the built CLI in a child process with a real
// server-everything, its window in a real Chromium (Debian's, through playwright-core).
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { join } from 'node:path';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { CONTROL_PROTOCOL } from '../src-shared/control-host.js';
import { launchChromium } from './support/chromium.js';
import {
  type CliProcess,
  createSandbox,
  descendants,
  ROOT,
  runCli,
  type Sandbox,
  startCli,
  stopLeftovers,
  uiAddress,
} from './support/cli.js';
import { serverEverything } from './support/mcp-fixtures.js';
import { isAlive } from './support/wait.js';

let sandbox: Sandbox;
let cli: CliProcess;
let browser: Browser;
let url: URL;
let configPath: string;

const writeConfig = (servers: Record<string, unknown>) =>
  writeFile(configPath, `${JSON.stringify({ mcpServers: servers }, null, 2)}\n`);

beforeAll(async () => {
  sandbox = await createSandbox();
  configPath = join(sandbox.dir, 'mcp.json');
  await writeConfig({ everything: serverEverything() });
  cli = startCli(['ui', '--no-open', '--config', configPath, '--local-relay-port', '0'], sandbox);
  url = await uiAddress(cli);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await stopLeftovers();
  await rm(sandbox.dir, { recursive: true, force: true });
});

async function openPage(
  options: { colorScheme?: 'light' | 'dark' } = {},
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    colorScheme: options.colorScheme ?? 'light',
    viewport: { width: 960, height: 560 },
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url.origin });
  const page = await context.newPage();
  await page.goto(url.href);
  return { context, page };
}

const row = (page: Page, server: string) => page.locator(`tr[data-server="${server}"]`);

/** Waits until the page shows the link connected and server-everything running. */
async function connectedAndRunning(page: Page): Promise<void> {
  await expect
    .poll(() => page.getByTestId('link-state').textContent(), { timeout: 20_000 })
    .toBe('Connected');
  await expect
    .poll(() => row(page, 'everything').getByTestId('server-state').textContent(), { timeout: 20_000 })
    .toBe('running');
}

describe('mcpassistant-gateway ui', () => {
  it('shows the live state of the gateway: servers and the link change on the page without a reload', async () => {
    const { context, page } = await openPage();
    try {
      await connectedAndRunning(page);
      expect(await page.getByTestId('subject').textContent()).toBe('local');
      expect(await page.getByTestId('header').textContent()).toMatch(/^Authorization: Bearer .{6}…«hidden»$/);
      // The token left the address bar once the page had it.
      expect(page.url()).toBe(`${url.origin}/`);
      await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));

      // An edit of mcp.json on disk: a new server appears, then runs.
      await writeConfig({ everything: serverEverything(), second: serverEverything() });
      await expect
        .poll(() => row(page, 'second').getByTestId('server-state').textContent(), { timeout: 20_000 })
        .toBe('running');
      await expect
        .poll(() => row(page, 'second').getByTestId('endpoint').textContent(), { timeout: 20_000 })
        .toMatch(/\/local\/second\/mcp$/);

      // Disconnect and connect from the page: the link follows, the servers keep running.
      const pids = descendants(cli.child.pid!);
      await page.getByRole('button', { name: 'Disconnect' }).click();
      await expect.poll(() => page.getByTestId('link-state').textContent()).toBe('Disconnected');
      expect(await row(page, 'everything').getByTestId('server-state').textContent()).toBe('running');
      await page.getByRole('button', { name: 'Connect' }).click();
      await expect
        .poll(() => page.getByTestId('link-state').textContent(), { timeout: 20_000 })
        .toBe('Connected');
      for (const pid of pids) expect(isAlive(pid)).toBe(true);

      await writeConfig({ everything: serverEverything() });
      await expect.poll(() => row(page, 'second').count(), { timeout: 20_000 }).toBe(0);
      expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
    } finally {
      await context.close();
    }
  });

  it('copies an endpoint URL and the header that an SDK client then uses to list the tools', async () => {
    const { context, page } = await openPage();
    try {
      const copyUrl = page.getByRole('button', { name: 'Copy the endpoint URL of everything' });
      await copyUrl.waitFor({ timeout: 20_000 });
      await copyUrl.click();
      await expect.poll(() => page.getByRole('status').last().textContent()).toContain('Copied');
      const endpoint = await page.evaluate(() => navigator.clipboard.readText());
      await page.getByRole('button', { name: 'Copy header' }).click();
      await expect
        .poll(() => page.evaluate(() => navigator.clipboard.readText()))
        .toMatch(/^Authorization: Bearer /);
      const header = await page.evaluate(() => navigator.clipboard.readText());
      // The full token reached the clipboard, never the page's text.
      expect(await page.locator('body').textContent()).not.toContain(header.slice('Authorization: '.length));

      const [name, value] = header.split(': ') as [string, string];
      const client = new Client({ name: 'ui-test', version: '1' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(endpoint), { requestInit: { headers: { [name]: value } } }),
      );
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('echo');
      await client.close();
    } finally {
      await context.close();
    }
  });

  it('serves the page with a strict CSP that blocks an injected inline script', async () => {
    const response = await fetch(url.origin);
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain(`connect-src ws://127.0.0.1:${url.port} ws://localhost:${url.port}`);
    const { context, page } = await openPage();
    try {
      const violations: string[] = [];
      await page.exposeFunction('reportViolation', (directive: string) => violations.push(directive));
      const ran = await page.evaluate(async () => {
        document.addEventListener(
          'securitypolicyviolation',
          (e) =>
            void (window as unknown as { reportViolation(d: string): void }).reportViolation(
              e.effectiveDirective,
            ),
        );
        const script = document.createElement('script');
        script.textContent = 'window.injected = true';
        document.body.append(script);
        const div = document.createElement('div');
        div.innerHTML = '<img src="x" onerror="window.injected = true">';
        document.body.append(div);
        await new Promise((resolve) => setTimeout(resolve, 200)); // the image's error event, if any, fires by then
        return (window as unknown as { injected?: boolean }).injected ?? false;
      });
      expect(ran).toBe(false);
      await expect.poll(() => violations).toContain('script-src-elem');
    } finally {
      await context.close();
    }
  });

  it('refuses a control connection without the token, with a wrong token, from a foreign Origin or Host', async () => {
    const token = new URLSearchParams(url.hash.slice(1)).get('token')!;
    const ws = `ws://127.0.0.1:${url.port}/control`;
    const attempt = (protocols: string[], headers: Record<string, string>) =>
      new Promise<number>((resolve) => {
        const socket = new WebSocket(ws, protocols, { headers });
        socket.on('open', () => {
          socket.close();
          resolve(101);
        });
        socket.on('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          socket.terminate();
        });
        socket.on('error', () => resolve(-1));
      });
    const origin = { Origin: url.origin };
    expect(await attempt([CONTROL_PROTOCOL], origin)).toBe(401);
    expect(await attempt([CONTROL_PROTOCOL, `token.${'x'.repeat(token.length)}`], origin)).toBe(401);
    expect(await attempt([CONTROL_PROTOCOL, `token.${token}`], { Origin: 'https://evil.example' })).toBe(403);
    expect(await attempt([CONTROL_PROTOCOL, `token.${token}`], {})).toBe(403);
    expect(
      await attempt([CONTROL_PROTOCOL, `token.${token}`], { ...origin, Host: `evil.example:${url.port}` }),
    ).toBe(421);
    expect(await attempt([CONTROL_PROTOCOL, `token.${token}`], origin)).toBe(101);

    // Plain HTTP: a rebinding Host, other methods, and paths outside the page's own files are refused too.
    const get = (path: string, init: RequestInit = {}) => fetch(new URL(path, url.origin), init);
    const { request } = await import('node:http');
    const rebound = await new Promise<number>((resolve, reject) => {
      request(
        { host: '127.0.0.1', port: url.port, path: '/', headers: { Host: `evil.example:${url.port}` } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      )
        .on('error', reject)
        .end();
    });
    expect(rebound).toBe(421);
    expect((await get('/', { method: 'POST' })).status).toBe(405);
    expect((await get('/..%2f..%2fpackage.json')).status).toBe(404);
    expect((await get('/assets/../../package.json')).status).toBe(404);
    expect((await get('/mcp.json')).status).toBe(404);
    expect((await get('/')).status).toBe(200);
  });

  it('takes the status view screenshots (light and dark) for the README', async () => {
    const out = process.env['UPDATE_SCREENSHOTS'] ? join(ROOT, 'docs') : join(sandbox.dir, 'screenshots');
    await mkdir(out, { recursive: true });
    for (const colorScheme of ['light', 'dark'] as const) {
      const { context, page } = await openPage({ colorScheme });
      try {
        await connectedAndRunning(page);
        const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
        expect(background).toBe(colorScheme === 'dark' ? 'rgb(21, 24, 30)' : 'rgb(246, 247, 249)');
        const path = join(out, `status-view-${colorScheme}.png`);
        await page.screenshot({ path, fullPage: true });
        expect((await readFile(path)).subarray(1, 4).toString()).toBe('PNG');
      } finally {
        await context.close();
      }
    }
  });

  it('stops on SIGTERM and leaves no child process behind', async () => {
    const children = descendants(cli.child.pid!);
    expect(children.length).toBeGreaterThanOrEqual(1);
    cli.child.kill('SIGTERM');
    const result = await cli.exited;
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Stopped.');
    for (const pid of children) expect(isAlive(pid), `child ${pid}`).toBe(false);
  });
});

describe('mcpassistant-gateway ui, refused', () => {
  it('says which port is busy and how to choose another, and exits 2 before starting anything', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as AddressInfo).port;
    const other = await createSandbox();
    try {
      const config = join(other.dir, 'mcp.json');
      await writeFile(config, `${JSON.stringify({ mcpServers: { everything: serverEverything() } })}\n`);
      const result = await runCli(['ui', '--no-open', '--port', String(port), '--config', config], other);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`port ${port} on 127.0.0.1 is in use: choose another with --port`);
      expect(result.stdout).not.toContain('Open http');
    } finally {
      busy.close();
      await rm(other.dir, { recursive: true, force: true });
    }
  });
});
