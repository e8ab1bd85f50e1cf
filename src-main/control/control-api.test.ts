// The control API over a real Gateway: real server-everything child processes, the real local endpoint,
// real mcp.json edits. What a front sends is validated; a refused edit leaves mcp.json byte-identical.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { serverEverything } from '../../e2e/support/mcp-fixtures.js';
import { isAlive, until, waitForStatus } from '../../e2e/support/wait.js';
import { localRelayFactory } from '../../src-relay/local-endpoint.js';
import {
  CALL_NAMES,
  CONTROL_CALLS,
  type ControlResult,
  controlResult,
  type ServerInfo,
  type Status,
} from '../../src-shared/control.js';
import { Gateway } from '../core/gateway.js';
import { LogHub } from '../core/logging/log-hub.js';
import { type AutostartPort, ControlApi } from './control-api.js';

let dir: string;
let gateway: Gateway | undefined;
let api: ControlApi | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpgw-control-'));
});
afterEach(async () => {
  api?.dispose();
  await gateway?.close();
  gateway = undefined;
  api = undefined;
  await rm(dir, { recursive: true, force: true });
});

const configPath = () => join(dir, 'user-config', 'mcp.json');

async function start(options: { servers?: Record<string, unknown>; autostart?: AutostartPort } = {}) {
  await writeFile(
    join(dir, 'mcp.json'),
    `${JSON.stringify({ mcpServers: options.servers ?? { everything: serverEverything() } }, null, 2)}\n`,
  );
  const logs = new LogHub();
  gateway = await Gateway.create({
    cwd: dir,
    env: {},
    flags: { localRelayPort: '0' },
    configPath: join(dir, 'mcp.json'),
    userDirs: { config: join(dir, 'user-config'), log: join(dir, 'user-log') },
    logs,
    backoff: { initialMs: 50, maxMs: 400, stableMs: 60_000 },
    localEndpoint: localRelayFactory(logs.logger('local-relay')),
  });
  api = new ControlApi(gateway, {
    logs,
    autostart: options.autostart,
    settingsInputs: { cwd: dir, env: {} },
  });
  await gateway.start();
  return { gateway, api };
}

/** A call's value, failing the test with the error's message otherwise. */
async function value<T>(result: Promise<ControlResult<T>>): Promise<T> {
  const r = await result;
  if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
  return r.value;
}

function nextEvent<T>(
  subscribe: (listener: (payload: T) => void) => () => void,
  predicate: (p: T) => boolean,
) {
  return new Promise<T>((resolve) => {
    const off = subscribe((payload) => {
      if (!predicate(payload)) return;
      off();
      resolve(payload);
    });
  });
}

