// The window's client access (issue 12) over a real Gateway linked to a real relay on 127.0.0.1: client
// tokens created, listed without their secret, used for a real MCP call, revoked (refused at once); the OAuth
// clients' listing; and the errors a person meets (no relay, not signed in, relay gone) with their fix.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { serverEverything } from '../../e2e/support/mcp-fixtures.js';
import { connectClient, linkState, startRelay, startRelayWithUser } from '../../e2e/support/relay-fixture.js';
import { localRelayFactory } from '../../src-relay/local-endpoint.js';
import { silentLogger } from '../../src-relay/relay-log.js';
import type { RelayServer } from '../../src-relay/relay-server.js';
import type { ControlResult } from '../../src-shared/control.js';
import { Gateway } from '../core/gateway.js';
import { LogHub } from '../core/logging/log-hub.js';
import { CLIENT_TOKENS_KEY } from './client-access.js';
import { ControlApi } from './control-api.js';

let dir: string;
const owned: { close(): Promise<void> | void }[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpgw-clients-'));
});
afterEach(async () => {
  for (const thing of owned.splice(0).reverse()) await thing.close();
  await rm(dir, { recursive: true, force: true });
});

/** A gateway with server-everything and the control API, linked to `env`'s relay (if any). */
async function start(env: Record<string, string>, options: { local?: boolean } = {}) {
  await writeFile(
    join(dir, 'mcp.json'),
    `${JSON.stringify({ mcpServers: { everything: serverEverything() } }, null, 2)}\n`,
  );
  const logs = new LogHub();
  const gateway = await Gateway.create({
    cwd: dir,
    env,
    configPath: join(dir, 'mcp.json'),
    statePath: join(dir, 'state.json'),
    userDirs: { config: join(dir, 'user-config'), log: join(dir, 'user-log') },
    logs,
    backoff: { initialMs: 50, maxMs: 400, stableMs: 60_000 },
    ...(options.local ? { localEndpoint: localRelayFactory(silentLogger) } : {}),
  });
  owned.push(gateway);
  const api = new ControlApi(gateway, { logs, settingsInputs: { cwd: dir, env } });
  owned.push({ close: () => api.dispose() });
  return { gateway, api, logs };
}

async function value<T>(result: Promise<ControlResult<T>>): Promise<T> {
  const r = await result;
  if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
  return r.value;
}

async function relayed(relay: RelayServer) {
  const agent = await relay.tokens.issue('alice', ['*'], 60);
  return start({ REMOTE_SERVER_BASE_URL: relay.url.href, AGENT_JWT: agent });
}

