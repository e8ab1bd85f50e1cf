// Issue 8, the faults of configuration, logs and process life, as a user meets them: the built CLI in child
// processes, real MCP servers, real HTTP upstreams and a real relay, in a sandboxed home directory.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import { dirname, join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  CLI,
  createSandbox,
  descendants,
  runCli,
  type Sandbox,
  startCli,
  stopLeftovers,
} from './support/cli.js';
import { serverEverything, startStreamableHttpServer } from './support/mcp-fixtures.js';
import { startRelay } from './support/relay-fixture.js';
import { isAlive, until } from './support/wait.js';

let sandbox: Sandbox;
const cleanups: (() => Promise<void>)[] = [];
beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(async () => {
  await stopLeftovers();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await rm(sandbox.dir, { recursive: true, force: true });
});

const writeConfig = async (servers: Record<string, unknown>, path = join(sandbox.dir, 'mcp.json')) => {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify({ mcpServers: servers }, null, 2)}\n`);
  return path;
};

interface ToolsJson {
  servers: { name: string; state: string; error?: string; output?: string[]; tools?: { name: string }[] }[];
}
const toolsJson = (stdout: string) =>
  Object.fromEntries((JSON.parse(stdout) as ToolsJson).servers.map((s) => [s.name, s]));

/**
 * Makes `dir` read-only for this process. chmod does not stop root (tests run as root here), so root also
 * sets the immutable attribute. Resolves the undo, or undefined when writes still succeed (then the test
 * cannot show anything and is skipped).
 */
async function makeReadOnly(dir: string): Promise<(() => Promise<void>) | undefined> {
  await chmod(dir, 0o555);
  const root = process.getuid?.() === 0;
  if (root) spawnSync('chattr', ['+i', dir]);
  const undo = async () => {
    if (root) spawnSync('chattr', ['-i', dir]);
    await chmod(dir, 0o755);
  };
  const probe = join(dir, '.probe');
  const writable = await writeFile(probe, '').then(
    () => true,
    () => false,
  );
  if (writable) {
    await rm(probe, { force: true });
    await undo();
    return undefined;
  }
  return undo;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

describe('reading never needs write access (8.3)', () => {
  it('tools and run read mcp.json and the state from a read-only folder; a write there fails at once, naming it', async (ctx) => {
    const ro = join(sandbox.dir, 'read-only');
    const config = await writeConfig({ everything: serverEverything() }, join(ro, 'mcp.json'));
    const state = join(ro, 'state.json');
    await writeFile(state, '{ "request_timeout_seconds": 30 }\n');
    const undo = await makeReadOnly(ro);
    if (!undo) return ctx.skip();
    cleanups.push(undo);

    const tools = await runCli(['tools', '--config', config, '--state', state], sandbox);
    expect(tools.stderr).not.toContain('Cannot lock');
    expect(tools.code).toBe(0);
    expect(tools.stdout).toMatch(/✓ everything\s+running/);

    // run serves the local endpoint; only keeping its token fails, with a warning in the log.
    const run = startCli(['run', '--config', config, '--state', state], sandbox, { LOCAL_RELAY_PORT: '0' });
    await until(() => /✓ everything\s+running/.test(run.stdout()), 20_000, 'everything running');
    await until(() => run.stdout().includes('Local endpoint on'), 10_000, 'the local endpoint');
    run.child.kill('SIGTERM');
    expect((await run.exited).code).toBe(0);
    expect(await readFile(sandbox.logFile, 'utf8')).toContain(
      `Cannot save ${state}: the folder ${ro} is read-only`,
    );

    const started = Date.now();
    const set = await runCli(['config', 'set', '--state', state, '--request-timeout-seconds', '5'], sandbox);
    const took = Date.now() - started;
    expect(set.code).toBe(3);
    expect(set.stderr).toBe(
      `error: Cannot save ${state}: the folder ${ro} is read-only for this user. Make the folder writable, or point ` +
        'the gateway at a file in a writable folder (--config / AGENT_CONFIG_PATH, --state / AGENT_STATE_PATH).\n',
    );
    // Before: ~9 s of lock retries, then "Another program may be saving it".
    expect(took).toBeLessThan(3000);
    expect(await readFile(state, 'utf8')).toBe('{ "request_timeout_seconds": 30 }\n');
  });
});

describe('a log folder that cannot be written (8.3, 8.7)', () => {
  it('costs one warning line, not a stack trace per line, and the command works', async (ctx) => {
    const logs = dirname(sandbox.logFile);
    await mkdir(logs, { recursive: true });
    const undo = await makeReadOnly(logs);
    if (!undo) return ctx.skip();
    cleanups.push(undo);
    const config = await writeConfig({ everything: serverEverything() });
    const result = await runCli(['tools', '--config', config], sandbox);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/✓ everything\s+running/);
    // One line per file (gateway.log, then the server's own), whatever the number of lines logged.
    const warnings = result.stderr.trim().split('\n');
    expect(warnings.map((line) => /cannot write the log file (\S+) /.exec(line)?.[1])).toEqual([
      sandbox.logFile,
      join(logs, 'servers', 'everything.log'),
    ]);
    expect(result.stderr).not.toContain('    at ');
  });
});

describe('files as editors save them (8.4)', () => {
  it.each([
    {
      what: 'UTF-8 with a byte-order mark and CRLF',
      encode: (t: string) => Buffer.from(`\uFEFF${t.replaceAll('\n', '\r\n')}`),
    },
    {
      what: 'UTF-16 LE with its byte-order mark',
      encode: (t: string) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(t, 'utf16le')]),
    },
  ])('tools reads mcp.json saved as $what', async ({ encode }) => {
    const path = join(sandbox.dir, 'mcp.json');
    await writeFile(
      path,
      encode(`${JSON.stringify({ mcpServers: { everything: serverEverything() } }, null, 2)}\n`),
    );
    const result = await runCli(['tools', '--config', path], sandbox);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/✓ everything\s+running/);
  });
});

describe('the real cause, with its fix (8.5)', () => {
  it('names the cause when nothing answers at an HTTP server\'s url, not only "fetch failed"', async () => {
    const gone = await startStreamableHttpServer();
    await gone.close();
    const config = await writeConfig({ down: { url: gone.url } });
    const result = await runCli(['tools', '--config', config, '--json'], sandbox);
    expect(toolsJson(result.stdout)['down']?.error).toBe(
      `failed to start at ${gone.url}: could not connect (ECONNREFUSED); check that the server is running and ` +
        'mcpServers.down.url.',
    );
    expect(result.code).toBe(1);
  });

  it('reports an upstream 401 as such, with the fix, and never falls back to SSE; ${VAR} expands in headers and args', async () => {
    const upstream = await startStreamableHttpServer({ authorization: 'Bearer s3cret-token-1' });
    cleanups.push(() => upstream.close());
    const everything = serverEverything();
    const config = await writeConfig({
      expanded: { url: upstream.url, headers: { Authorization: 'Bearer ${MY_TOKEN}' } },
      plain: { url: upstream.url },
      unset: { url: upstream.url, headers: { Authorization: 'Bearer ${NOT_SET_VARIABLE}' } },
      local: { command: '${NODE_BIN}', args: ['${EVERYTHING_JS}', '${MODE:-stdio}'] },
      sse: { url: `${upstream.url}?pinned-sse`, type: 'sse' },
      wrongPath: {
        url: upstream.url.replace(/\/mcp$/, '/nope'),
        headers: { Authorization: 'Bearer ${MY_TOKEN}' },
      },
    });
    const env = {
      MY_TOKEN: 's3cret-token-1',
      NODE_BIN: everything.command,
      EVERYTHING_JS: everything.args[0],
    };
    const result = await runCli(['tools', '--config', config, '--json'], sandbox, env);
    const servers = toolsJson(result.stdout);
    expect(servers['expanded']).toMatchObject({ state: 'running', tools: [{ name: 'echo' }] });
    expect(servers['local']?.state).toBe('running');
    expect(servers['plain']?.state).toBe('error');
    expect(servers['plain']?.error).toBe(
      `${upstream.url} refused the connection with HTTP 401 Unauthorized: it wants credentials. Add them under ` +
        'mcpServers.plain.headers, e.g. "Authorization": "Bearer ${MY_TOKEN}".',
    );
    // Pinned to legacy SSE: its 401 is explained the same way.
    expect(servers['sse']?.error).toContain(
      'refused the connection with HTTP 401 Unauthorized: it wants credentials. Add them under mcpServers.sse.headers',
    );
    // A 404 falls back to SSE; when that fails too, the first answer is the one named.
    expect(servers['wrongPath']?.error).toMatch(
      /^failed to start at http:\/\/127\.0\.0\.1:\d+\/nope: it answered HTTP 404 to a Streamable HTTP initialize, and the legacy SSE transport failed too \(.*404.*\)\. Check mcpServers\.wrongPath\.url/,
    );
    expect(servers['unset']?.error).toMatch(
      /mcp\.json line \d+ column \d+, mcpServers\.unset\.headers\.Authorization: the environment variable NOT_SET_VARIABLE is not set\. Set it before starting the gateway, or give a default: \$\{NOT_SET_VARIABLE:-value\}\./,
    );
    // No legacy SSE attempt (a GET) after the refusal: the unauthenticated requests are refused POSTs only.
    const anonymous = upstream.requests.filter((r) => r.endsWith(' -') && !r.includes('?pinned-sse'));
    expect(anonymous.length).toBeGreaterThan(0);
    expect(new Set(anonymous)).toEqual(new Set(['POST /mcp -']));
    expect(result.code).toBe(1);

    // A token that is set but wrong: the header is named, the token itself is not shown.
    const wrong = await runCli(['tools', '--config', config, '--json'], sandbox, {
      ...env,
      MY_TOKEN: 'wrong-token-9',
    });
    if (!wrong.stdout) throw new Error(JSON.stringify(wrong));
    expect(toolsJson(wrong.stdout)['expanded']?.error).toContain(
      'refused the connection with HTTP 401 Unauthorized: the Authorization header in mcpServers.expanded.headers was not accepted.',
    );
    expect(wrong.stdout + wrong.stderr).not.toContain('wrong-token-9');
    expect(await readFile(sandbox.logFile, 'utf8')).not.toContain('wrong-token-9');
  });
});

describe('advice that works where it is given (8.6)', () => {
  it('the local endpoint refuses a foreign origin naming LOCAL_ALLOWED_ORIGINS, and lets the listed one in', async () => {
    const config = await writeConfig({ everything: serverEverything() });
    const run = startCli(['run', '--config', config], sandbox, {
      LOCAL_RELAY_PORT: '0',
      LOCAL_ALLOWED_ORIGINS: 'https://app.example',
    });
    const match = await until(
      () => /Local endpoint on (http:\/\/127\.0\.0\.1:\d+)/.test(run.stdout()),
      20_000,
      'the endpoint',
    ).then(() => /Local endpoint on (http:\/\/127\.0\.0\.1:\d+)/.exec(run.stdout())!);
    const url = `${match[1]}/local/everything/mcp`;
    const listed = await fetch(url, { method: 'OPTIONS', headers: { Origin: 'https://app.example' } });
    expect(listed.status).toBe(204);
    expect(listed.headers.get('access-control-allow-origin')).toBe('https://app.example');
    const foreign = await fetch(url, { method: 'OPTIONS', headers: { Origin: 'https://other.example' } });
    expect(foreign.status).toBe(403);
    expect(await foreign.text()).toContain(
      'Origin https://other.example is not allowed; add it to LOCAL_ALLOWED_ORIGINS',
    );
    run.child.kill('SIGTERM');
    expect((await run.exited).code).toBe(0);

    // The setting is validated like every other.
    const bad = await runCli(['config', 'set', '--local-allowed-origins', 'app.example/path'], sandbox);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain(
      'LOCAL_ALLOWED_ORIGINS from the --local-allowed-origins flag: expected origins like',
    );
  });
});

describe('noise that hides signal (8.7)', () => {
  it("one server's heavy stderr goes to its own rotated file: the others' lines and the gateway log stay", async () => {
    const noisy = [
      '-e',
      // ~3 MiB of stderr in a few hundred ms, then it waits (it never answers initialize).
      'const l = "x".repeat(1023); let n = 0; const t = setInterval(() => { for (let i = 0; i < 300; i++) console.error(l); if (++n > 10) clearInterval(t); }, 5); process.stdin.resume();',
    ];
    const config = await writeConfig({
      quiet: serverEverything(),
      noisy: { command: process.execPath, args: noisy },
    });
    const run = startCli(['run', '--config', config], sandbox, { LOCAL_RELAY_PORT: '0' });
    const servers = join(dirname(sandbox.logFile), 'servers');
    await until(() => /✓ quiet\s+running/.test(run.stdout()), 20_000, 'quiet running');
    await until(() => existsSync(join(servers, 'noisy.old.log')), 20_000, "the noisy server's log to rotate");
    run.child.kill('SIGTERM');
    expect((await run.exited).code).toBe(0);

    const gateway = await readFile(sandbox.logFile, 'utf8');
    expect(gateway).toContain('[server:quiet] running');
    expect(gateway).toContain('[server:noisy] starting:');
    expect(gateway).not.toContain('xxxxxxxxxx');
    expect((await stat(join(servers, 'noisy.log'))).size).toBeLessThanOrEqual(1024 ** 2 + 2048);
    // server-everything's own startup line is still there.
    expect(await readFile(join(servers, 'quiet.log'), 'utf8')).toMatch(/\[server:quiet:stderr\] .+/);
  });

  it('tools says a server did not answer initialize within the wait, with its last stderr lines', async () => {
    const silent = [
      '-e',
      'console.error("loading the model…"); console.error("still loading"); process.stdin.resume();',
    ];
    const config = await writeConfig({ silent: { command: process.execPath, args: silent } });
    const result = await runCli(['tools', '--config', config, '--timeout-seconds', '1'], sandbox);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      '    did not answer initialize within 1 s (--timeout-seconds sets the wait).\n    last output:\n      loading the model…\n      still loading\n',
    );
    const json = await runCli(['tools', '--config', config, '--timeout-seconds', '1', '--json'], sandbox);
    expect(toolsJson(json.stdout)['silent']).toMatchObject({
      state: 'starting',
      error: 'did not answer initialize within 1 s (--timeout-seconds sets the wait).',
      output: ['loading the model…', 'still loading'],
    });
  });

  it('says a lost relay once, then summarises the attempts, and says when it is back without reprinting the endpoints', async () => {
    let relay = await startRelay();
    cleanups.push(() => relay.close());
    const port = Number(relay.url.port);
    const token = await relay.tokens.issue('frank', ['*'], 60);
    const config = await writeConfig({ everything: serverEverything() });
    const run = startCli(['run', '--config', config], sandbox, {
      REMOTE_SERVER_BASE_URL: relay.url.origin,
      AGENT_JWT: token,
      RECONNECT_INITIAL_DELAY_SECONDS: '0.05',
      RECONNECT_MAX_DELAY_SECONDS: '0.1',
    });
    await until(() => run.stdout().includes('as "frank". Endpoints:'), 20_000, 'connected');
    await relay.close();
    await until(
      () => run.stdout().includes('Relay: still not connected after 10 attempts'),
      20_000,
      'the second summary',
    );
    relay = await startRelay({ port });
    await until(() => run.stdout().includes('Relay: connected again after'), 20_000, 'back');
    run.child.kill('SIGTERM');
    const { stdout } = await run.exited;
    expect(stdout.match(/retrying…/g)).toHaveLength(1);
    expect(stdout).toMatch(
      /Relay: still not connected after 5 attempts in \d+ s \(last: .+\); next try in \d\.\d s\./,
    );
    expect(stdout.match(/Endpoints:/g)).toHaveLength(1);
  });
});

describe('the gateway never outlives its launcher (8.10)', () => {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`${signal} to the \`sh -c\` that npm start runs: no gateway, no server, the port is free`, async () => {
      const config = await writeConfig({ everything: serverEverything() });
      // `; exit $?` keeps the shell from exec-ing node: it stays the parent, as under npm.
      const shell = spawn('sh', ['-c', `"${process.execPath}" "${CLI}" run --config "${config}"; exit $?`], {
        cwd: sandbox.dir,
        env: { ...sandbox.env, LOCAL_RELAY_PORT: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      shell.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      // A gateway that survives its shell is re-parented: note the tree while it is whole, to clean up.
      let tree: number[] = [];
      cleanups.push(() => {
        for (const pid of tree) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
        return Promise.resolve();
      });
      await until(
        () =>
          /✓ everything\s+running.*pid (\d+)/.test(stdout) &&
          /Local endpoint on http:\/\/127\.0\.0\.1:(\d+)/.test(stdout),
        20_000,
        'running',
      );
      const serverPid = Number(/✓ everything\s+running.*pid (\d+)/.exec(stdout)![1]);
      const port = Number(/Local endpoint on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout)![1]);
      const gatewayPid = descendants(shell.pid!).find(
        (pid) => pid !== serverPid && descendants(pid).includes(serverPid),
      )!;
      expect(gatewayPid).toBeGreaterThan(0);
      tree = [shell.pid!, ...descendants(shell.pid!)];
      expect(await portOpen(port)).toBe(true);

      process.kill(shell.pid!, signal);
      await until(() => !isAlive(gatewayPid), 10_000, `the gateway ${gatewayPid} to end`);
      expect(isAlive(serverPid), `server ${serverPid}`).toBe(false);
      expect(await portOpen(port)).toBe(false);
    });
  }
});

