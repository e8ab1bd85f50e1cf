// The mcpassistant-gateway command as a user runs it: the built CLI in a child process, real servers,
// real signals, in a sandboxed home directory.
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { SignJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { createSandbox, descendants, runCli, type Sandbox, startCli, stopLeftovers } from './support/cli.js';
import { serverEverything } from './support/mcp-fixtures.js';
import { isAlive, until } from './support/wait.js';

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(async () => {
  await stopLeftovers();
  await rm(sandbox.dir, { recursive: true, force: true });
});

const writeConfig = async (servers: Record<string, unknown>) => {
  const path = join(sandbox.dir, 'mcp.json');
  await writeFile(path, `${JSON.stringify({ mcpServers: servers }, null, 2)}\n`);
  return path;
};

interface ToolsJson {
  servers: { name: string; state: string; error?: string; pid?: number; tools?: { name: string }[] }[];
}

describe('mcpassistant-gateway tools', () => {
  it('prints each server with its tools, exits 1 when one failed, and leaves no child behind', async () => {
    const config = await writeConfig({
      everything: serverEverything(),
      missing: { command: 'no-such-server-cmd' },
    });
    const result = await runCli(['tools', '--config', config, '--json'], sandbox);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as ToolsJson;
    const everything = report.servers.find((s) => s.name === 'everything')!;
    expect(everything.state).toBe('running');
    expect(everything.tools?.map((t) => t.name)).toContain('echo');
    expect(report.servers.find((s) => s.name === 'missing')).toMatchObject({
      state: 'error',
      error: expect.stringContaining('"no-such-server-cmd" was not found') as string,
    });
    expect(everything.pid).toBeGreaterThan(0);
    expect(isAlive(everything.pid!)).toBe(false);

    const text = await runCli(['tools', '--config', config], sandbox);
    expect(text.stdout).toMatch(/✓ everything\s+running/);
    expect(text.stdout).toMatch(/tools: .*echo/);
    expect(text.stdout).toMatch(/✗ missing\s+error\s+command "no-such-server-cmd" was not found/);
    expect(text.stdout).toContain('1 of 2 server(s) failed');
  });

  it('exits 0 when every server runs', async () => {
    const config = await writeConfig({ everything: serverEverything() });
    const result = await runCli(['tools', '--config', config], sandbox);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('rejects a malformed mcp.json with its location, exit 3, and leaves the file byte-identical', async () => {
    const path = join(sandbox.dir, 'mcp.json');
    const cases = [
      {
        text: '{\n  "mcpServers": {\n    "fs": { "command": "npx" \n  }\n',
        expect:
          /mcp\.json line 5 column 1: invalid JSON: a closing brace \(\}\) was expected; one is missing\. Fix the file/,
      },
      {
        text: '{\n  "mcpServers": []\n}\n',
        expect: /mcp\.json line 2 column 17, mcpServers: expected an object \(got an array\)/,
      },
    ];
    for (const c of cases) {
      await writeFile(path, c.text);
      const before = await readFile(path);
      const result = await runCli(['tools', '--config', path], sandbox);
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(c.expect);
      expect((await readFile(path)).equals(before)).toBe(true);
    }
    // A wrong type inside one entry fails that server only, with its location.
    await writeFile(
      path,
      JSON.stringify({ mcpServers: { fs: { command: 'node', args: 'x' }, ok: serverEverything() } }, null, 2),
    );
    const result = await runCli(['tools', '--config', path], sandbox);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /✗ fs\s+error\s+.*mcp\.json line 5 column 15, mcpServers\.fs\.args: expected an array \(got a string\)/,
    );
    expect(result.stdout).toMatch(/✓ ok\s+running/);
  });
});

describe('mcpassistant-gateway run', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`runs the servers until ${signal}, then stops every child and exits 0`, async () => {
      const config = await writeConfig({ one: serverEverything(), two: serverEverything() });
      const cli = startCli(['run', '--config', config], sandbox);
      await until(
        () => (cli.stdout().match(/✓ (one|two) /g) ?? []).length === 2,
        15_000,
        'both servers running',
      ).catch((e: Error) => {
        throw new Error(`${e.message}\n${cli.stdout()}${cli.stderr()}`);
      });
      expect(cli.stdout()).toContain('Running. Press Ctrl+C to stop.');
      const children = descendants(cli.child.pid!);
      expect(children.length).toBeGreaterThanOrEqual(2);

      cli.child.kill(signal);
      const result = await cli.exited;
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`${signal}: stopping the servers`);
      expect(result.stdout).toContain('Stopped.');
      for (const pid of children) expect(isAlive(pid), `child ${pid} still alive`).toBe(false);
    });
  }

  it('keeps a JWT and secret env values out of its output and log file', async () => {
    const jwt = await new SignJWT({ capabilities: ['*'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .sign(new TextEncoder().encode('test-secret-test-secret-test-secret'));
    const apiKey = 'sk-test-9f8e7d6c5b4a';
    const config = await writeConfig({
      // Prints its secret env value and the token it was given on the command line, then exits: every
      // restart logs both the command line and that output.
      leaky: {
        command: process.execPath,
        args: [
          '-e',
          'console.error("key=" + process.env.SERVICE_API_KEY + " token=" + process.argv[1]); process.exit(1)',
          jwt,
        ],
        env: { SERVICE_API_KEY: apiKey },
      },
      everything: serverEverything(),
    });
    const cli = startCli(['run', '--config', config, '--log-level', 'debug'], sandbox, { AGENT_JWT: jwt });
    await until(
      async () => (await readFile(sandbox.logFile, 'utf8').catch(() => '')).includes('key=«redacted»'),
      15_000,
      'the leak to be logged',
    );
    await until(() => cli.stdout().includes('✓ everything'), 15_000, 'everything running');
    cli.child.kill('SIGTERM');
    const result = await cli.exited;
    const log = await readFile(sandbox.logFile, 'utf8');
    expect(log).toContain('token=«redacted»');
    for (const text of [log, result.stdout, result.stderr]) {
      expect(text).not.toContain(apiKey);
      expect(text).not.toContain(jwt);
      expect(text).not.toContain(jwt.split('.')[2]);
    }
    const show = await runCli(['config', 'show'], sandbox, { AGENT_JWT: jwt });
    expect(show.stdout).toMatch(/AGENT_JWT\s+«redacted»\s+environment/);
    expect(show.stdout).toMatch(/SUBJECT\s+alice\s+derived from AGENT_JWT/);
    expect(show.stdout).not.toContain(jwt);
  });
});

describe('mcpassistant-gateway config', () => {
  it('says where the local endpoint header comes from when client-token has no relay', async () => {
    const none = await runCli(['client-token'], sandbox);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no relay is configured');
    expect(none.stderr).toContain('`mcpassistant-gateway run` serves the local endpoint');
    const unsigned = await runCli(['client-token'], sandbox, {
      REMOTE_SERVER_BASE_URL: 'https://relay.example.com',
    });
    expect(unsigned.code).toBe(2);
    expect(unsigned.stderr).toContain('not signed in: run `mcpassistant-gateway login`');
  });

  it('saves a setting in the runtime state file (0600) and shows where each value comes from', async () => {
    const set = await runCli(['config', 'set', '--request-timeout-seconds', '120'], sandbox);
    expect(set.code).toBe(0);
    const statePath = join(sandbox.configDir, '.mcpassistant.json');
    expect(set.stdout).toContain(`REQUEST_TIMEOUT_SECONDS = 120 (saved in ${statePath})`);
    expect(JSON.parse(await readFile(statePath, 'utf8'))).toEqual({ request_timeout_seconds: 120 });
    expect((await stat(statePath)).mode & 0o777).toBe(0o600);

    const show = await runCli(['config', 'show', '--json'], sandbox, { RECONNECT_MAX_DELAY_SECONDS: '30' });
    const { settings } = JSON.parse(show.stdout) as {
      settings: { name: string; value: string; source: string }[];
    };
    const byName = Object.fromEntries(settings.map((s) => [s.name, s]));
    expect(byName['REQUEST_TIMEOUT_SECONDS']).toMatchObject({ value: '120', source: 'state' });
    expect(byName['RECONNECT_MAX_DELAY_SECONDS']).toMatchObject({ value: '30', source: 'environment' });
    expect(byName['MCP_PROTOCOL_VERSION']).toMatchObject({ value: '2025-11-25', source: 'default' });

    const bad = await runCli(['config', 'set', '--request-timeout-seconds', 'soon'], sandbox);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain(
      'REQUEST_TIMEOUT_SECONDS from the --request-timeout-seconds flag: expected a number of seconds',
    );
    expect(JSON.parse(await readFile(statePath, 'utf8'))).toEqual({ request_timeout_seconds: 120 });

    expect((await runCli(['config', 'unset', 'request_timeout_seconds'], sandbox)).code).toBe(0);
    expect(JSON.parse(await readFile(statePath, 'utf8'))).toEqual({});
    expect((await runCli(['config', 'path'], sandbox)).stdout.trim()).toBe(
      join(sandbox.configDir, 'mcp.json'),
    );
  });

  it('rejects unknown commands and flags with a suggestion (exit 2), and has --help everywhere', async () => {
    const typo = await runCli(['run', '--request-timout-seconds', '5'], sandbox);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("unknown option '--request-timout-seconds'");
    expect(typo.stderr).toContain('Did you mean --request-timeout-seconds?');
    const command = await runCli(['tool'], sandbox);
    expect(command.code).toBe(2);
    expect(command.stderr).toContain('Did you mean tools?');
    for (const args of [['--help'], ['run', '--help'], ['tools', '--help'], ['config', 'set', '--help']]) {
      const help = await runCli(args, sandbox);
      expect(help.code, args.join(' ')).toBe(0);
      expect(help.stdout).toContain('Usage: mcpassistant-gateway');
    }
    expect((await runCli(['config', 'set', '--help'], sandbox)).stdout).toContain(
      '--reconnect-max-delay-seconds <value>',
    );
  });
});