describe('ControlApi', () => {
  it('answers every call of the contract with a result that matches its schema', async () => {
    const { gateway, api } = await start();
    await waitForStatus(gateway.servers, 'everything', (s) => s.state === 'running');
    const argsFor: Record<string, unknown> = {
      'servers:get': { name: 'everything' },
      'servers:tools': { name: 'everything' },
      'settings:set': { key: 'REQUEST_TIMEOUT_SECONDS', value: '30' },
      'autostart:set': { enabled: true },
      'servers:resolve': { command: 'node', args: ['--version'] },
      'import:parse': { text: '{"servers": {"x": {"type": "stdio", "command": "y"}}}' },
      'tools:call': { server: 'everything', tool: 'echo', arguments: { message: 'hi' }, callId: 'c1' },
      'notices:dismiss': { id: 'n1' },
    };
    api.notice({ id: 'n1', text: 'A notice the window shows until it is dismissed.' });
    // Ports this test gives no implementation of answer `unsupported`.
    const unsupported = (name: string) =>
      name.startsWith('autostart:') || name === 'dialog:pickFolder' || name === 'logs:openFolder';
    const skip = new Set(['servers:add', 'servers:update', 'servers:remove', 'servers:enable']);
    // import:apply and clients:add write files (e2e/window.test.ts drives them in a temporary HOME).
    skip
      .add('import:apply')
      .add('clients:add')
      .add('servers:disable')
      .add('servers:restart')
      .add('auth:login')
      .add('link:disconnect')
      // They need a relay (client-access.test.ts drives them against a real one).
      .add('clients:createToken')
      .add('clients:revokeToken')
      .add('clients:revokeGrant')
      // It answers a relay's consent request (e2e/consent-from-app.test.ts drives it against a real one).
      .add('consent:answer');
    for (const name of CALL_NAMES.filter((n) => !skip.has(n))) {
      const result = await api.call(name, argsFor[name] ?? {});
      const schema = controlResult(CONTROL_CALLS[name].result);
      expect(schema.safeParse(result).success, `${name}: ${JSON.stringify(result).slice(0, 300)}`).toBe(true);
      if (unsupported(name)) expect(result).toMatchObject({ ok: false, code: 'unsupported' });
      else expect(result.ok, `${name}: ${JSON.stringify(result)}`).toBe(true);
    }
  });

  it('resolves a command line before anything runs, and names a command that is not found', async () => {
    const { api } = await start();
    const found = await value(api.invoke('servers:resolve', { command: 'node', args: ['a b', '-x'] }));
    expect(found).toMatchObject({ found: true, path: expect.stringMatching(/\/node$/) as unknown });
    expect(found.commandLine).toBe(`${found.path} "a b" -x`);
    const missing = await value(api.invoke('servers:resolve', { command: 'no-such-program-4711' }));
    expect(missing).toEqual({
      found: false,
      message: expect.stringContaining('"no-such-program-4711" was not found on the PATH') as unknown,
    });
  });

  it('refuses malformed arguments and unknown calls with a typed error, and changes nothing', async () => {
    const { api } = await start();
    const before = await readFile(join(dir, 'mcp.json'));
    const cases: [string, unknown][] = [
      ['servers:add', { name: 'has space', entry: serverEverything() }],
      ['servers:add', { name: 'x' }],
      ['servers:add', { name: 'x', entry: serverEverything(), extra: 1 }],
      ['servers:remove', 'everything'],
      ['servers:update', { name: 'everything', patch: 'command=rm' }],
      ['settings:set', { key: 'REQUEST_TIMEOUT_SECONDS', value: 30 }],
      ['logs:recent', { limit: -1 }],
      ['autostart:set', { enabled: 'yes' }],
    ];
    for (const [name, args] of cases) {
      const result = await api.call(name, args);
      expect(result, name).toMatchObject({ ok: false, code: 'invalid-args' });
      if (!result.ok) expect(result.message).toContain('Nothing was changed');
    }
    expect(await api.call('servers:nuke', {})).toMatchObject({ ok: false, code: 'unknown-call' });
    expect(await readFile(join(dir, 'mcp.json'))).toEqual(before);
    expect(await api.call('servers:list', undefined)).toMatchObject({ ok: true });
  });

  it('adds a valid server: written in place, started through the live reload, its tools listed', async () => {
    const { gateway, api } = await start();
    const added = await value(api.invoke('servers:add', { name: 'second', entry: serverEverything() }));
    expect(added.name).toBe('second');
    await waitForStatus(gateway.servers, 'second', (s) => s.state === 'running');
    const text = await readFile(join(dir, 'mcp.json'), 'utf8');
    expect(JSON.parse(text)).toMatchObject({ mcpServers: { everything: {}, second: serverEverything() } });
    const tools = await value(api.invoke('servers:tools', { name: 'second' }));
    expect(tools.map((t) => t.name)).toContain('echo');
    expect(await api.call('servers:add', { name: 'second', entry: serverEverything() })).toMatchObject({
      ok: false,
      code: 'exists',
    });
  });

  it('refuses an invalid entry before writing: mcp.json stays byte-identical and the message names the problem', async () => {
    const { api } = await start();
    const before = await readFile(join(dir, 'mcp.json'));
    const invalid = await api.call('servers:add', {
      name: 'bad',
      entry: { command: 'x', url: 'https://a.example/mcp' },
    });
    expect(invalid).toMatchObject({ ok: false, code: 'config-invalid' });
    if (!invalid.ok) expect(invalid.message).toMatch(/mcpServers\.bad.*give one of command or url/);
    const badUrl = await api.call('servers:update', {
      name: 'everything',
      patch: { command: null, url: 'ftp://x' },
    });
    expect(badUrl).toMatchObject({ ok: false, code: 'config-invalid' });
    expect(await readFile(join(dir, 'mcp.json'))).toEqual(before);
  });

  it('never overwrites a broken mcp.json, and says to fix it by hand', async () => {
    const { gateway, api } = await start();
    await waitForStatus(gateway.servers, 'everything', (s) => s.state === 'running');
    const broken = '{ "mcpServers": { "everything": { "command": "node", } }';
    await writeFile(join(dir, 'mcp.json'), broken);
    for (const [name, args] of [
      ['servers:add', { name: 'x', entry: serverEverything() }],
      ['servers:disable', { name: 'everything' }],
      ['servers:remove', { name: 'everything' }],
    ] as const) {
      const result = await api.call(name, args);
      expect(result, name).toMatchObject({ ok: false, code: 'config-invalid' });
      if (!result.ok) expect(result.message).toMatch(/line 1 column \d+.*fix the file by hand/);
    }
    expect(await readFile(join(dir, 'mcp.json'), 'utf8')).toBe(broken);
    expect(gateway.servers.get('everything')?.status.state).toBe('running');
  });

  it('disables, enables, restarts and removes a server, with `servers` events following each change', async () => {
    const { gateway, api } = await start();
    const first = await waitForStatus(gateway.servers, 'everything', (s) => s.state === 'running');
    const stopped = nextEvent<ServerInfo[]>(
      (l) => api.subscribe('servers', l),
      (list) => list[0]?.state === 'stopped' && list[0].disabled,
    );
    await value(api.invoke('servers:disable', { name: 'everything' }));
    await stopped;
    expect(JSON.parse(await readFile(join(dir, 'mcp.json'), 'utf8'))).toMatchObject({
      mcpServers: { everything: { disabled: true } },
    });
    await until(() => !isAlive(first.pid!), 10_000, 'the disabled server to exit');

    await value(api.invoke('servers:enable', { name: 'everything' }));
    const running = await waitForStatus(gateway.servers, 'everything', (s) => s.state === 'running');
    expect(await readFile(join(dir, 'mcp.json'), 'utf8')).not.toContain('disabled');

    await value(api.invoke('servers:restart', { name: 'everything' }));
    const restarted = await waitForStatus(
      gateway.servers,
      'everything',
      (s) => s.state === 'running' && s.pid !== running.pid,
    );
    expect(isAlive(running.pid!)).toBe(false);

    const detail = await value(api.invoke('servers:get', { name: 'everything' }));
    expect(detail.entry).toMatchObject({ command: process.execPath });

    await value(api.invoke('servers:remove', { name: 'everything' }));
    expect(gateway.servers.list()).toEqual([]);
    await until(() => !isAlive(restarted.pid!), 10_000, 'the removed server to exit');
    expect(await api.call('servers:get', { name: 'everything' })).toMatchObject({
      ok: false,
      code: 'not-found',
    });
  });

  it('disconnects and reconnects the link without touching the servers; the endpoint and header work with an SDK client', async () => {
    const { gateway, api } = await start();
    const server = await waitForStatus(gateway.servers, 'everything', (s) => s.state === 'running');
    await until(() => gateway.state.state === 'connected', 10_000, 'the local endpoint');

    const masked = await value(api.invoke('endpoints:list', {}));
    expect(masked.header?.value).toContain('«hidden»');
    expect(masked.endpoints[0]?.snippets['claude-code']).toContain('claude mcp add --transport http');
    const revealed = await value(api.invoke('endpoints:list', { reveal: true }));
    const endpoint = revealed.endpoints.find((e) => e.server === 'everything');
    const client = new Client({ name: 'test', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(endpoint!.url), {
        requestInit: { headers: { Authorization: revealed.header!.value } },
      }),
    );
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('echo');
    await client.close();

    const down = nextEvent<Status>(
      (l) => api.subscribe('status', l),
      (s) => s.link.state === 'stopped',
    );
    expect((await value(api.invoke('link:disconnect', {}))).link.state).toBe('stopped');
    await down;
    expect(gateway.servers.get('everything')?.status.pid).toBe(server.pid);
    expect((await value(api.invoke('endpoints:list', {}))).connected).toBe(false);

    const up = nextEvent<Status>(
      (l) => api.subscribe('status', l),
      (s) => s.link.state === 'connected',
    );
    await value(api.invoke('link:connect', {}));
    await up;
    expect(gateway.servers.get('everything')?.status.pid).toBe(server.pid);
  });

  it('answers settings with their sources, refuses an invalid value, and uses an injected autostart port', async () => {
    let enabled = false;
    const { api } = await start({
      autostart: { get: () => Promise.resolve(enabled), set: (on) => Promise.resolve((enabled = on)) },
    });
    const settings = await value(api.invoke('settings:get', {}));
    expect(settings.find((s) => s.key === 'requestTimeoutSeconds')).toMatchObject({
      value: 20,
      source: 'default',
    });
    const set = await value(api.invoke('settings:set', { key: 'request-timeout-seconds', value: '45' }));
    expect(set).toMatchObject({ setting: { value: 45, source: 'state' }, restartRequired: true });
    const refused = await api.call('settings:set', { key: 'REQUEST_TIMEOUT_SECONDS', value: 'soon' });
    expect(refused).toMatchObject({ ok: false, code: 'setting-invalid' });
    if (!refused.ok) expect(refused.message).toContain('expected a number of seconds');
    expect(await value(api.invoke('autostart:set', { enabled: true }))).toEqual({ enabled: true });
    expect(await value(api.invoke('autostart:get', {}))).toEqual({ enabled: true });
    expect((await value(api.invoke('status:get', {}))).autostart).toBe(true);
    expect(await api.call('auth:login', {})).toMatchObject({ ok: false, code: 'unsupported' });
    expect(configPath()).toContain('user-config'); // the user dir is not used: --config wins
    expect((await value(api.invoke('paths:get', {}))).config).toBe(join(dir, 'mcp.json'));
  });
});
