// The relay's sign-in and consent pages for MCP clients (issue 12) in a real browser (Debian's Chromium): the
// pages' Content-Security-Policy (form-action applies to the redirects after a form post) must let the owner
// get from the sign-in form to the consent page and from there back to the client's redirect URI.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { hashPassword } from '../src-relay/identity/password.js';
import type { RelayServer } from '../src-relay/relay-server.js';
import { launchChromium } from './support/chromium.js';
import {
  type AgentFixture,
  linkState,
  signInAgent,
  startAgent,
  startRelay,
} from './support/relay-fixture.js';

const OWNER = { email: 'petra@example.com', password: 'petra password 321' };

let dir: string;
let relay: RelayServer;
let agent: AgentFixture;
let subject: string;
let browser: Browser;
/** The MCP client's redirect URI: a real listener, so that the browser lands on a page. */
let callbackServer: Server;
let redirectUri: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpgw-as-browser-'));
  const usersFile = join(dir, 'users');
  await writeFile(
    usersFile,
    `${OWNER.email}:${await hashPassword(OWNER.password, { N: 2 ** 12, r: 8, p: 1 })}\n`,
  );
  relay = await startRelay({ oauth: { identity: { provider: 'builtin', usersFile } } });

  // The agent, signed in as OWNER through /manage/oauth so that OWNER owns its subject.
  const signedIn = await signInAgent(relay, OWNER);
  subject = signedIn.subject;
  agent = await startAgent(relay, { token: signedIn.token });
  await linkState(agent.gateway, 'connected');

  callbackServer = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' }).end('<title>back in the app</title><p>done</p>');
  });
  await new Promise<void>((resolve) => callbackServer.listen(0, '127.0.0.1', resolve));
  redirectUri = `http://127.0.0.1:${(callbackServer.address() as AddressInfo).port}/callback`;
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await agent?.close();
  await relay?.close();
  callbackServer?.closeAllConnections();
  await new Promise<void>((resolve) => (callbackServer ? callbackServer.close(() => resolve()) : resolve()));
  await rm(dir, { recursive: true, force: true });
});

describe('the owner in Chromium', () => {
  it('signs in, reads the consent page and allows; the client redeems the code for a working token', async () => {
    const registered = await fetch(new URL('/oauth/register', relay.url), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        client_name: 'Browser Test Client',
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      }),
    });
    const { client_id: clientId } = (await registered.json()) as { client_id: string };
    const verifier = randomBytes(32).toString('base64url');
    const resource = `${relay.url.origin}/${subject}/everything/mcp`;
    const state = randomBytes(16).toString('base64url');
    const authorize = new URL('/oauth/authorize', relay.url);
    for (const [name, value] of Object.entries({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: redirectUri,
      scope: 'mcp',
      state,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      resource,
    }))
      authorize.searchParams.set(name, value);

    const context = await browser.newContext();
    const page = await context.newPage();
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
    });
    await page.goto(authorize.href);
    await page.fill('#email', OWNER.email);
    await page.fill('#password', OWNER.password);
    await page.click('button[value="signin"]');
    await page.waitForSelector('button[value="allow"]');
    const consent = await page.textContent('main');
    expect(consent).toContain('Browser Test Client');
    expect(consent).toContain(subject);
    expect(consent).toContain('everything');
    expect(consent).toContain(OWNER.email);
    await Promise.all([
      page.waitForURL((url) => url.href.startsWith(redirectUri)),
      page.click('button[value="allow"]'),
    ]);
    const landed = new URL(page.url());
    expect(violations).toEqual([]);
    expect(landed.searchParams.get('state')).toBe(state);
    expect(landed.searchParams.get('iss')).toBe(relay.url.origin);
    const code = landed.searchParams.get('code');
    expect(code).toBeTruthy();
    await context.close();

    const token = await fetch(new URL('/oauth/token', relay.url), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: code!,
        redirect_uri: redirectUri,
        code_verifier: verifier,
        client_id: clientId,
        resource,
      }),
    });
    expect(token.status).toBe(200);
    const { access_token: accessToken } = (await token.json()) as { access_token: string };
    const call = await fetch(resource, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${accessToken}`,
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
      }),
    });
    expect(call.status).toBe(200);
  });
});
