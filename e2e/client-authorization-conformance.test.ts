// The official MCP conformance suite's `authorization` command (its authorization-server scenarios) against the
// relay as the authorization server of its MCP clients (issue 12): the metadata endpoint, and the authorization
// code grant with a client registered by RFC 7591, the owner signing in and consenting at the relay's pages
// (driven with plain HTTP requests), the code redeemed at the token endpoint by the suite itself.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ensureConformance } from '../scripts/conformance.mjs';
import { hashPassword } from '../src-relay/identity/password.js';
import type { RelayServer } from '../src-relay/relay-server.js';
import {
  type AgentFixture,
  linkState,
  signInAgent,
  startAgent,
  startRelay,
} from './support/relay-fixture.js';
import { TestBrowser } from './support/test-browser.js';

const OWNER = { email: 'olga@example.com', password: 'olga password 789' };

let dir: string;
let relay: RelayServer;
let subject: string;
let agent: AgentFixture;

/** A port nobody listens on right now (the suite's callback listener binds it). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The agent of OWNER, signed in through /manage/oauth so that OWNER owns its subject. */
const signIn = () => signInAgent(relay, OWNER);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpgw-as-conformance-'));
  const usersFile = join(dir, 'users');
  await writeFile(
    usersFile,
    `${OWNER.email}:${await hashPassword(OWNER.password, { N: 2 ** 12, r: 8, p: 1 })}\n`,
  );
  relay = await startRelay({ oauth: { identity: { provider: 'builtin', usersFile } } });
  const signedIn = await signIn();
  subject = signedIn.subject;
  agent = await startAgent(relay, { token: signedIn.token });
  await linkState(agent.gateway, 'connected');
});

afterAll(async () => {
  await agent?.close();
  await relay?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('conformance suite: authorization (the relay as authorization server)', () => {
  it('passes the metadata endpoint and authorization code grant scenarios', async () => {
    const port = await freePort();
    const redirectUri = `http://127.0.0.1:${port}/callback`;
    const registered = await fetch(new URL('/oauth/register', relay.url), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        client_name: 'MCP conformance suite',
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      }),
    });
    expect(registered.status).toBe(201);
    const { client_id: clientId } = (await registered.json()) as { client_id: string };
    const resource = `${relay.url.origin}/${subject}/everything/mcp`;

    const { node, cli } = ensureConformance();
    const out = join(dir, 'results');
    const child = spawn(
      node,
      [
        cli,
        'authorization',
        '--url',
        relay.url.origin,
        '--client-id',
        clientId,
        '--resource',
        resource,
        '--port',
        String(port),
        '-o',
        out,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // The suite prints the authorization URL and waits for its callback: the owner answers in the "browser",
    // which follows the final redirect to the suite's own listener.
    const browsed = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        const before = stdout;
        stdout += chunk.toString();
        const url = /^(http:\/\/127\.0\.0\.1:\d+\/oauth\/authorize\?\S+)$/m.exec(stdout)?.[1];
        if (!url || /\/oauth\/authorize\?/.test(before)) return;
        void (async () => {
          const browser = new TestBrowser(() => false);
          const login = await browser.go(url);
          const consent = await browser.submit(login.html, login.page.url, OWNER);
          expect(consent.html).toContain('MCP conformance suite');
          await browser.submit(consent.html, consent.page.url, { decision: 'allow' });
        })().then(resolve, reject);
      });
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    await browsed;

    const checks = new Map<string, string>();
    const errors: string[] = [];
    for (const file of await readdir(out, { recursive: true })) {
      if (!file.endsWith('checks.json')) continue;
      // <out>/authorization-server-<scenario>-<timestamp>/checks.json
      const scenario = file
        .split(/[\\/]/)[0]!
        .replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z?$/, '')
        .replace(/^authorization-server-/, '');
      const list = JSON.parse(await readFile(join(out, file), 'utf8')) as {
        id: string;
        status: string;
        errorMessage?: string;
      }[];
      for (const check of list) {
        checks.set(`${scenario}/${check.id}`, check.status);
        if (check.errorMessage) errors.push(`${check.id}: ${check.errorMessage}`);
      }
    }
    const failed = [...checks].filter(([, status]) => status === 'FAILURE');
    const passed = [...checks].filter(([, status]) => status === 'SUCCESS');
    // The counts for the report.
    console.log(`authorization conformance: ${passed.length} passed, ${failed.length} failed`);
    expect(failed, `${errors.join('\n')}\n${stdout}\n${stderr}`).toEqual([]);
    expect(code).toBe(0);
    expect(checks.get('authorization-server-metadata-endpoint/authorization-server-metadata')).toBe(
      'SUCCESS',
    );
    expect(checks.get('authorization-server-metadata-endpoint/authorization-server-metadata-cimd')).toBe(
      'SUCCESS',
    );
    const grant = [...checks].filter(([id]) => id.startsWith('authorization-code-grant/'));
    expect(grant.length).toBeGreaterThan(0);
    expect(
      grant.every(([, status]) => status === 'SUCCESS'),
      JSON.stringify(grant),
    ).toBe(true);
  }, 120_000);
});