describe('files that may hold secrets (8.11)', () => {
  it('creates mcp.json 0600 in a 0700 folder, saying so before any server; an existing readable one gets a warning', async () => {
    const run = startCli(['run'], sandbox, { LOCAL_RELAY_PORT: '0', START_MCP_SERVERS: 'false' });
    await until(() => run.stdout().includes('Local endpoint on'), 20_000, 'the local endpoint');
    run.child.kill('SIGTERM');
    const { stdout } = await run.exited;
    const path = join(sandbox.configDir, 'mcp.json');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(sandbox.configDir)).mode & 0o777).toBe(0o700);
    const created = stdout.indexOf(`Created ${path}`);
    expect(created).toBeGreaterThan(-1);
    expect(created).toBeLessThan(stdout.indexOf('filesystem'));

    await writeConfig(
      { gh: { command: 'x', env: { GITHUB_TOKEN: 'ghp_0123456789' }, disabled: true } },
      path,
    );
    await chmod(path, 0o644);
    const again = startCli(['run'], sandbox, { LOCAL_RELAY_PORT: '0' });
    await until(() => again.stdout().includes('Local endpoint on'), 20_000, 'the local endpoint');
    again.child.kill('SIGTERM');
    const second = await again.exited;
    expect(second.stdout).toContain(
      `Warning: ${path} can be read by other users (mode 644) and holds values that look secret (mcpServers.gh.env.GITHUB_TOKEN).`,
    );
    expect((await stat(path)).mode & 0o777).toBe(0o644);
    expect(second.stdout).not.toContain('ghp_0123456789');
  });
});
