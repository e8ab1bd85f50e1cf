// The MCP Inspector's CLI (the devDependency, run with this Node, never through npx) lists and calls tools
// through the relay, as a third-party client would. It cannot send headers, so the relay lets MCP clients in
// without a bearer here (allowUnauthMcp, the existing remote's default). A preloaded guard records what the
// Inspector's processes do, so that we know it opened no port, started no browser and reached nothing
// beyond 127.0.0.1.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

import type { CallToolResult, ListToolsResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RelayServer } from '../src-relay/relay-server.js';
import { CLI, createSandbox, descendants, startCli, stopLeftovers } from './support/cli.js';
import { serverEverything } from './support/mcp-fixtures.js';
import { type AgentFixture, linkState, startAgent, startRelay } from './support/relay-fixture.js';
import { isAlive, until, waitForStatus } from './support/wait.js';

const require = createRequire(import.meta.url);
const INSPECTOR_CLI = join(
  dirname(require.resolve('@modelcontextprotocol/inspector-cli/package.json')),
  'build',
  'cli.js',
);

// Loaded into every Node process the Inspector starts (NODE_OPTIONS is inherited): a listening socket is
// refused, and listens, outbound connections and child processes are written to GUARD_LOG, one JSON a line.
const GUARD = `
import { appendFileSync } from 'node:fs';
import childProcess from 'node:child_process';
import net from 'node:net';
const log = (entry) => appendFileSync(process.env.GUARD_LOG, JSON.stringify({ pid: process.pid, ...entry }) + '\\n');
log({ kind: 'start', argv: process.argv.slice(1) });
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  log({ kind: 'listen', args: args.filter((a) => typeof a !== 'function') });
  throw new Error('the inspector guard refuses to open a listening socket');
};
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  const options = Array.isArray(args[0]) ? args[0][0] : args[0];
  const target = typeof options === 'object' && options !== null
    ? { host: options.host, port: options.port, path: options.path }
    : { port: args[0], host: typeof args[1] === 'string' ? args[1] : undefined };
  log({ kind: 'connect', ...target });
  return connect.apply(this, args);
};
const spawnInternal = childProcess.ChildProcess.prototype.spawn;
childProcess.ChildProcess.prototype.spawn = function (options) {
  log({ kind: 'spawn', file: options.file, args: options.args });
  return spawnInternal.call(this, options);
};
void listen;
`;

interface GuardEntry {
  pid: number;
  kind: 'start' | 'listen' | 'connect' | 'spawn';
  argv?: string[];
  host?: string;
  port?: number | string;
  path?: string;
  file?: string;
  args?: string[];
}

interface Inspected {
  code: number | null;
  stdout: string;
  stderr: string;
  guard: GuardEntry[];
}

