// The server manager against real servers: server-everything and server-filesystem as child processes,
// SDK servers over Streamable HTTP and legacy SSE on 127.0.0.1.
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { descendants } from '../../../e2e/support/cli.js';
import {
  type HttpFixture,
  modernServer,
  serverEverything,
  serverFilesystem,
  startSseServer,
  startStreamableHttpServer,
} from '../../../e2e/support/mcp-fixtures.js';
import { isAlive, until, waitForStatus } from '../../../e2e/support/wait.js';
import { parseMcpConfig } from '../config/mcp-config.js';
import { LogHub } from '../logging/log-hub.js';
import type { ServerState } from './managed-server.js';
import { ServerManager } from './server-manager.js';

const running = (s: { state: ServerState }) => s.state === 'running';
const textOf = (result: unknown) =>
  (result as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : '')).join('');

let dir: string;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpgw-servers-'));
  return () => rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function createManager(options: { autoStart?: boolean; startTimeoutMs?: number } = {}) {
  const logs = new LogHub({ level: 'debug' });
  const manager = new ServerManager({
    log: logs.logger('server'),
    redactor: logs.redactor,
    clientInfo: { name: 'test', version: '0' },
    backoff: { initialMs: 50, maxMs: 400, stableMs: 60_000 },
    autoStart: options.autoStart,
    startTimeoutMs: options.startTimeoutMs,
  });
  cleanups.push(() => manager.close());
  return { manager, logs };
}

const config = (servers: Record<string, unknown>) =>
  parseMcpConfig(JSON.stringify({ mcpServers: servers }), join(dir, 'mcp.json'));

