// A revoked credential stops working at once on every open stream (issue 12): a 2025-era client's standalone GET
// stream and POST-as-SSE call, and a 2026-07-28 client's subscriptions/listen stream, each opened with a relay
// client token (JWT) or an OAuth access token, end within a bounded wait when that credential is revoked; the
// call in flight is cancelled at the server; the next request gets 401; another client's stream stays open and
// keeps receiving. With two relays on one Redis, a revocation on relay 1 ends a stream open on relay 2.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { hashPassword } from '../src-relay/identity/password.js';
import type { RelayServer } from '../src-relay/relay-server.js';
import {
  announce,
  BOUND_MS,
  callInFlight,
  closedWithin,
  getStream,
  initialize,
  listenStream,
  logged,
  mcpUrl,
} from './support/mcp-streams.js';
import { oauthClient, toConsentPage } from './support/oauth-client.js';
import { type RedisFixture, startRedis } from './support/redis.js';
import {
  type AgentFixture,
  linkState,
  signInAgent,
  slowServer,
  startAgent,
  startRelay,
} from './support/relay-fixture.js';
import { until, waitForStatus } from './support/wait.js';

const ALICE = { email: 'alice@example.com', password: 'alice password 123' };
async function startAliceAgent(relay: RelayServer, token?: string) {
  const agent = await startAgent(relay, { token, servers: { slow: slowServer() } });
  await linkState(agent.gateway, 'connected');
  await waitForStatus(agent.gateway.servers, 'slow', (s) => s.state === 'running');
  return agent;
}