describe('client tokens', () => {
  it('creates one (shown once), lists it without the secret, serves a real MCP call, and revokes it at once', async () => {
    const relay = await startRelay();
    owned.push(relay);
    const { gateway, api, logs } = await relayed(relay);
    await gateway.start();
    await linkState(gateway, 'connected');

    const empty = await value(api.invoke('clients:list', {}));
    expect(empty).toMatchObject({ relay: relay.url.origin, subject: 'alice', tokens: [], grants: null });
    expect(empty.grantsNote).toContain('has no MCP client sign-in');

    const created = await value(
      api.invoke('clients:createToken', { name: 'laptop', servers: ['everything'], days: 7 }),
    );
    expect(created.token).toMatchObject({
      name: 'laptop',
      subject: 'alice',
      relay: relay.url.origin,
      servers: ['everything'],
      expired: false,
    });
    const days = (Date.parse(created.token.expiresAt) - Date.parse(created.token.createdAt)) / 86_400_000;
    expect(days).toBeCloseTo(7, 3);
    const secret = created.header.replace(/^Bearer /, '');
    const config = JSON.parse(created.config) as {
      mcpServers: Record<string, { url: string; headers: Record<string, string> }>;
    };
    expect(config.mcpServers).toEqual({
      everything: {
        url: new URL('/alice/everything/mcp', relay.url).href,
        headers: { Authorization: created.header },
      },
    });

    // Listed from the runtime state; no listing carries the token itself, nor does the log.
    const listed = await value(api.invoke('clients:list', {}));
    expect(listed.tokens).toEqual([created.token]);
    expect(JSON.stringify(listed)).not.toContain(secret);
    expect(logs.recent().some((e) => e.message.includes('laptop'))).toBe(true);
    expect(JSON.stringify(logs.recent())).not.toContain(secret);
    const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as Record<string, unknown>;
    expect(state[CLIENT_TOKENS_KEY]).toMatchObject([{ id: created.token.id, name: 'laptop' }]);

    // A real MCP client with the token, through the relay, to the agent's server.
    const client = await connectClient(relay, 'alice', 'everything', secret);
    const echoed = await client.callTool({ name: 'echo', arguments: { message: 'via a client token' } });
    expect(JSON.stringify(echoed.content)).toContain('via a client token');
    await client.close();

    await value(api.invoke('clients:revokeToken', { id: created.token.id }));
    const refused = await fetch(new URL('/alice/everything/mcp', relay.url), {
      method: 'POST',
      headers: {
        Authorization: created.header,
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    expect(refused.status).toBe(401);
    expect((await value(api.invoke('clients:list', {}))).tokens).toEqual([]);
    const again = await api.invoke('clients:revokeToken', { id: created.token.id });
    expect(again).toMatchObject({ ok: false, code: 'usage' });
    // The agent itself is unaffected.
    expect(gateway.state.state).toBe('connected');
  }, 60_000);

  it('refuses servers the agent token does not allow, naming them', async () => {
    const relay = await startRelay();
    owned.push(relay);
    const agent = await relay.tokens.issue('alice', ['everything'], 60);
    const { api } = await start({ REMOTE_SERVER_BASE_URL: relay.url.href, AGENT_JWT: agent });
    const r = await api.invoke('clients:createToken', { name: 'x', servers: ['other'], days: 1 });
    expect(r).toMatchObject({ ok: false, code: 'auth-failed' });
    expect(!r.ok && r.message).toContain('does not allow: other');
    const bad = await api.invoke('clients:createToken', { name: ' ', days: 400 });
    expect(bad).toMatchObject({ ok: false, code: 'invalid-args' });
  }, 30_000);

  it('says what to do without a relay, without a sign-in, and when the relay is gone', async () => {
    const none = await start({});
    const r1 = await none.api.invoke('clients:createToken', { name: 'x', days: 1 });
    expect(r1).toMatchObject({ ok: false, code: 'usage' });
    expect(!r1.ok && r1.message).toContain('No relay is configured');
    const l1 = await value(none.api.invoke('clients:list', {}));
    expect(l1).toMatchObject({ tokens: [], grants: null });
    expect(l1.grantsNote).toContain('Sign in');

    const relay = await startRelay();
    owned.push(relay);
    const unsigned = await start({ REMOTE_SERVER_BASE_URL: relay.url.href });
    const r2 = await unsigned.api.invoke('clients:createToken', { name: 'x', days: 1 });
    expect(!r2.ok && r2.message).toMatch(/^Not signed in to .*: sign in \(Settings → Sign in\)/);

    const gone = await startRelay();
    const agent = await gone.tokens.issue('alice', ['*'], 60);
    const url = gone.url.href;
    await gone.close();
    const offline = await start({ REMOTE_SERVER_BASE_URL: url, AGENT_JWT: agent });
    const r3 = await offline.api.invoke('clients:createToken', { name: 'x', days: 1 });
    expect(r3).toMatchObject({ ok: false, code: 'auth-failed' });
    expect(!r3.ok && r3.message).toContain('cannot be reached');
    expect((await value(offline.api.invoke('clients:list', {}))).grantsNote).toContain('cannot be reached');
  }, 30_000);
});

describe('the local endpoint', () => {
  it('issues per-client tokens too: listed, used, revoked at once, and still revoked after a restart', async () => {
    const env = { LOCAL_RELAY_PORT: '0' };
    const first = await start(env, { local: true });
    await first.gateway.start();
    await linkState(first.gateway, 'connected');
    const listed = await value(first.api.invoke('clients:list', {}));
    expect(listed).toMatchObject({ local: true, subject: 'local', tokens: [], grants: null });
    expect(listed.grantsNote).toContain('local endpoint has no OAuth sign-in');
    const created = await value(
      first.api.invoke('clients:createToken', { name: 'editor', servers: ['everything'], days: 2 }),
    );
    const local = first.gateway.localClientAccess!.url;
    expect(created.token).toMatchObject({ subject: 'local', relay: local.origin, servers: ['everything'] });
    const config = JSON.parse(created.config) as { mcpServers: Record<string, { url: string }> };
    expect(config.mcpServers['everything']!.url).toBe(new URL('/local/everything/mcp', local).href);
    const token = created.header.slice('Bearer '.length);
    expect(token).not.toBe(first.gateway.localToken);
    const ping = (base: URL, bearer: string) =>
      fetch(new URL('/local/everything/mcp', base), {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${bearer}`,
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
      }).then(async (res) => (await res.body?.cancel(), res.status));
    const client = await connectClient(
      Object.assign(Object.create(null) as RelayServer, { url: local }),
      'local',
      'everything',
      token,
    );
    const echoed = await client.callTool({ name: 'echo', arguments: { message: 'local token' } });
    expect(JSON.stringify(echoed.content)).toContain('local token');
    await client.close();

    await value(first.api.invoke('clients:revokeToken', { id: created.token.id }));
    expect(await ping(local, token)).toBe(401);
    expect((await value(first.api.invoke('clients:list', {}))).tokens).toEqual([]);
    const simple = first.gateway.localToken!;

    // A new run of the gateway with the same state: the endpoint's key is the same, the revocation holds.
    first.api.dispose();
    await first.gateway.close();
    const second = await start(env, { local: true });
    await second.gateway.start();
    await linkState(second.gateway, 'connected');
    const again = second.gateway.localClientAccess!.url;
    expect(await ping(again, token)).toBe(401);
    expect(await ping(again, simple)).toBe(200);
  }, 60_000);
});

describe('revoking when the relay cannot', () => {
  it('keeps a token the relay could not revoke (unreachable), and forgets one a relay says it never issued', async () => {
    const relay = await startRelay();
    const { api } = await relayed(relay);
    const created = await value(api.invoke('clients:createToken', { name: 'kept', days: 1 }));
    const origin = relay.url.origin;
    await relay.close();
    const r = await api.invoke('clients:revokeToken', { id: created.token.id });
    expect(r).toMatchObject({ ok: false, code: 'auth-failed' });
    expect(!r.ok && r.message).toContain('cannot be reached');
    expect((await value(api.invoke('clients:list', {}))).tokens.map((t) => t.name)).toEqual(['kept']);

    // The same entry pointed at a relay with another key: it refuses the token already, so it is forgotten.
    const other = await startRelay({ jwtSecret: 'another-secret-0123456789abcdef' });
    owned.push(other);
    const path = join(dir, 'state.json');
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replaceAll(origin, other.url.origin));
    await value(api.invoke('clients:revokeToken', { id: created.token.id }));
    expect((await value(api.invoke('clients:list', {}))).tokens).toEqual([]);
  }, 30_000);
});

describe('OAuth clients', () => {
  it('lists the grants of a relay with sign-in, and says when there is no such client to revoke', async () => {
    const relay = await startRelayWithUser(dir, { email: 'a@example.com', password: 'pw pw pw pw' });
    owned.push(relay);
    const { api } = await relayed(relay);
    const listed = await value(api.invoke('clients:list', {}));
    expect(listed).toMatchObject({ grants: [], tokens: [] });
    expect(listed.grantsNote).toBeUndefined();
    const r = await api.invoke('clients:revokeGrant', { clientId: 'nobody' });
    expect(r).toMatchObject({ ok: false, code: 'usage' });
  }, 30_000);
});