describe('ServerManager with real servers', () => {
  it("learns each server's era once: kept across a restart, learned again when its entry changes", async () => {
    const starts = join(dir, 'modern-starts');
    const startCount = () => readFileSync(starts, 'utf8').trim().split('\n').length;
    const { manager } = createManager();
    const servers = { modern: modernServer(starts), everything: serverEverything() };
    await manager.apply(config(servers));
    await waitForStatus(manager, 'modern', running);
    await waitForStatus(manager, 'everything', running);
    expect([manager.get('modern')?.status.era, manager.get('everything')?.status.era]).toEqual([
      'modern',
      'legacy',
    ]);
    // initialize first (refused by this 2026-only server), then the stdio probe on a sibling process, then the
    // server itself.
    expect(startCount()).toBe(3);
    const client = manager.client('modern')!;
    expect(client.getProtocolEra()).toBe('modern');
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'x' } }))).toBe('modern: x');

    process.kill(manager.get('modern')!.processId!, 'SIGKILL');
    await waitForStatus(manager, 'modern', (s) => s.restarts === 1 && running(s));
    expect(manager.get('modern')?.status.era).toBe('modern');
    expect(startCount()).toBe(4); // the learned era: no initialize attempt, no probe

    const changed = { ...servers.modern, env: { MODERN_SERVER_STARTS: starts, OTHER: '1' } };
    await manager.apply(config({ ...servers, modern: changed }));
    await waitForStatus(manager, 'modern', (s) => running(s) && s.era === 'modern');
    expect(startCount()).toBe(7); // learned again: initialize, a probe sibling, then the server
  });

  it('says a server that never answers initialize did not, within how long, with its last output', async () => {
    const { manager } = createManager({ startTimeoutMs: 500 });
    const silent = [
      '-e',
      'console.error("warming up"); console.error("still warming up"); process.stdin.resume();',
    ];
    await manager.apply(config({ silent: { command: process.execPath, args: silent } }));
    const failed = await waitForStatus(manager, 'silent', (s) => s.state === 'error');
    expect(failed.lastError).toBe(
      'did not answer initialize within 0.5 s. Its last output: warming up | still warming up',
    );
  });

  it('pids() includes a server still starting, so the last-resort kill on exit reaches it', async () => {
    const { manager } = createManager();
    const silent = ['-e', 'console.error("up"); process.stdin.resume();'];
    await manager.apply(config({ silent: { command: process.execPath, args: silent } }));
    await until(() => manager.pids().length === 1, 10_000, 'the child to be spawned');
    const [pid] = manager.pids();
    expect(manager.get('silent')?.status.state).toBe('starting');
    expect(isAlive(pid!)).toBe(true);
    await manager.close();
    expect(manager.pids()).toEqual([]);
    await until(() => !isAlive(pid!), 5_000, 'the child to end');
    // That child was the era probe's sibling (this server is silent to the probe): stopping during the probe
    // must not let the SDK go on to spawn the server itself (close() waited for the start to settle).
    const silentOnes = descendants(process.pid).filter((child) => {
      try {
        return readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('process.stdin.resume');
      } catch {
        return false; // ignore: it ended while we looked
      }
    });
    expect(silentOnes.filter(isAlive)).toEqual([]);
  });

  it('stop() ends a start that would never settle (an SSE server that never sends its endpoint)', async () => {
    const stuck = createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.flushHeaders();
    });
    await new Promise<void>((resolve) => stuck.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      stuck.closeAllConnections();
      await new Promise((resolve) => stuck.close(resolve));
    });
    const { manager } = createManager();
    const url = `http://127.0.0.1:${(stuck.address() as AddressInfo).port}/sse`;
    await manager.apply(config({ stuck: { url, type: 'sse' } }));
    await waitForStatus(manager, 'stuck', (s) => s.state === 'starting' && s.transport === 'sse');
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      manager.close().then(() => 'closed'),
      new Promise((resolve) => (timer = setTimeout(() => resolve('still waiting after 5 s'), 5000))),
    ]);
    clearTimeout(timer);
    expect(outcome).toBe('closed');
    expect(manager.get('stuck')?.status.state).toBe('stopped');
  });

  it('lists tools, calls a tool and reads a resource on server-everything and server-filesystem', async () => {
    await writeFile(join(dir, 'hello.txt'), 'hello from disk');
    const { manager } = createManager();
    await manager.apply(config({ everything: serverEverything(), files: serverFilesystem(dir) }));

    const everything = await waitForStatus(
      manager,
      'everything',
      (s) => running(s) && s.counts !== undefined,
    );
    expect(everything.serverInfo?.name).toContain('everything');
    expect(everything.pid).toBeGreaterThan(0);
    expect(everything.transport).toBe('stdio');
    expect(everything.counts?.tools).toBeGreaterThan(0);
    expect(everything.counts?.resources).toBeGreaterThan(0);

    const client = manager.client('everything')!;
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('echo');
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'hi there' } }))).toContain(
      'hi there',
    );
    const { resources } = await client.listResources();
    const first = resources[0]!;
    const read = await client.readResource({ uri: first.uri });
    expect(read.contents[0]?.uri).toBe(first.uri);

    await waitForStatus(manager, 'files', running);
    const files = manager.client('files')!;
    expect((await files.listTools()).tools.map((t) => t.name)).toContain('read_text_file');
    const content = await files.callTool({
      name: 'read_text_file',
      arguments: { path: join(dir, 'hello.txt') },
    });
    expect(textOf(content)).toBe('hello from disk');
  });

  it('restarts a server whose child was killed, and calls succeed again', async () => {
    const { manager } = createManager();
    await manager.apply(config({ everything: serverEverything() }));
    const before = await waitForStatus(manager, 'everything', running);
    const states: ServerState[] = [];
    manager.on('status', (s) => states.push(s.state));

    process.kill(before.pid!, 'SIGKILL');
    const restarting = await waitForStatus(manager, 'everything', (s) => s.state === 'restarting');
    expect(restarting.lastError).toMatch(/exited unexpectedly/);
    const after = await waitForStatus(manager, 'everything', running);

    expect(states.indexOf('restarting')).toBeLessThan(states.lastIndexOf('running'));
    expect(after.pid).not.toBe(before.pid);
    expect(after.restarts).toBe(1);
    expect(isAlive(before.pid!)).toBe(false);
    const result = await manager
      .client('everything')!
      .callTool({ name: 'echo', arguments: { message: 'again' } });
    expect(textOf(result)).toContain('again');
  });

  it('reports a missing command by name while the other servers run', async () => {
    const { manager } = createManager();
    await manager.apply(
      config({
        missing: { command: 'no-such-mcp-server-xyz', args: ['--x'] },
        everything: serverEverything(),
      }),
    );
    const failed = await waitForStatus(manager, 'missing', (s) => s.state === 'error');
    expect(failed.lastError).toContain('"no-such-mcp-server-xyz" was not found');
    expect(failed.lastError).toContain('mcpServers.missing.command');
    await waitForStatus(manager, 'everything', running);
    // It keeps retrying with backoff, and keeps failing the same way.
    const retried = await waitForStatus(manager, 'missing', (s) => s.state === 'error' && s.restarts >= 2);
    expect(retried.nextRetryAt).toBeGreaterThan(Date.now() - 1000);
  });

  it('reports an invalid entry and a server that exits at once, with its last output', async () => {
    const { manager } = createManager();
    await manager.apply(
      config({
        bad: { command: 'node', args: 'not-a-list' },
        dies: {
          command: process.execPath,
          args: ['-e', 'console.error("boom: missing API key"); process.exit(3)'],
        },
      }),
    );
    const bad = await waitForStatus(manager, 'bad', (s) => s.state === 'error');
    expect(bad.lastError).toMatch(/mcpServers\.bad\.args: expected an array \(got a string\)/);
    const dies = await waitForStatus(
      manager,
      'dies',
      (s) => s.state === 'error' && /boom/.test(s.lastError ?? ''),
    );
    expect(dies.lastError).toContain('failed to start');
  });

  it('connects over Streamable HTTP, and falls back to legacy SSE for an old server', async () => {
    const fixtures: HttpFixture[] = [await startStreamableHttpServer(), await startSseServer()];
    for (const f of fixtures) cleanups.push(() => f.close());
    const [streamable, sse] = fixtures as [HttpFixture, HttpFixture];
    const { manager } = createManager();
    await manager.apply(config({ modern: { url: streamable.url }, legacy: { url: sse.url } }));

    expect((await waitForStatus(manager, 'modern', running)).transport).toBe('streamable-http');
    expect((await waitForStatus(manager, 'legacy', running)).transport).toBe('sse');
    for (const [name, prefix] of [
      ['modern', 'streamable'],
      ['legacy', 'sse'],
    ] as const) {
      const result = await manager
        .client(name)!
        .callTool({ name: 'echo', arguments: { message: 'over http' } });
      expect(textOf(result)).toBe(`${prefix}: over http`);
    }
  });

  it('applies a changed config: only changed servers restart, removed ones stop, new ones start', async () => {
    const { manager } = createManager();
    const everything = serverEverything();
    await manager.apply(config({ keep: everything, change: everything, remove: everything }));
    const pid = async (name: string) => (await waitForStatus(manager, name, running)).pid!;
    const [keep, change, remove] = [await pid('keep'), await pid('change'), await pid('remove')];

    await manager.apply(
      config({
        keep: { ...everything, description: 'only the description changed' },
        change: { ...everything, env: { SOMETHING: 'new' } },
        add: everything,
      }),
    );
    expect(manager.get('remove')).toBeUndefined();
    expect(isAlive(remove)).toBe(false);
    expect(await pid('keep')).toBe(keep);
    expect(manager.get('keep')!.status.description).toBe('only the description changed');
    expect(isAlive(change)).toBe(false);
    expect(await pid('change')).not.toBe(change);
    expect(await pid('add')).toBeGreaterThan(0);
  });

  it('stops every child on close, and starts none with autoStart false', async () => {
    const { manager } = createManager();
    await manager.apply(config({ a: serverEverything(), b: serverEverything() }));
    const pids = [
      (await waitForStatus(manager, 'a', running)).pid!,
      (await waitForStatus(manager, 'b', running)).pid!,
    ];
    await manager.close();
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    expect(manager.list().every((s) => s.state === 'stopped')).toBe(true);

    const { manager: idle } = createManager({ autoStart: false });
    await idle.apply(config({ a: serverEverything() }));
    expect(idle.list()).toEqual([expect.objectContaining({ name: 'a', state: 'stopped' })]);
    expect(idle.pids()).toEqual([]);
  });

  it('ends the whole process tree of a server started through a wrapper, even a child that ignores SIGTERM', async () => {
    const { manager } = createManager();
    const { command, args } = serverEverything();
    const stubborn = `${JSON.stringify(process.execPath)} -e "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"`;
    const wrapper = `${stubborn} & exec ${[command, ...args].map((a) => JSON.stringify(a)).join(' ')}`;
    await manager.apply(config({ wrapped: { command: 'sh', args: ['-c', wrapper] } }));
    const { pid } = await waitForStatus(manager, 'wrapped', running);
    const tree = [pid!, ...descendants(pid!)];
    expect(tree.length).toBeGreaterThanOrEqual(2);
    await manager.close();
    // SIGKILL is delivered asynchronously: give the kernel a moment to end each process.
    for (const member of tree) await until(() => !isAlive(member), 2000, `process ${member} to end`);
  });

  it('leaves no child when stopped at once, while the command is still being resolved', async () => {
    const { manager } = createManager();
    const { command, args } = serverEverything();
    // A unique argument marks this test's child among all processes.
    const marker = `--marker-${process.pid}-${Date.now()}`;
    await manager.apply(config({ quick: { command, args: [...args, marker] } }));
    // close() waits for the launch under way, so a child spawned by it would exist by now.
    await manager.close();
    const leftover = readdirSync('/proc').filter((pid) => {
      try {
        return /^\d+$/.test(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
      } catch {
        return false;
      }
    });
    expect(leftover).toEqual([]);
  });

  it('never logs the secret env values of a server, even when the server prints them', async () => {
    const { manager, logs } = createManager();
    const secret = 'sk-live-0123456789abcdef';
    await manager.apply(
      config({
        leaky: {
          command: process.execPath,
          args: ['-e', 'console.error("my key is " + process.env.SERVICE_API_KEY); process.exit(1)'],
          env: { SERVICE_API_KEY: secret },
        },
      }),
    );
    await waitForStatus(
      manager,
      'leaky',
      (s) => s.state === 'error' && (s.lastError ?? '').includes('my key is'),
    );
    const text = logs
      .recent()
      .map((e) => e.message)
      .join('\n');
    expect(text).toContain('my key is «redacted»');
    expect(text).not.toContain(secret);
    expect(JSON.stringify(manager.list())).not.toContain(secret);
  });
});