let relay: RelayServer;
let agent: AgentFixture;
let dir: string;
let runs = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpgw-inspector-'));
  await writeFile(join(dir, 'guard.mjs'), GUARD);
  relay = await startRelay({ allowUnauthMcp: true });
  agent = await startAgent(relay, { servers: { everything: serverEverything() } });
  await linkState(agent.gateway, 'connected');
  await waitForStatus(agent.gateway.servers, 'everything', (s) => s.state === 'running');
});
afterAll(async () => {
  await agent?.close();
  await relay?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs `mcp-inspector --cli <url> …args` to its end, with the guard preloaded; kills its tree on timeout. */
async function inspect(url: string, args: string[], timeoutMs = 20_000): Promise<Inspected> {
  const guardLog = join(dir, `guard-${++runs}.jsonl`);
  const child = spawn(process.execPath, [INSPECTOR_CLI, '--cli', url, ...args], {
    cwd: dir,
    env: {
      // The Inspector starts its CLI as `node …` from the PATH: make that this Node.
      PATH: `${dirname(process.execPath)}:${process.env['PATH'] ?? ''}`,
      HOME: dir,
      NODE_OPTIONS: `--import=${pathToFileURL(join(dir, 'guard.mjs')).href}`,
      GUARD_LOG: guardLog,
      // Belt and braces: were it to try, nothing could open a browser or pick its web ports.
      BROWSER: 'none',
      MCP_AUTO_OPEN_ENABLED: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let tree: number[] = [];
  const timer = setTimeout(() => {
    for (const pid of [child.pid!, ...descendants(child.pid!)]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // ignore: already gone
      }
    }
  }, timeoutMs);
  const watch = setInterval(() => (tree = [...new Set([...tree, ...descendants(child.pid!)])]), 20);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  clearInterval(watch);
  // Whatever the Inspector started has ended with it.
  await until(() => !tree.some(isAlive), 5000, 'the processes the Inspector started to end');
  const guard = existsSync(guardLog)
    ? readFileSync(guardLog, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as GuardEntry)
    : [];
  return { code, stdout, stderr, guard };
}

/** The JSON the Inspector prints (it echoes its child's output, so the first complete document counts). */
function printed<T>(stdout: string): T {
  const start = stdout.indexOf('{');
  let depth = 0;
  let inString = false;
  for (let i = start; i < stdout.length; i++) {
    const ch = stdout[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '{') depth++;
    else if (ch === '}' && --depth === 0) return JSON.parse(stdout.slice(start, i + 1)) as T;
  }
  throw new Error(`no JSON document in the Inspector's output:\n${stdout}`);
}

function expectContained(run: Inspected, url: string): void {
  const { port } = new URL(url);
  // The guard was loaded into the Inspector's launcher and into the CLI it starts, and nowhere else.
  const started = run.guard.filter((e) => e.kind === 'start');
  expect(started.length).toBe(2);
  expect(run.guard.filter((e) => e.kind === 'listen')).toEqual([]);
  const spawned = run.guard.filter((e) => e.kind === 'spawn');
  expect(spawned.length).toBe(1);
  expect(spawned[0]!.args?.[1]).toMatch(/inspector-cli[\\/]build[\\/]index\.js$/);
  const connects = run.guard.filter((e) => e.kind === 'connect' && e.path === undefined);
  expect(connects.length).toBeGreaterThan(0);
  for (const c of connects) {
    expect(c.host).toBe('127.0.0.1');
    expect(String(c.port)).toBe(port);
  }
}

describe('MCP Inspector CLI → relay (no bearer allowed) → agent → server-everything', () => {
  const url = () => `${relay.url.origin}/alice/everything/mcp`;

  it('lists the tools', async () => {
    const run = await inspect(url(), ['--transport', 'http', '--method', 'tools/list']);
    expect(run.code, run.stderr).toBe(0);
    const { tools } = printed<ListToolsResult>(run.stdout);
    expect(tools.map((t) => t.name)).toContain('echo');
    expectContained(run, url());
  });

  it('calls echo with a tool argument', async () => {
    const run = await inspect(url(), [
      '--transport',
      'http',
      '--method',
      'tools/call',
      '--tool-name',
      'echo',
      '--tool-arg',
      'message=hi',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const result = printed<CallToolResult>(run.stdout);
    expect(result.isError ?? false).toBe(false);
    expect(result.content).toEqual([{ type: 'text', text: 'Echo: hi' }]);
    expectContained(run, url());
  });

  it('fails with a clear message and a non-zero exit when the relay wants a bearer', async () => {
    const strict = await startRelay();
    try {
      const target = `${strict.url.origin}/alice/everything/mcp`;
      const run = await inspect(target, ['--transport', 'http', '--method', 'tools/list']);
      expect(run.code).not.toBe(0);
      expect(run.stdout + run.stderr).toContain('missing bearer token');
      expect(run.guard.filter((e) => e.kind === 'listen')).toEqual([]);
    } finally {
      await strict.close();
    }
  });
});

describe('MCP Inspector CLI → mcpassistant-gateway-bridge → server-everything', () => {
  it('lists and calls tools through the bridge (no --token: the Inspector cannot send headers)', async () => {
    const sandbox = await createSandbox();
    const config = join(sandbox.dir, 'mcp.json');
    await writeFile(config, JSON.stringify({ mcpServers: { everything: serverEverything() } }));
    const bridge = startCli(
      ['--config', config],
      sandbox,
      {},
      CLI.replace('mcpassistant-gateway.js', 'mcpassistant-gateway-bridge.js'),
    );
    try {
      await until(() => bridge.stdout().includes('Running.'), 20_000, 'the bridge to start');
      const url = /^everything\s+(http:\/\/\S+\/mcp)\s/m.exec(bridge.stdout())![1]!;
      const list = await inspect(url, ['--transport', 'http', '--method', 'tools/list']);
      expect(list.code, list.stderr).toBe(0);
      expect(printed<ListToolsResult>(list.stdout).tools.map((t) => t.name)).toContain('echo');
      expectContained(list, url);
      const call = await inspect(url, [
        '--transport',
        'http',
        '--method',
        'tools/call',
        '--tool-name',
        'echo',
        '--tool-arg',
        'message=bridged',
      ]);
      expect(call.code, call.stderr).toBe(0);
      expect(printed<CallToolResult>(call.stdout).content).toEqual([{ type: 'text', text: 'Echo: bridged' }]);
    } finally {
      await stopLeftovers();
      await rm(sandbox.dir, { recursive: true, force: true });
    }
  });
});
