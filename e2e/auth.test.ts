// Signing in from the CLI: against our relay, the browser played by a real HTTP client.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { decodeJwt } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { RelayServer } from '../src-relay/relay-server.js';
import { createSandbox, runCli, type Sandbox, stopLeftovers } from './support/cli.js';
import { startRelay } from './support/relay-fixture.js';

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
