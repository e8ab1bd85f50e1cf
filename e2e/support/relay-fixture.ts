// A relay on 127.0.0.1 and a gateway agent connected to it, both in this process over real sockets.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import type { Gateway } from '../../src-main/core/gateway.js';
import { hashPassword } from '../../src-relay/identity/password.js';
import { silentLogger } from '../../src-relay/relay-log.js';
import { type RelayOptions, RelayServer } from '../../src-relay/relay-server.js';
import { type GatewayAgent, startGatewayAt } from './gateway-agent.js';
import { serverEverything } from './mcp-fixtures.js';
import { TestBrowser } from './test-browser.js';

export const SECRET = 'test-secret-0123456789abcdef';

export async function startRelay(options: Partial<RelayOptions> = {}): Promise<RelayServer> {
  const relay = new RelayServer({
    host: '127.0.0.1',
    port: 0,
    jwtSecret: SECRET,
    requestTimeoutMs: 20_000,
    log: silentLogger,
    ...options,
  });
  await relay.listen();
  return relay;
}

export const slowServer = () => ({
  command: process.execPath,
  args: [new URL('./slow-server.mjs', import.meta.url).pathname],
});

/** A stdio server whose tools ask the client (elicitation, sampling, roots): ./asking-server.mjs. */
export const askingServer = () => ({
  command: process.execPath,
  args: [new URL('./asking-server.mjs', import.meta.url).pathname],
});

export interface AgentFixture extends GatewayAgent {
  token: string;
}

/** A gateway agent with server-everything ("everything") and the slow server ("slow"), connected to `relay`. */
export async function startAgent(
  relay: RelayServer,
  options: {
    subject?: string;
    env?: Record<string, string>;
    token?: string;
    servers?: Record<string, unknown>;
    pingIntervalMs?: number;
  } = {},
): Promise<AgentFixture> {
  const token = options.token ?? (await relay.tokens.issue(options.subject ?? 'alice', ['*'], 60));
  const agent = await startGatewayAt({
    wsUrl: `${relay.url.origin.replace('http', 'ws')}/connect`,
    token,
    servers: options.servers ?? { everything: serverEverything(), slow: slowServer() },
    env: { REMOTE_SERVER_BASE_URL: relay.url.origin, ...options.env },
    pingIntervalMs: options.pingIntervalMs,
    watch: true,
  });
  return { ...agent, token };
}

/** Resolves when the gateway's link reaches `state` (the current one included). */
export function linkState(gateway: Gateway, state: string, timeoutMs = 10_000): Promise<void> {
  if (gateway.state.state === state) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`link did not reach ${state}; it is ${JSON.stringify(gateway.state)}`)),
      timeoutMs,
    );
    const check = () => {
      if (gateway.state.state !== state) return;
      clearTimeout(timer);
      gateway.off('state', check);
      resolve();
    };
    gateway.on('state', check);
  });
}

/** An SDK client through the relay to `server` of `subject`. */
export async function connectClient(
  relay: RelayServer,
  subject: string,
  server: string,
  token: string,
): Promise<Client> {
  const client = new Client({ name: 'e2e-client', version: '1.0.0' });
  const url = new URL(`/${subject}/${server}/mcp`, relay.url);
  await client.connect(
    new StreamableHTTPClientTransport(url, {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

/**
 * A relay whose built-in sign-in provider knows one user: the users file is written to `dir/users`, the password
 * hashed with cheap scrypt parameters (tests only). `oauth` adds options such as a clock.
 */
export async function startRelayWithUser(
  dir: string,
  user: { email: string; password: string },
  oauth: Partial<NonNullable<RelayOptions['oauth']>> = {},
): Promise<RelayServer> {
  const usersFile = join(dir, 'users');
  await writeFile(
    usersFile,
    `${user.email}:${await hashPassword(user.password, { N: 2 ** 12, r: 8, p: 1 })}\n`,
  );
  return startRelay({ oauth: { identity: { provider: 'builtin', usersFile }, ...oauth } });
}

/**
 * Signs an agent in as `user` through the relay's /manage/oauth flow and built-in provider (so that `user` owns
 * the subject it gets), the browser played by TestBrowser. Resolves with the agent token and its subject.
 */
export async function signInAgent(
  relay: RelayServer,
  user: { email: string; password: string },
): Promise<{ token: string; subject: string }> {
  const callback = 'http://127.0.0.1:43110/callback/agent';
  const start = await fetch(new URL('/manage/oauth/start', relay.url), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ redirect_uri: callback }),
  });
  const { session_id: sessionId, auth_url: authUrl } = (await start.json()) as Record<string, string>;
  const browser = new TestBrowser((location) => location.startsWith(callback));
  const page = await browser.go(authUrl!);
  const back = await browser.submit(page.html, authUrl!, user);
  const complete = await fetch(new URL('/manage/oauth/complete', relay.url), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ session_id: sessionId, code: new URL(back.callback!).searchParams.get('code') }),
  });
  return (await complete.json()) as { token: string; subject: string };
}
