/// <reference lib="dom" />
// The window's numbers for `npm run bench`:
// - a control call's round trip over the web host: `servers:list` through the WebSocket of the built
//   `mcpassistant-gateway ui` (one server-everything), one call at a time, p50/p99;
// - the renderer's JavaScript as shipped (dist/renderer/assets/*.js), gzipped; target ≤ 100 KB for the
//   whole window (issue 9).
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

import type { Browser } from 'playwright-core';
import WebSocket from 'ws';

import type { HostMessage } from '../src-shared/control.js';
import { CONTROL_PATH, CONTROL_PROTOCOL, TOKEN_PROTOCOL_PREFIX } from '../src-shared/control-host.js';
import { type Percentiles, percentiles } from './load.js';
import { own, stopTree } from './proc.js';

export const TARGET_RENDERER_GZIP_BYTES = 100 * 1024;

export interface RendererSize {
  files: number;
  jsBytes: number;
  jsGzipBytes: number;
  cssGzipBytes: number;
}

/** Sizes of the built renderer's assets; throws when it is not built. */
export function rendererSize(root: string): RendererSize {
  const dir = join(root, 'dist', 'renderer', 'assets');
  const files = readdirSync(dir);
  const size = { files: files.length, jsBytes: 0, jsGzipBytes: 0, cssGzipBytes: 0 };
  for (const file of files) {
    const bytes = readFileSync(join(dir, file));
    const gz = gzipSync(bytes, { level: 9 }).length;
    if (file.endsWith('.js')) {
      size.jsBytes += bytes.length;
      size.jsGzipBytes += gz;
    } else if (file.endsWith('.css')) size.cssGzipBytes += gz;
  }
  return size;
}

/** `calls` round trips of `servers:list` over the web host's WebSocket, after `warmup`. */
export async function controlRoundTrip(
  root: string,
  dir: string,
  everything: string,
  { warmup = 50, calls = 500 } = {},
): Promise<Percentiles> {
  const config = join(dir, 'ui.json');
  await writeFile(
    config,
    JSON.stringify({
      mcpServers: { everything: { command: process.execPath, args: [everything, 'stdio'] } },
    }),
  );
  const { child, url } = await startUi(root, dir, config);
  try {
    const token = new URLSearchParams(url.hash.slice(1)).get('token')!;
    const ws = new WebSocket(
      `ws://${url.host}${CONTROL_PATH}`,
      [CONTROL_PROTOCOL, TOKEN_PROTOCOL_PREFIX + token],
      {
        headers: { Origin: url.origin },
      },
    );
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    let id = 0;
    const call = () =>
      new Promise<void>((resolve, reject) => {
        const mine = ++id;
        const onMessage = (data: WebSocket.RawData) => {
          const message = JSON.parse((data as Buffer).toString('utf8')) as HostMessage;
          if (message.type !== 'result' || message.id !== mine) return;
          ws.off('message', onMessage);
          if (message.result.ok) resolve();
          else reject(new Error(message.result.message));
        };
        ws.on('message', onMessage);
        ws.send(JSON.stringify({ type: 'call', id: mine, name: 'servers:list', args: {} }));
      });
    for (let i = 0; i < warmup; i++) await call();
    const samples: number[] = [];
    for (let i = 0; i < calls; i++) {
      const start = performance.now();
      await call();
      samples.push(performance.now() - start);
    }
    ws.close();
    return percentiles(samples);
  } finally {
    await stopTree(child, 10_000);
  }
}

/** Starts the built `mcpassistant-gateway ui` on `config`; resolves its child process and page address. */
async function startUi(
  root: string,
  dir: string,
  config: string,
): Promise<{ child: ChildProcess; url: URL }> {
  const child = own(
    spawn(
      process.execPath,
      [
        join(root, 'bin', 'mcpassistant-gateway.js'),
        'ui',
        '--no-open',
        '--config',
        config,
        '--local-relay-port',
        '0',
      ],
      {
        cwd: dir,
        env: {
          PATH: process.env['PATH'],
          HOME: dir,
          XDG_CONFIG_HOME: join(dir, 'xdg-config'),
          XDG_STATE_HOME: join(dir, 'xdg-state'),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    ),
  );
  try {
    const url = await new Promise<URL>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`ui printed no address in 20 s:\n${out}`)), 20_000);
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        const match = /Open (http:\S+)/.exec(out);
        if (match) {
          clearTimeout(timer);
          resolve(new URL(match[1]!));
        }
      });
      child.once('exit', (code) =>
        reject(new Error(`ui exited (${code}) before printing its address:\n${out}`)),
      );
    });
    return { child, url };
  } catch (error) {
    await stopTree(child, 10_000);
    throw error;
  }
}

