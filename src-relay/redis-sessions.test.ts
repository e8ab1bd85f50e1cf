// RedisSessions against a real redis-server: a session's log keeps the in-memory bounds (events and bytes, the
// newest event always kept), event ids increase across two nodes, a server-wide notification is logged into that
// server's sessions only and announced once, and ending a session removes it for every node.
import { randomUUID } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type RedisFixture, startRedis } from '../e2e/support/redis.js';
import { until } from '../e2e/support/wait.js';
import type { SessionMessage } from '../src-shared/cluster.js';
import { EVENT_LOG_BYTES, EVENT_LOG_SIZE } from './mcp-sessions.js';
import { RedisSessions } from './redis-sessions.js';
import { silentLogger } from './relay-log.js';

describe('RedisSessions', () => {
  let redis: RedisFixture;
  let a: RedisSessions;
  let b: RedisSessions;
  const heardByB: SessionMessage[] = [];
  const record = { subject: 'alice', server: 'everything', protocolVersion: undefined };

  beforeAll(async () => {
    redis = await startRedis();
    const make = () =>
      new RedisSessions({ url: redis.url, node: randomUUID(), idleMs: 60_000, log: silentLogger });
    a = make();
    b = make();
    await a.start();
    await b.start();
    b.listen((message) => heardByB.push(message));
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis?.close();
  });

  it('a session made on one node is read on another, with its negotiated version', async () => {
    const id = randomUUID();
    expect(await b.load(id)).toBeUndefined();
    await a.create(id, record);
    await a.setVersion(id, '2025-11-25');
    expect(await b.load(id)).toEqual({ ...record, protocolVersion: '2025-11-25' });
  });

  it('a session keeps the credential it is bound to on every node (another client cannot take it over there)', async () => {
    const id = randomUUID();
    await a.create(id, { ...record, credential: 'jti:owner' });
    expect((await b.load(id))?.credential).toBe('jti:owner');
  });

  it('keeps at most EVENT_LOG_SIZE events, ids increasing across nodes', async () => {
    const id = randomUUID();
    await a.create(id, record);
    const ids: number[] = [];
    for (let i = 0; i < EVENT_LOG_SIZE + 20; i++)
      ids.push(await (i % 2 ? a : b).record(id, 'get', JSON.stringify({ i }), false));
    expect(ids).toEqual(ids.map((_, i) => i + 1));
    const log = await a.log(id);
    expect(log).toHaveLength(EVENT_LOG_SIZE);
    expect(log[0]).toEqual({ seq: 21, stream: 'get', data: JSON.stringify({ i: 20 }) });
  });

  it('keeps at most EVENT_LOG_BYTES of data, but always the newest event', async () => {
    const id = randomUUID();
    await a.create(id, record);
    const big = 'x'.repeat(Math.floor(EVENT_LOG_BYTES / 3));
    for (let i = 0; i < 5; i++) await a.record(id, `post:n.${i}`, big, i === 4);
    const log = await a.log(id);
    expect(log.map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(log.reduce((sum, e) => sum + (e.data?.length ?? 0), 0)).toBeLessThanOrEqual(EVENT_LOG_BYTES);
    expect(log.at(-1)).toMatchObject({ stream: 'post:n.4', final: true });
    const huge = 'y'.repeat(EVENT_LOG_BYTES + 10);
    await a.record(id, 'get', huge, false);
    expect((await a.log(id)).map((e) => e.seq)).toEqual([6]);
  });

  it("logs a server's notification into that server's live sessions only, and announces it once", async () => {
    const mine = [randomUUID(), randomUUID()];
    const other = randomUUID();
    const ended = randomUUID();
    const bob = { ...record, subject: 'bob' };
    for (const id of [...mine, ended]) await a.create(id, bob);
    await a.create(other, { ...bob, server: 'slow' });
    await a.end(ended, bob);
    heardByB.length = 0;
    a.notify('bob', 'everything', '{"jsonrpc":"2.0","method":"notifications/resources/updated"}');
    await until(() => heardByB.some((m) => m.type === 'session_event'), 5000, 'the session_event');
    const event = heardByB.find((m) => m.type === 'session_event')!;
    expect(event).toMatchObject({ data: '{"jsonrpc":"2.0","method":"notifications/resources/updated"}' });
    const events = (event as { events: (string | number)[] }).events;
    expect(new Set(events.filter((e) => typeof e === 'string'))).toEqual(new Set(mine));
    for (const id of mine) expect((await b.log(id)).map((e) => e.stream)).toEqual(['get']);
    expect(await b.log(other)).toEqual([]);
    expect(await b.log(ended)).toEqual([]);
  });

  it('a session unused for its idle limit expires; one touched in time does not', async () => {
    const quick = new RedisSessions({ url: redis.url, node: randomUUID(), idleMs: 400, log: silentLogger });
    await quick.start();
    try {
      const [idle, used] = [randomUUID(), randomUUID()];
      await quick.create(idle, record);
      await quick.create(used, record);
      const started = Date.now();
      await until(
        async () => {
          await quick.touch(used, record);
          return (await quick.load(idle)) === undefined;
        },
        5000,
        'the idle session to expire',
      );
      // The TTL is the idle limit plus the touch interval (a tenth of it).
      expect(Date.now() - started).toBeGreaterThanOrEqual(400);
      expect(await quick.load(used)).toMatchObject({ subject: 'alice' });
    } finally {
      await quick.close();
    }
  });

  it('ending a session removes it for every node and tells them', async () => {
    const id = randomUUID();
    await a.create(id, record);
    await a.record(id, 'get', '{}', false);
    heardByB.length = 0;
    await a.end(id, record);
    expect(await b.load(id)).toBeUndefined();
    expect(await b.log(id)).toEqual([]);
    expect(await b.record(id, 'get', '{}', false)).toBe(0);
    // A node that missed the session_end learns it at its next refresh.
    expect(await b.touch(id, record)).toBe(false);
    await until(() => heardByB.some((m) => m.type === 'session_end'), 5000, 'the session_end');
    expect(heardByB).toContainEqual({ type: 'session_end', node: a.node, session: id });
  });

  it("a client's session id naming another of the session's keys (its log, a server's set) is unknown, not a store failure", async () => {
    // The id comes from the client's Mcp-Session-Id header: `<id>:log` is the session's log (a list) and
    // `of:[…]` a server's set, so reading them as a session's hash fails with WRONGTYPE, which the front
    // answers 503 "cannot reach its session store", sending the client to retry forever instead of 404.
    const id = randomUUID();
    await a.create(id, record);
    await a.record(id, 'get', '{}', false);
    expect(await b.load(`${id}:log`)).toBeUndefined();
    expect(await b.load(`of:${JSON.stringify([record.subject, record.server])}`)).toBeUndefined();
    expect(await b.load('*')).toBeUndefined();
    expect(await b.load(id)).toEqual(record);
  });
});