describe('one relay', () => {
  let dir: string;
  let relay: RelayServer;
  let alice: { subject: string; agent: AgentFixture };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcpgw-stream-revocation-'));
    const usersFile = join(dir, 'users');
    await writeFile(
      usersFile,
      `${ALICE.email}:${await hashPassword(ALICE.password, { N: 2 ** 12, r: 8, p: 1 })}\n`,
    );
    relay = await startRelay({
      oauth: { identity: { provider: 'builtin', usersFile } },
      clientAuthorization: { accessTokenMinutes: 5 },
    });
    const { token, subject } = await signInAgent(relay, ALICE);
    alice = { subject, agent: await startAliceAgent(relay, token) };
  }, 60_000);

  afterAll(async () => {
    await alice?.agent.close();
    await relay?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a revoked client token ends its GET stream, its listen stream and its call in flight (cancelled at the server); another token keeps its stream', async () => {
    const { subject } = alice;
    const revoked = await relay.tokens.issue(subject, ['slow'], 10, 'client');
    const other = await relay.tokens.issue(subject, ['slow'], 10, 'client');
    const get = await getStream(relay, subject, revoked);
    const listen = await listenStream(relay, subject, revoked);
    const call = await callInFlight(relay, alice.agent, subject, revoked, get.headers, 'revoked-jwt-call');
    const kept = await getStream(relay, subject, other);
    const keptListen = await listenStream(relay, subject, other);

    const answer = await fetch(new URL('/manage/jwt/revoke', relay.url), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token: revoked }),
    });
    expect(answer.status).toBe(200);
    await closedWithin([get.stream, listen, call], 'the revoked token’s streams to end');
    await until(
      () => logged(alice.agent, 'cancelled: revoked-jwt-call'),
      BOUND_MS,
      'the call in flight to be cancelled at the server',
    );
    expect((await initialize(relay, subject, revoked)).status).toBe(401);
    // A resumption of the revoked stream is refused too.
    const resumed = await fetch(mcpUrl(relay, subject), {
      headers: {
        Authorization: `Bearer ${revoked}`,
        Accept: 'text/event-stream',
        'Last-Event-ID': '1',
        ...get.headers,
      },
    });
    expect(resumed.status).toBe(401);

    // The other token's streams are open and still deliver.
    expect(kept.stream.closed || keptListen.closed).toBe(false);
    await announce(relay, subject, other);
    await kept.stream.has('notifications/tools/list_changed');
    await keptListen.has('notifications/tools/list_changed');
    kept.stream.close();
  });

  it('an OAuth grant revoked by its client (RFC 7009) ends the streams of its access token; another client’s stay', async () => {
    const { subject } = alice;
    const revoked = await oauthClient(mcpUrl(relay, subject), ALICE, 'Revoked client');
    await revoked.client.close();
    const kept = await oauthClient(mcpUrl(relay, subject), ALICE, 'Kept client');
    await kept.client.close();
    const get = await getStream(relay, subject, revoked.accessToken);
    const listen = await listenStream(relay, subject, revoked.accessToken);
    const keptGet = await getStream(relay, subject, kept.accessToken);

    const answer = await fetch(new URL('/oauth/revoke', relay.url), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: revoked.accessToken, client_id: revoked.clientId }),
    });
    expect(answer.status).toBe(200);
    await closedWithin([get.stream, listen], 'the revoked grant’s streams to end');
    expect((await initialize(relay, subject, revoked.accessToken)).status).toBe(401);
    expect(keptGet.stream.closed).toBe(false);
    await announce(relay, subject, kept.accessToken);
    await keptGet.stream.has('notifications/tools/list_changed');
    keptGet.stream.close();
  });

  it('an OAuth grant the owner ends through /manage/client-grants/revoke ends its streams', async () => {
    const { subject } = alice;
    const revoked = await oauthClient(mcpUrl(relay, subject), ALICE, 'Owner-revoked client');
    await revoked.client.close();
    const get = await getStream(relay, subject, revoked.accessToken);
    const listen = await listenStream(relay, subject, revoked.accessToken);
    const answer = await fetch(new URL('/manage/client-grants/revoke', relay.url), {
      method: 'POST',
      headers: { Authorization: `Bearer ${alice.agent.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ client_id: revoked.clientId }),
    });
    expect(await answer.json()).toEqual({ revoked: 1 });
    await closedWithin([get.stream, listen], 'the owner-revoked grant’s streams to end');
    expect((await initialize(relay, subject, revoked.accessToken)).status).toBe(401);
  });

  it('a grant announced revoked is refused even while its access token is still found (a request racing the revocation)', async () => {
    // A relay can read the access token from the store just before another relay revokes its grant, and learn of
    // the revocation (pub/sub) while it still checks the owner: the request must not open a stream after it.
    // Announcing the revocation alone, the store untouched, is that moment held still.
    const { subject } = alice;
    const racing = await oauthClient(mcpUrl(relay, subject), ALICE, 'Racing client');
    await racing.client.close();
    const grants = (await (
      await fetch(new URL('/manage/client-grants', relay.url), {
        headers: { Authorization: `Bearer ${alice.agent.token}` },
      })
    ).json()) as { grants: { id: string; client_id: string }[] };
    const grant = grants.grants.find((g) => g.client_id === racing.clientId)!;
    await relay.tokens.revokeId(`grant:${grant.id}`);
    expect((await initialize(relay, subject, racing.accessToken)).status).toBe(401);
  });

  it('a refresh token used twice revokes its grant, and that ends the streams of the grant’s access token', async () => {
    const { subject } = alice;
    const flow = await toConsentPage(mcpUrl(relay, subject), ALICE, 'Reusing client');
    const answered = await flow.browser.submit(flow.consent.html, flow.pageUrl, { decision: 'allow' });
    const client = await flow.finish(new URL(answered.callback!).searchParams.get('code')!);
    await client.close();
    const tokens = flow.tokens()!;
    const get = await getStream(relay, subject, tokens.access_token);
    const refresh = () =>
      fetch(new URL('/oauth/token', relay.url), {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: tokens.refresh_token!,
          client_id: flow.clientId()!,
        }),
      });
    expect((await refresh()).status).toBe(200);
    // Still open: a rotation is not a revocation.
    expect(get.stream.closed).toBe(false);
    expect((await refresh()).status).toBe(400);
    await closedWithin([get.stream], 'the reused grant’s stream to end');
    expect((await initialize(relay, subject, tokens.access_token)).status).toBe(401);
  });
});

describe('two relays on one Redis', () => {
  let redis: RedisFixture;
  let one: RelayServer;
  let two: RelayServer;
  let agent: AgentFixture;

  beforeAll(async () => {
    redis = await startRedis();
    one = await startRelay({ redisUrl: redis.url });
    two = await startRelay({ redisUrl: redis.url });
    agent = await startAliceAgent(two);
  }, 60_000);

  afterAll(async () => {
    await agent?.close();
    await one?.close();
    await two?.close();
    await redis?.close();
  });

  it('a client token revoked on relay 1 ends its streams open on relay 2', async () => {
    const revoked = await one.tokens.issue('alice', ['slow'], 10, 'client');
    const other = await one.tokens.issue('alice', ['slow'], 10, 'client');
    const get = await getStream(two, 'alice', revoked);
    const listen = await listenStream(two, 'alice', revoked);
    const kept = await getStream(two, 'alice', other);
    const answer = await fetch(new URL('/manage/jwt/revoke', one.url), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token: revoked }),
    });
    expect(answer.status).toBe(200);
    await closedWithin([get.stream, listen], 'relay 2’s streams of the token revoked on relay 1 to end');
    expect((await initialize(two, 'alice', revoked)).status).toBe(401);
    expect(kept.stream.closed).toBe(false);
    kept.stream.close();
  });
});