/** Debian's Chromium through playwright-core (CHROMIUM_PATH overrides the path); never a downloaded browser. */
async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** Frame timings of the Logs view scrolling through 10,000 lines in Chromium. */
export interface ScrollFrames {
  lines: number;
  frames: number;
  /**
   * p95 of the interval between animation frames while scrolling, each frame's scroll rendered and laid
   * out: one display refresh (~16.7 ms at 60 Hz) means no frame was dropped.
   */
  frameP95Ms: number;
}

/**
 * Opens the real window in Debian's Chromium (playwright-core, CHROMIUM_PATH), fills the Logs view with
 * 10,000 live lines (a server that writes them to stderr), then scrolls it from top to bottom, 400 px per
 * animation frame.
 */
export async function logScrollFrames(
  root: string,
  dir: string,
  everything: string,
  lines = 10_000,
): Promise<ScrollFrames> {
  const config = join(dir, 'ui-logs.json');
  await writeFile(config, JSON.stringify({ mcpServers: {} }));
  const { child, url } = await startUi(root, dir, config);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    await page.goto(url.href);
    await page.getByRole('navigation').getByRole('button', { name: 'Logs' }).click();
    await page.getByTestId('log-scroll').waitFor();
    // server-everything after `lines` lines on stderr: they reach the page as live `logs` events, and the
    // server then runs normally (nothing restarts and floods the log while the scroll is measured).
    const chatty = join(dir, 'chatty.mjs');
    await writeFile(
      chatty,
      `for (let i = 0; i < ${lines}; i++) console.error('line ' + i + ' ' + 'x'.repeat(60));\n` +
        `await import(${JSON.stringify(pathToFileURL(everything).href)});\n`,
    );
    await writeFile(
      config,
      JSON.stringify({ mcpServers: { chatty: { command: process.execPath, args: [chatty, 'stdio'] } } }),
    );
    const deadline = Date.now() + 60_000;
    for (;;) {
      const text = (await page.getByTestId('logs-count').textContent()) ?? '';
      if (Number(/of (\d+) lines/.exec(text)?.[1]) >= lines) break;
      if (Date.now() > deadline) throw new Error(`the Logs view did not reach ${lines} lines: ${text}`);
      await page.waitForTimeout(200); // polling the page's own counter; the lines arrive as they come
    }
    const result = await page.evaluate(async () => {
      const el = document.querySelector<HTMLElement>('[data-testid="log-scroll"]')!;
      el.scrollTop = 0;
      const intervals: number[] = [];
      let last = 0;
      await new Promise<void>((resolve) => {
        const step = (frameStart: number) => {
          // The previous step's scroll has been handled and rendered by now: force its layout and time it.
          document.body.getBoundingClientRect();
          if (last) intervals.push(frameStart - last);
          last = frameStart;
          if (el.scrollTop + el.clientHeight >= el.scrollHeight - 1) return resolve();
          el.scrollTop += 400;
          requestAnimationFrame(step);
        };
        requestAnimationFrame(step);
      });
      const p95 = (values: number[]) =>
        [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.95)] ?? 0;
      return { frames: intervals.length, frameP95Ms: p95(intervals) };
    });
    return { lines, ...result };
  } finally {
    await browser.close();
    await stopTree(child, 10_000);
  }
}

/**
 * How long an edit of mcp.json on disk takes to show in the window's Servers view (issue 10: "within a second"):
 * `edits` times, a disabled entry is added to the file and the time until its row is in the page is taken, in
 * ms, from the write to the row (file watcher, reload, `servers` event, render).
 */
export async function diskEditLatency(root: string, dir: string, edits = 10): Promise<Percentiles> {
  const config = join(dir, 'ui-edits.json');
  const servers: Record<string, unknown> = {};
  await writeFile(config, JSON.stringify({ mcpServers: servers }));
  const { child, url } = await startUi(root, dir, config);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    await page.goto(url.href);
    await page.getByRole('navigation').getByRole('button', { name: 'Servers' }).click();
    await page.getByRole('button', { name: 'Add server' }).waitFor();
    const samples: number[] = [];
    for (let i = 1; i <= edits; i++) {
      servers[`edit-${i}`] = { command: process.execPath, args: ['--version'], disabled: true };
      const began = performance.now();
      await writeFile(config, JSON.stringify({ mcpServers: servers }, null, 2));
      await page.locator(`tr[data-server="edit-${i}"]`).waitFor({ timeout: 10_000 });
      samples.push(performance.now() - began);
    }
    return percentiles(samples);
  } finally {
    await browser.close();
    await stopTree(child, 10_000);
  }
}
