// Client tokens from the CLI (issue 12): `client-token --name` remembers what it created in the runtime state,
// `client-tokens` lists it (never the token), and `client-tokens revoke` ends it at a real relay on 127.0.0.1
// — the next request with it is refused with 401. The built CLI, as a user runs it.
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, it } from 'vitest';

import type { RelayServer } from '../src-relay/relay-server.js';
import { createSandbox, runCli, type Sandbox } from './support/cli.js';
import { startRelay } from './support/relay-fixture.js';

let sandbox: Sandbox;
let relay: RelayServer;
let env: Record<string, string>;

beforeAll(async () => {
  sandbox = await createSandbox();
  relay = await startRelay();
  env = {
    REMOTE_SERVER_BASE_URL: relay.url.href,
    AGENT_JWT: await relay.tokens.issue('alice', ['*'], 60),
    AGENT_STATE_PATH: join(sandbox.dir, 'state.json'),
  };
});
afterAll(async () => {
  await relay?.close();
  await rm(sandbox.dir, { recursive: true, force: true });
});

/** The status of an MCP request to alice's `notes` with `token`: 401 refused, 404 accepted (no agent is linked). */
async function statusWith(token: string): Promise<number> {
  const res = await fetch(new URL('/alice/notes/mcp', relay.url), {
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

it('creates a named client token, lists it without the secret, and revokes it (401 at once)', async () => {
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
  const state = await readFile(join(sandbox.dir, 'state.json'), 'utf8');
  expect(state).toContain(tokens[0]!.id);

  const unknown = await runCli(['client-tokens', 'revoke', 'nope'], sandbox, env);
  expect(unknown.code).not.toBe(0);
  expect(unknown.stderr).toContain('no client token "nope" was created here');

  const revoked = await runCli(['client-tokens', 'revoke', tokens[0]!.id], sandbox, env);
  expect(revoked.code, revoked.stderr).toBe(0);
  expect(revoked.stdout).toContain('Revoked the client token "phone"');
  expect(await statusWith(token)).toBe(401);
  expect((await runCli(['client-tokens'], sandbox, env)).stdout).toContain('No client tokens');
}, 60_000);
