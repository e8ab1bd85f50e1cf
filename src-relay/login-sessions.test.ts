// The stores of sign-ins in progress and of app consents, in memory and on a real redis-server, against one
// contract: a sign-in's status changes once however many relays try at once (its code is redeemed once), a
// replay hands back what the code gave once, the bound on sign-ins held; and app consents asked by one relay are
// answered through another and read by a third, the first answer winning.
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type RedisFixture, startRedis } from '../e2e/support/redis.js';
import type { RelayFrame } from '../src-shared/wire.js';
import { AppConsent, type AppConsentStore, type ConsentAgent } from './app-consent.js';
import { type LoginRecord, type LoginSessionStore, MemoryLoginSessionStore } from './login-sessions.js';
import { RedisState } from './redis-state.js';
import { silentLogger } from './relay-log.js';

let redis: RedisFixture;
const states: RedisState[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const state of states) await state.close();
  await redis?.close();
});

/** A RedisState of its own (a relay), under a prefix of this test's. */
async function redisState(prefix: string): Promise<RedisState> {
  const state = new RedisState({ url: redis.url, keyPrefix: prefix, log: silentLogger });
  states.push(state);
  await state.connect();
  return state;
}

const record = (fields: Partial<LoginRecord> = {}): LoginRecord => ({
  id: randomBytes(9).toString('base64url'),
  redirectUri: 'http://127.0.0.1:5000/callback',
  expiresAt: Date.now() + 60_000,
  purpose: 'agent',
  capabilities: ['*'],
  expiryMinutes: 60,
  data: { verifier: 'v' },
  status: 'pending',
  ...fields,
});

describe.each([
  ['memory', () => Promise.resolve([new MemoryLoginSessionStore()] as LoginSessionStore[])],
  [
    'redis (two relays)',
    async () => {
      const prefix = `t${randomBytes(4).toString('hex')}:`;
      return [(await redisState(prefix)).loginSessions(), (await redisState(prefix)).loginSessions()];
    },
  ],
])('LoginSessionStore, %s', (_name, stores) => {
  it('keeps a sign-in with its data, finds it by key while pending, and changes its status once', async () => {
    const [one, other = one] = await stores();
    const created = record({ key: 'state-1' });
    expect(await one!.create(created, 60_000, 100)).toBe(true);
    expect(await other!.get(created.id)).toEqual(created);
    expect((await other!.byKey('state-1'))?.id).toBe(created.id);
    expect(await other!.transition(created.id, 'pending', 'pending', { data: { failures: '1' } })).toBe(true);
    expect((await one!.get(created.id))?.data).toEqual({ failures: '1' });

    // Two relays take the browser's answer at once: one wins.
    const won = await Promise.all([
      one!.transition(created.id, 'pending', 'signed-in', { email: 'a@example.com', codeHash: 'aa' }),
      other!.transition(created.id, 'pending', 'signed-in', { email: 'b@example.com', codeHash: 'bb' }),
    ]);
    expect(won.filter(Boolean)).toHaveLength(1);
    const signedIn = await one!.get(created.id);
    expect(signedIn?.email).toBe(won[0] ? 'a@example.com' : 'b@example.com');
    expect(await one!.byKey('state-1')).toBeUndefined();

    // Redeemed once; a replay hands back what it gave, once.
    const redeemed = await Promise.all([
      one!.transition(created.id, 'signed-in', 'completed'),
      other!.transition(created.id, 'signed-in', 'completed'),
    ]);
    expect(redeemed.filter(Boolean)).toHaveLength(1);
    expect(await one!.transition(created.id, 'completed', 'completed', { family: 'f', tokenId: 't' })).toBe(
      true,
    );
    expect(await other!.replay(created.id)).toEqual({ family: 'f', tokenId: 't' });
    expect(await one!.replay(created.id)).toEqual({});
    expect((await one!.get(created.id))?.status).toBe('replayed');
  });

  it('holds at most `max` sign-ins', async () => {
    const [one, other = one] = await stores();
    expect(await one!.create(record(), 60_000, 2)).toBe(true);
    expect(await other!.create(record(), 60_000, 2)).toBe(true);
    expect(await one!.create(record(), 60_000, 2)).toBe(false);
  });
});

describe('AppConsent on Redis, three relays', () => {
  it('asked by one, answered through another, read by a third; the first answer wins', async () => {
    const prefix = `c${randomBytes(4).toString('hex')}:`;
    const stores: AppConsentStore[] = [];
    for (let i = 0; i < 3; i++) stores.push((await redisState(prefix)).appConsents());
    const sent: RelayFrame[] = [];
    // The owner's agent, connected to relay B; A and C reach it through the cluster (here: directly).
    const agent: ConsentAgent = {
      subject: 'alice',
      features: new Set(['consent']),
      key: 'node-b:1',
      send: (frame) => void sent.push(frame),
    };
    const relays = stores.map(
      (store) => new AppConsent({ agentOf: () => agent, store, timeoutMs: 60_000, log: silentLogger }),
    );
    const [a, b, c] = relays as [AppConsent, AppConsent, AppConsent];
    const question = { subject: 'alice', client_id: 'cid', redirect_host: 'example.com', servers: ['s'] };
    expect(await a.ask('uid-1', question)).toBe('waiting');
    expect(await c.ask('uid-1', question)).toBe('waiting');
    expect(sent).toHaveLength(1);
    const consentId = (sent[0] as { consent_id: string }).consent_id;
    // Another connection of the same subject cannot answer.
    await b.answered(
      { ...agent, key: 'node-c:2' },
      { type: 'consent_answer', consent_id: consentId, allow: true },
    );
    expect(await c.ask('uid-1', question)).toBe('waiting');
    await b.answered(agent, { type: 'consent_answer', consent_id: consentId, allow: false });
    expect(await c.ask('uid-1', question)).toBe('denied');
    // A later click on a page elsewhere does not change it.
    expect(await c.settle('uid-1', 'allowed')).toBe('denied');
    for (const relay of relays) relay.close();
  });
});
