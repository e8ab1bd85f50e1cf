// Faults found by an adversarial review of client access (issue 12), each pinned by a test written before its
// fix. What was tried and held is covered by the tests beside the features (client-authorization,
// consent-from-app, relay-server, stream-revocation).
import { randomUUID } from 'node:crypto';

import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RelayServer } from '../src-relay/relay-server.js';
import {
  closedWithin,
  getStream,
  initialize,
  listenStream,
  mcpUrl,
  post2025,
} from './support/mcp-streams.js';
import {
  type AgentFixture,
  linkState,
  SECRET,
  slowServer,
  startAgent,
  startRelay,
} from './support/relay-fixture.js';

describe('a client token stays within its servers', () => {
  let relay: RelayServer;
  let agent: AgentFixture;

  beforeAll(async () => {
    relay = await startRelay();
    agent = await startAgent(relay, { servers: { slow: slowServer(), secret: slowServer() } });
    await linkState(agent.gateway, 'connected');
  }, 60_000);

  afterAll(async () => {
    await agent?.close();
    await relay?.close();
  });

  it('reaches its servers of its subject only, and cannot mint tokens (held: each refused before this review)', async () => {
    const client = await relay.tokens.issue('alice', ['slow'], 10, 'client');
    expect((await initialize(relay, 'alice', client)).status).toBe(200);
    const on = (path: string, init: RequestInit = {}) =>
      fetch(new URL(path, relay.url), {
        ...init,
        headers: {
          Authorization: `Bearer ${client}`,
          'Content-Type': 'application/json',
          Accept: 'application/json',
        },
      }).then((r) => r.status);
    const call = { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }) };
    expect(await on('/alice/secret/mcp', call)).toBe(403);
    expect(await on('/bob/slow/mcp', call)).toBe(403);
    expect(await on('/manage/client-token', { method: 'POST', body: '{}' })).toBe(403);
    expect(await on('/manage/jwt/issue', { method: 'POST', body: '{"subject":"alice"}' })).toBe(404);
    // Expired: signed by the relay's secret, a minute ago.
    const expired = await new SignJWT({ role: 'client', capabilities: ['slow'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setJti(randomUUID())
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(new TextEncoder().encode(SECRET));
    expect((await initialize(relay, 'alice', expired)).status).toBe(401);
  });

  it("cannot use another client's 2025 session of the same server, whose id it learned (session hijacking)", async () => {
    const owner = await relay.tokens.issue('alice', ['slow'], 10, 'client');
    const other = await relay.tokens.issue('alice', ['slow'], 10, 'client');
    const { stream, headers } = await getStream(relay, 'alice', owner);
    const ping = { id: 2, method: 'ping' };
    // The other client is told the session does not exist, on every method; its stream cannot be taken.
    expect((await post2025(relay, 'alice', other, ping, headers)).status).toBe(404);
    const stolen = await fetch(mcpUrl(relay, 'alice'), {
      headers: { Authorization: `Bearer ${other}`, Accept: 'text/event-stream', ...headers },
    });
    expect(stolen.status).toBe(404);
    const ended = await fetch(mcpUrl(relay, 'alice'), {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${other}`, ...headers },
    });
    expect(ended.status).toBe(404);
    // The session is untouched: its own client goes on, its stream still open.
    const own = await post2025(relay, 'alice', owner, ping, headers);
    expect(own.status).toBe(200);
    expect(stream.closed).toBe(false);
    stream.close();
  });

  it('cannot list the agent on /agents (its other servers, their endpoints, its activity)', async () => {
    const client = await relay.tokens.issue('alice', ['slow'], 10, 'client');
    const listed = await fetch(new URL('/agents', relay.url), {
      headers: { Authorization: `Bearer ${client}` },
    });
    const body = await listed.text();
    expect(body).not.toContain('secret');
    expect(listed.status).toBe(403);
    expect(body).toContain('agent token');
    // The agent's own token still lists it.
    const own = await fetch(new URL('/agents', relay.url), {
      headers: { Authorization: `Bearer ${agent.token}` },
    });
    expect(own.status).toBe(200);
    expect(await own.text()).toContain('secret');
  });
});

describe('an expired client token', () => {
  let relay: RelayServer;
  let agent: AgentFixture;

  beforeAll(async () => {
    // Keep-alives (and so the relay's periodic checks) every 100 ms.
    relay = await startRelay({ keepAliveMs: 100 });
    agent = await startAgent(relay, { servers: { slow: slowServer() } });
    await linkState(agent.gateway, 'connected');
  }, 60_000);

  afterAll(async () => {
    await agent?.close();
    await relay?.close();
  });

  it('ends the streams it opened once it expires, as a revocation would: an expired token is refused', async () => {
    // A client token that expires in 2 s (the relay issues them by the minute).
    const exp = Math.floor(Date.now() / 1000) + 2;
    const token = await new SignJWT({ role: 'client', capabilities: ['slow'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime(exp)
      .sign(new TextEncoder().encode(SECRET));
    const lasting = await relay.tokens.issue('alice', ['slow'], 10, 'client');
    const get = await getStream(relay, 'alice', token);
    const listen = await listenStream(relay, 'alice', token);
    const kept = await getStream(relay, 'alice', lasting);
    await closedWithin([get.stream, listen], 'the expired token’s streams to end');
    expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000);
    expect((await initialize(relay, 'alice', token)).status).toBe(401);
    expect(kept.stream.closed).toBe(false);
    kept.stream.close();
  });
});
