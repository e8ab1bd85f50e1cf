// A newcomer's first two commands on a fresh clone, with no node_modules and no build: `npm test` alone
// installs, builds, lints, type-checks and tests; `npm start` then runs the gateway at once.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { descendants, ROOT } from './support/cli.js';
import { serverEverything } from './support/mcp-fixtures.js';
import { isAlive, until } from './support/wait.js';

let clone: string;

beforeAll(async () => {
  clone = await mkdtemp(join(tmpdir(), 'mcpgw-clone-'));
  // What a clone of this checkout holds: tracked files plus new ones git would commit (not node_modules, dist).
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], {
    cwd: ROOT,
    encoding: 'utf8',
  })
    .split('\0')
    .filter((file) => file && existsSync(join(ROOT, file)));
  for (const file of files) {
    await mkdir(dirname(join(clone, file)), { recursive: true });
    await copyFile(join(ROOT, file), join(clone, file));
  }
});
afterAll(async () => {
  for (const pid of started) {
    for (const leftover of [pid, ...descendants(pid)]) {
      try {
        process.kill(leftover, 'SIGKILL');
      } catch {
        // ignore: already gone, as it should be
      }
    }
  }
  await rm(clone, { recursive: true, force: true });
});

/** The environment of a user's shell: none of the npm_* variables of the npm that runs these tests. */
function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^(npm_|VITEST|NODE_ENV)/i.test(key)),
  );
  // The packages are already in npm's cache; no test may depend on reaching the registry.
  return {
    ...env,
    npm_config_prefer_offline: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    ...extra,
  };
}

const started: number[] = [];

function npm(args: string[], env: NodeJS.ProcessEnv) {
  // Its own process group, like a command typed in a terminal: Ctrl+C signals the whole group.
  const child = spawn('npm', args, { cwd: clone, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  started.push(child.pid!);
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

describe('a fresh clone', () => {
  it('`npm test` alone installs the dependencies, builds, and runs the checks and tests', async () => {
    expect(existsSync(join(clone, 'node_modules'))).toBe(false);
    // One small test file: the point is the command, not running the whole suite twice.
    const run = npm(['test', '--', 'src-main/core/config/paths.test.ts'], userEnv());
    const code = await run.exited;
    expect(code, run.output()).toBe(0);
    expect(run.output()).toContain('Installing dependencies (node_modules is missing): npm ci');
    expect(run.output()).toMatch(/vitest: [1-9]\d* passed, 0 failed/);
    expect(existsSync(join(clone, 'dist', 'src-main', 'cli', 'main.js'))).toBe(true);
  }, 600_000);

  it('`npm start` then runs the gateway without reinstalling, prints URLs a client can use at once, and Ctrl+C stops it', async () => {
    const home = join(clone, '.sandbox');
    const config = join(home, 'mcp.json');
    await mkdir(home, { recursive: true });
    await writeFile(config, JSON.stringify({ mcpServers: { everything: serverEverything() } }));
    const start = npm(
      ['start'],
      userEnv({
        AGENT_CONFIG_PATH: config,
        XDG_CONFIG_HOME: join(home, 'config'),
        XDG_STATE_HOME: join(home, 'state'),
        // The default port may be taken on a shared machine; the newcomer's experience is the same.
        LOCAL_RELAY_PORT: '0',
      }),
    );
    await until(
      () => /✓ everything\s+running/.test(start.output()) && /Authorization: Bearer \S+/.test(start.output()),
      60_000,
      `the gateway to run:\n${start.output()}`,
    );
    expect(start.output()).not.toContain('Installing dependencies');
    // What it printed works as it is: the endpoint URL and the header.
    const url = /^\s+everything\s+(http:\/\/\S+\/mcp)\s*$/m.exec(start.output())![1]!;
    const authorization = /Authorization: (Bearer \S+)/.exec(start.output())![1]!;
    const client = new Client({ name: 'newcomer', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { Authorization: authorization } },
      }),
    );
    const result = (await client.callTool({
      name: 'echo',
      arguments: { message: 'first try' },
    })) as CallToolResult;
    expect(result.content).toEqual([{ type: 'text', text: 'Echo: first try' }]);
    await client.close();
    const children = descendants(start.child.pid!);
    process.kill(-start.child.pid!, 'SIGINT');
    await start.exited;
    expect(start.output()).toContain('SIGINT: stopping the servers');
    expect(start.output()).toContain('Stopped.');
    for (const pid of children) expect(isAlive(pid), `process ${pid} left behind`).toBe(false);
  }, 120_000);
});
