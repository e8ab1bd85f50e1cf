// The Gateway composes settings, mcp.json and the server manager: first run, and live reload of mcp.json.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { serverEverything } from '../../e2e/support/mcp-fixtures.js';
import { isAlive, until, waitForStatus } from '../../e2e/support/wait.js';
import { Gateway } from './gateway.js';
import { LogHub } from './logging/log-hub.js';

let dir: string;
let gateway: Gateway | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpgw-gateway-'));
});
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
  await rm(dir, { recursive: true, force: true });
});

async function createGateway(logs: LogHub, flags: Record<string, string> = {}) {
  gateway = await Gateway.create({
    cwd: dir,
    env: {},
    flags,
    userDirs: { config: join(dir, 'user-config'), log: join(dir, 'user-log') },
    logs,
    backoff: { initialMs: 50, maxMs: 400, stableMs: 60_000 },
  });
  return gateway;
}

describe('Gateway', () => {
  it('creates mcp.json on first run with only a filesystem server for the working directory, and says so', async () => {
    const logs = new LogHub();
    // START_MCP_SERVERS=false: the default entry runs npx, which must not download anything in a test.
    const gw = await createGateway(logs, { startMcpServers: 'false' });
    await gw.start();
    const path = join(dir, 'user-config', 'mcp.json');
    expect(gw.configFile.path).toBe(path);
    const created = JSON.parse(await readFile(path, 'utf8')) as {
      mcpServers: Record<string, { args: string[] }>;
    };
    expect(Object.keys(created.mcpServers)).toEqual(['filesystem']);
    expect(created.mcpServers['filesystem']?.args).toEqual([
      '-y',
      '@modelcontextprotocol/server-filesystem',
      dir,
    ]);
    const createdLines = logs.recent().filter((e) => e.message.startsWith('Created '));
    expect(createdLines).toHaveLength(1);
    expect(createdLines[0]?.message).toContain(path);
    expect(gw.servers.list()).toEqual([expect.objectContaining({ name: 'filesystem', state: 'stopped' })]);
  });

  it('applies edits of mcp.json without a restart, and keeps running servers when an edit is invalid', async () => {
    const logs = new LogHub();
    const path = join(dir, 'user-config', 'mcp.json');
    const gw = await createGateway(logs);
    await gw.configFile.updateServer('first', serverEverything());
    await gw.start();
    const first = await waitForStatus(gw.servers, 'first', (s) => s.state === 'running');

    // An edit by another program (here, our own atomic writer) starts the new server only.
    await gw.configFile.updateServer('second', serverEverything());
    await waitForStatus(gw.servers, 'second', (s) => s.state === 'running');
    expect(gw.servers.get('first')?.status.pid).toBe(first.pid);

    // A broken edit is reported; the servers keep running and the file is left as the user wrote it.
    const broken = '{ "mcpServers": { "first": ';
    await writeFile(path, broken);
    await until(
      () => logs.recent().some((e) => e.level === 'error' && e.message.includes('invalid JSON')),
      10_000,
      'the reload error',
    );
    expect(logs.recent().find((e) => e.message.includes('invalid JSON'))?.message).toMatch(
      /line 1 column \d+.*Keeping the servers/,
    );
    expect(gw.servers.list().map((s) => s.state)).toEqual(['running', 'running']);
    expect(await readFile(path, 'utf8')).toBe(broken);

    // Removing a server stops its child.
    const secondPid = gw.servers.get('second')!.status.pid!;
    await writeFile(path, JSON.stringify({ mcpServers: { first: serverEverything() } }));
    await until(() => gw.servers.get('second') === undefined, 10_000, 'second to be removed');
    await until(() => !isAlive(secondPid), 5_000, 'its child to exit');
    expect(gw.servers.get('first')?.status.pid).toBe(first.pid);
  });
});
