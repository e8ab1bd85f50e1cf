// Client tokens from the CLI (issue 12), the built CLI as a user runs it against a real relay on 127.0.0.1
// without sign-in (no OAuth clients there): `clients add` remembers what it created in the runtime state and
// prints it once with the endpoints and a client config, `clients list` lists it (never the token) and says in
// one line why there are no OAuth clients, `clients revoke` ends it at the relay — the next request with it
// is refused with 401. The older names `client-token` and `client-tokens` keep working for scripts.
// (client-authorization.test.ts drives the same commands with a real agent and an OAuth client.)
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RelayServer } from '../src-relay/relay-server.js';
import { ClientAccess } from '../src-shared/control.js';
import { createSandbox, runCli, type Sandbox } from './support/cli.js';
import { startRelay } from './support/relay-fixture.js';

let sandbox: Sandbox;
let relay: RelayServer;
let env: Record<string, string>;

beforeAll(async () => {
  sandbox = await createSandbox();
  relay = await startRelay();
  // The servers `clients add --server` checks names against (nothing starts them here).
  const config = join(sandbox.dir, 'mcp.json');
  await mkdir(sandbox.dir, { recursive: true });
  await writeFile(
    config,
    JSON.stringify({ mcpServers: { notes: { command: 'node' }, files: { command: 'node' } } }),
  );
  env = {
    REMOTE_SERVER_BASE_URL: relay.url.href,
    AGENT_JWT: await relay.tokens.issue('alice', ['*'], 60),
    AGENT_STATE_PATH: join(sandbox.dir, 'state.json'),
    AGENT_CONFIG_PATH: config,
  };
});
afterAll(async () => {
  await relay?.close();
  await rm(sandbox.dir, { recursive: true, force: true });
});

