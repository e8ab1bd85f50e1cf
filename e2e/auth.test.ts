// Signing in from the CLI: against our relay, the browser played by a real HTTP client.
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { decodeJwt } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import type { RelayServer } from '../src-relay/relay-server.js';
import { createSandbox, runCli, type Sandbox, startCli, stopLeftovers } from './support/cli.js';
import { slowServer, startRelay } from './support/relay-fixture.js';
import { until } from './support/wait.js';

let sandbox: Sandbox;
let relay: RelayServer | undefined;
beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(async () => {
  await stopLeftovers();
  await relay?.close();
  relay = undefined;
});

const statePath = () => join(sandbox.configDir, '.mcpassistant.json');

describe('login without OAuth on the relay', () => {
  it('falls back to /manage/jwt/issue, stores the token 0600, and whoami shows the subject', async () => {
    relay = await startRelay({ jwtFallbackEnabled: true });
    const base = relay.url.origin;
    const login = await runCli(['login', '--relay', base, '--subject', 'carol', '--no-browser'], sandbox);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain('This relay has no sign-in page; asking it to issue a token instead.');
    expect(login.stdout).toContain(`Signed in to ${base} as "carol"`);

    const state = JSON.parse(await readFile(statePath(), 'utf8')) as Record<string, unknown>;
    expect(decodeJwt(state['jwt_token'] as string).sub).toBe('carol');
    expect(state['remote_server_base_url']).toBe(base);
    expect((await stat(statePath())).mode & 0o777).toBe(0o600);

    const whoami = await runCli(['whoami', '--json'], sandbox);
    expect(whoami.code).toBe(0);
    expect(JSON.parse(whoami.stdout)).toMatchObject({
      subject: 'carol',
      relay: base,
      auth_mode: 'jwt_fallback',
    });

    // The token never reaches the log file or the output.
    const log = await readFile(sandbox.logFile, 'utf8').catch(() => '');
    for (const text of [log, login.stdout, login.stderr, whoami.stdout])
      expect(text).not.toContain(state['jwt_token']);

    // Logout revokes it on the relay (the agent's own token is then refused) and wipes it here.
    const logout = await runCli(['logout'], sandbox);
    expect(logout.stdout).toContain('The relay at');
    expect((await relay.tokens.verify(state['jwt_token'] as string)).ok).toBe(false);
    expect(JSON.parse(await readFile(statePath(), 'utf8'))).not.toHaveProperty('jwt_token');
    const after = await runCli(['whoami'], sandbox);
    expect(after.code).toBe(1);
    expect(after.stdout).toContain('Not signed in');
  });

  it('says clearly that a relay with neither sign-in nor issuing cannot give a token, and stores nothing', async () => {
    relay = await startRelay();
    const login = await runCli(['login', '--relay', relay.url.origin, '--no-browser'], sandbox);
    expect(login.code).toBe(1);
    expect(login.stderr).toMatch(/asking for a token failed: token issuing is disabled on this relay/);
    await expect(stat(statePath())).rejects.toThrow();
  });

  it('refuses to sign in over plain http to a relay that is not on this machine', async () => {
    const login = await runCli(['login', '--relay', 'http://relay.example.com', '--no-browser'], sandbox);
    expect(login.code).toBe(1);
    expect(login.stderr).toContain('refusing to sign in over http:// to relay.example.com');
  });
});

describe('what a sign-in leaves behind, and when "Connected" is said (issue 8, item 9)', () => {
  /** `run` against the relay with `env`, until `done` holds for its output; then stopped. */
  async function runUntil(env: Record<string, string>, done: (output: string) => boolean, what: string) {
    await mkdir(sandbox.configDir, { recursive: true });
    await writeFile(
      join(sandbox.configDir, 'mcp.json'),
      JSON.stringify({ mcpServers: { slow: slowServer() } }),
    );
    const cli = startCli(['run'], sandbox, { REMOTE_SERVER_BASE_URL: relay!.url.origin, ...env });
    await until(() => done(cli.stdout()), 20_000, what).catch((error: Error) => {
      throw new Error(`${error.message}\nstdout:\n${cli.stdout()}\nstderr:\n${cli.stderr()}`);
    });
    cli.child.kill('SIGTERM');
    await cli.exited;
    return cli.stdout();
  }

  it('logout clears the subject with the tokens: the next token connects as its own subject', async () => {
    relay = await startRelay({ jwtFallbackEnabled: true });
    const base = relay.url.origin;
    const login = await runCli(['login', '--relay', base, '--subject', 'carol', '--no-browser'], sandbox);
    expect(login.code, login.stderr).toBe(0);
    expect(JSON.parse(await readFile(statePath(), 'utf8'))).toHaveProperty('subject', 'carol');
    expect((await runCli(['logout'], sandbox)).code).toBe(0);
    expect(JSON.parse(await readFile(statePath(), 'utf8'))).not.toHaveProperty('subject');

    const dave = await relay.tokens.issue('dave', ['*'], 60);
    const output = await runUntil(
      { AGENT_JWT: dave },
      (out) => /Connected to .* as "dave"/.test(out),
      'dave connected',
    );
    expect(output).not.toContain('refused');
  });

  it('client-token prints a client token for the signed-in subject, which /connect refuses (item 8)', async () => {
    relay = await startRelay({ jwtFallbackEnabled: true });
    const base = relay.url.origin;
    expect(
      (await runCli(['login', '--relay', base, '--subject', 'erin', '--no-browser'], sandbox)).code,
    ).toBe(0);
    const issued = await runCli(['client-token', '--days', '7', '--servers', 'slow'], sandbox);
    expect(issued.code, issued.stderr).toBe(0);
    const token = /^Authorization: Bearer (\S+)$/m.exec(issued.stdout)?.[1];
    expect(decodeJwt(token!)).toMatchObject({ sub: 'erin', role: 'client', capabilities: ['slow'] });
    expect(issued.stderr).toContain('cannot connect as the agent');
    const ws = new WebSocket(new URL('/connect', base.replace(/^http/, 'ws')), {
      headers: { Authorization: `Bearer ${token!}` },
    });
    const status = await new Promise<number>((resolve) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => resolve(101));
      ws.once('error', () => undefined);
    });
    ws.terminate();
    expect(status).toBe(403);
  });

  it('a refused registration: no "Connected", the reason and the fix on both sides', async () => {
    const lines: string[] = [];
    const keep = (...args: unknown[]) => void lines.push(args.map(String).join(' '));
    relay = await startRelay({ log: { debug: () => undefined, info: keep, warn: keep, error: keep } });
    const dave = await relay.tokens.issue('dave', ['*'], 60);
    const output = await runUntil(
      { AGENT_JWT: dave, SUBJECT: 'mallory' },
      (out) => out.includes('refused the registration'),
      'the refusal',
    );
    expect(output).not.toContain('Connected to');
    expect(output).toMatch(
      /refused the registration: subject mismatch; the token is not for subject "mallory": unset SUBJECT/,
    );
    expect(
      lines.some((l) => l.includes('refused the registration of subject "mallory": subject mismatch')),
    ).toBe(true);
  });
});
