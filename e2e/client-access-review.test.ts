// Faults found by an adversarial review of client access (issue 12), each pinned by a test written before its
// fix. What was tried and held is covered by the tests beside the features (client-authorization,
// consent-from-app, relay-server, stream-revocation).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RelayServer } from '../src-relay/relay-server.js';
import { type AgentFixture, linkState, slowServer, startAgent, startRelay } from './support/relay-fixture.js';

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