/** The status of an MCP request to alice's `server` with `token`: 401 refused, 404 accepted (no agent is linked). */
async function statusWith(token: string, server = 'notes'): Promise<number> {
  const res = await fetch(new URL(`/alice/${server}/mcp`, relay.url), {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${token}`,
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
  });
  await res.body?.cancel();
  return res.status;
}

const list = async () => {
  const listed = await runCli(['clients', 'list', '--json'], sandbox, env);
  expect(listed.code, listed.stderr).toBe(0);
  return ClientAccess.parse(JSON.parse(listed.stdout));
};

describe('mcpassistant-gateway clients', () => {
  it('adds a client token for chosen servers, lists it, revokes it by id (401 at once)', async () => {
    const empty = await runCli(['clients'], sandbox, env);
    expect(empty.code, empty.stderr).toBe(0);
    expect(empty.stdout).toContain('Client tokens created here (0)');
    // A relay without sign-in has no OAuth clients: one line says so, the command does not fail.
    expect(empty.stdout).toMatch(/^OAuth clients: The relay at .* has no MCP client sign-in/m);

    const added = await runCli(['clients', 'add', 'phone', '--server', 'notes', '--days', '3'], sandbox, env);
    expect(added.code, added.stderr).toBe(0);
    const token = /^Authorization: Bearer (\S+)$/m.exec(added.stdout)![1]!;
    expect(added.stdout).toContain('Created the client token "phone"');
    expect(added.stdout).toContain(`notes  ${relay.url.origin}/alice/notes/mcp`);
    const config: unknown = JSON.parse(
      added.stdout.slice(added.stdout.indexOf('{'), added.stdout.lastIndexOf('}') + 1),
    );
    expect(config).toEqual({
      mcpServers: {
        notes: { url: `${relay.url.origin}/alice/notes/mcp`, headers: { Authorization: `Bearer ${token}` } },
      },
    });
    expect(await statusWith(token)).toBe(404);
    // Scoped: the token does not reach another server of the subject.
    expect(await statusWith(token, 'files')).not.toBe(404);

    const access = await list();
    expect(access.tokens).toEqual([
      expect.objectContaining({ name: 'phone', subject: 'alice', servers: ['notes'], expired: false }),
    ]);
    expect(access.grants).toBeNull();
    expect(access.grantsNote).toContain('has no MCP client sign-in');
    expect(JSON.stringify(access)).not.toContain(token);
    const id = access.tokens[0]!.id;
    expect(await readFile(join(sandbox.dir, 'state.json'), 'utf8')).toContain(id);
    const text = await runCli(['clients', 'list'], sandbox, env);
    expect(text.stdout).toContain(`phone (id ${id})`);
    expect(text.stdout).not.toContain(token);

    const unknown = await runCli(['clients', 'revoke', 'nope'], sandbox, env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no client token "nope" was created here');
    expect(unknown.stderr).toContain('has no OAuth clients');
    const none = await runCli(['clients', 'revoke'], sandbox, env);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('or pass --all');

    const revoked = await runCli(['clients', 'revoke', id], sandbox, env);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(`Revoked the client token "phone" (id ${id})`);
    expect(await statusWith(token)).toBe(401);
    expect((await list()).tokens).toEqual([]);
  }, 60_000);

  it('refuses an unknown server naming the configured ones, bad days, and no relay or sign-in with the fix', async () => {
    const unknown = await runCli(['clients', 'add', 'x', '--server', 'notse'], sandbox, env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown server "notse"');
    expect(unknown.stderr).toContain('has "notes", "files"');
    const days = await runCli(['clients', 'add', 'x', '--days', '400'], sandbox, env);
    expect(days.code).toBe(2);
    expect(days.stderr).toContain('--days: a whole number from 1 to 365');
    const noName = await runCli(['clients', 'add'], sandbox, env);
    expect(noName.code).toBe(2);

    const { AGENT_JWT: _, ...unsigned } = env;
    const notSignedIn = await runCli(['clients', 'add', 'x'], sandbox, unsigned);
    expect(notSignedIn.code).toBe(2);
    expect(notSignedIn.stderr).toContain('not signed in: run `mcpassistant-gateway login`');
    const listUnsigned = await runCli(['clients'], sandbox, unsigned);
    expect(listUnsigned.code).toBe(0);
    expect(listUnsigned.stdout).toContain('OAuth clients: Not signed in');

    const { REMOTE_SERVER_BASE_URL: __, AGENT_JWT: ___, ...local } = env;
    const noRelay = await runCli(['clients', 'add', 'x'], sandbox, local);
    expect(noRelay.code).toBe(2);
    expect(noRelay.stderr).toContain('no relay is configured');
    const listLocal = await runCli(['clients', 'list'], sandbox, local);
    expect(listLocal.code).toBe(0);
    expect(listLocal.stdout).toContain(
      'OAuth clients: No relay is configured: the local endpoint has no OAuth sign-in',
    );
    expect((await list()).tokens).toEqual([]);
  }, 60_000);

  it('revokes every client token with --all', async () => {
    const tokens: string[] = [];
    for (const [name, server] of [
      ['a', 'notes'],
      ['b', 'files'],
    ] as const) {
      const added = await runCli(['clients', 'add', name, '--server', server, '--json'], sandbox, env);
      expect(added.code, added.stderr).toBe(0);
      const json = JSON.parse(added.stdout) as { header: string; endpoints: Record<string, string> };
      expect(json.endpoints).toEqual({ [server]: `${relay.url.origin}/alice/${server}/mcp` });
      tokens.push(json.header.slice('Bearer '.length));
      expect(await statusWith(tokens.at(-1)!, server)).toBe(404);
    }
    const both = await runCli(['clients', 'revoke', 'a', '--all'], sandbox, env);
    expect(both.code).toBe(2);
    const all = await runCli(['clients', 'revoke', '--all'], sandbox, env);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toContain('Revoked 2 client tokens.');
    expect(all.stdout).toContain('has no MCP client sign-in');
    expect(await statusWith(tokens[0]!, 'notes')).toBe(401);
    expect(await statusWith(tokens[1]!, 'files')).toBe(401);
    expect((await list()).tokens).toEqual([]);
  }, 60_000);
});

it('keeps the older names client-token and client-tokens working for scripts', async () => {
  const empty = await runCli(['client-tokens'], sandbox, env);
  expect(empty.stdout).toContain('No client tokens were created here');

  const issued = await runCli(
    ['client-token', '--name', 'phone', '--servers', 'notes', '--days', '3'],
    sandbox,
    env,
  );
  expect(issued.code, issued.stderr).toBe(0);
  const token = /^Authorization: Bearer (\S+)$/m.exec(issued.stdout)![1]!;
  expect(issued.stderr).toContain('A client token "phone" for "alice"');
  expect(await statusWith(token)).toBe(404);

  const listed = await runCli(['client-tokens', '--json'], sandbox, env);
  expect(listed.code, listed.stderr).toBe(0);
  expect(listed.stdout).not.toContain(token);
  const tokens = JSON.parse(listed.stdout) as { id: string; name: string; servers: string[] }[];
  expect(tokens).toEqual([expect.objectContaining({ name: 'phone', servers: ['notes'], expired: false })]);
  // The new list shows what the old command created.
  expect((await list()).tokens.map((t) => t.id)).toEqual([tokens[0]!.id]);

  const unknown = await runCli(['client-tokens', 'revoke', 'nope'], sandbox, env);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain('no client token "nope" was created here');

  const revoked = await runCli(['client-tokens', 'revoke', tokens[0]!.id], sandbox, env);
  expect(revoked.code, revoked.stderr).toBe(0);
  expect(revoked.stdout).toContain('Revoked the client token "phone"');
  expect(await statusWith(token)).toBe(401);
  expect((await runCli(['client-tokens'], sandbox, env)).stdout).toContain('No client tokens');
  // Hidden from --help, which shows the new names.
  const help = await runCli(['--help'], sandbox, env);
  expect(help.stdout).toMatch(/^\s+clients\b/m);
  expect(help.stdout).not.toMatch(/client-token/);
}, 60_000);

it('lists a token of the local endpoint, and says only the running gateway revokes it (no relay configured)', async () => {
  // What the window's Clients view remembers for the local endpoint (subject "local"): written as it would.
  const state = join(sandbox.dir, 'local-state.json');
  const expires = new Date(Date.now() + 86_400_000).toISOString();
  await writeFile(
    state,
    JSON.stringify({
      client_tokens: [
        {
          id: 'local-1',
          name: 'editor',
          subject: 'local',
          relay: 'http://127.0.0.1:1',
          servers: ['notes'],
          created_at: new Date().toISOString(),
          expires_at: expires,
          token: 'not-a-real-token',
        },
      ],
    }),
    { mode: 0o600 },
  );
  const local = { AGENT_STATE_PATH: state, AGENT_CONFIG_PATH: env['AGENT_CONFIG_PATH']! };
  const listed = await runCli(['clients', 'list', '--json'], sandbox, local);
  expect(listed.code, listed.stderr).toBe(0);
  const access = ClientAccess.parse(JSON.parse(listed.stdout));
  expect(access).toMatchObject({ relay: null, local: true, grants: null });
  expect(access.tokens).toEqual([
    expect.objectContaining({ id: 'local-1', subject: 'local', expiresAt: expires }),
  ]);
  expect(listed.stdout).not.toContain('not-a-real-token');

  const revoke = await runCli(['clients', 'revoke', 'editor'], sandbox, local);
  expect(revoke.code).toBe(2);
  expect(revoke.stderr).toContain('"editor" is a token of the local endpoint');
  expect(revoke.stderr).toContain('`mcpassistant-gateway ui` → Clients');
  // Still remembered: nothing was revoked.
  expect(await readFile(state, 'utf8')).toContain('local-1');
}, 60_000);
