// The soak's node kill (issue 13): three relay processes on one redis-server, four real gateway agents (each
// with the slow server) connected to node B through failover proxies (two fail over to C, two to A), and
// clients calling every agent through nodes A and C under load. Node B is killed (SIGKILL) mid-load: the calls
// it carried fail with a clear error (counted by cause), none hangs past the caller's timeout, none answers 500,
// every agent is reachable again once it has reconnected, and nothing is left in flight on the survivors.
// Figures: bench/results/soak-cluster.json.
import { mkdirSync, writeFileSync } from 'node:fs';

import { afterAll, describe, expect, it } from 'vitest';

import { type GatewayAgent, startGatewayAt } from './support/gateway-agent.js';
import { startRedis } from './support/redis.js';
import { linkState, SECRET, slowServer } from './support/relay-fixture.js';
import { FailoverProxy, type RelayNode, startRelayNode } from './support/relay-nodes.js';
import { watchUnhandled } from './support/soak-watch.js';
import { until, waitForStatus } from './support/wait.js';

const FULL = process.env.npm_lifecycle_event === 'soak';
const AGENTS = 4;
const CONCURRENCY = FULL ? 32 : 16;
/** Load before the kill, and after every agent is back (ms). */
const LOAD_BEFORE_MS = FULL ? 5000 : 2000;
const LOAD_AFTER_MS = FULL ? 5000 : 2000;
const REQUEST_TIMEOUT_S = 10;
/** A call unanswered this long after the caller's timeout counts as hung. */
const HANG_SLACK_MS = 5000;

const figures: Record<string, unknown> = { form: FULL ? 'full' : 'short' };
const watch = watchUnhandled();

afterAll(() => {
  watch.stop();
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/soak-cluster.json', `${JSON.stringify(figures, null, 2)}\n`);
  console.log(`soak, a relay node killed under load:\n${JSON.stringify(figures, null, 2)}`);
});

interface Outcome {
  subject: string;
  node: string;
  startedAt: number;
  endedAt: number;
  /** 'ok', or why it failed: the HTTP status and the first words of the error. */
  outcome: string;
}

describe.sequential('a relay node killed under load', () => {
  it(
    'the calls it carried fail clearly and fast, none hangs, the agents move and are reachable again',
    { timeout: 180_000 },
    async () => {
      const closers: (() => Promise<unknown>)[] = [];
      try {
        const redis = await startRedis();
        closers.push(() => redis.close());
        const nodes = await Promise.all(
          [0, 1, 2].map(() =>
            startRelayNode(redis.url, {
              JWT_SECRET: SECRET,
              JWT_FALLBACK_ENABLED: 'true',
              REQUEST_TIMEOUT_SECONDS: String(REQUEST_TIMEOUT_S),
            }),
          ),
        );
        for (const node of nodes) closers.push(() => node.close());
        const [a, b, c] = nodes as [RelayNode, RelayNode, RelayNode];
        const port = (node: RelayNode) => Number(node.url.port);
        const name = new Map([
          [a, 'A'],
          [b, 'B'],
          [c, 'C'],
        ]);
        const toC = await FailoverProxy.start([port(b), port(c), port(a)]);
        const toA = await FailoverProxy.start([port(b), port(a), port(c)]);
        closers.push(
          () => toC.close(),
          () => toA.close(),
        );

        const subjects = Array.from({ length: AGENTS }, (_, i) => `soak${i}`);
        const tokens = new Map<string, string>();
        const agents: GatewayAgent[] = [];
        for (const [i, subject] of subjects.entries()) {
          const issued = await fetch(new URL('/manage/jwt/issue', a.url), {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ subject, expiry_minutes: 60 }),
          });
          const { token } = (await issued.json()) as { token: string };
          tokens.set(subject, token);
          const agent = await startGatewayAt({
            wsUrl: (i % 2 ? toA : toC).wsUrl,
            token,
            servers: { slow: slowServer() },
          });
          closers.push(() => agent.close());
          agents.push(agent);
        }
        for (const agent of agents) {
          await linkState(agent.gateway, 'connected');
          await waitForStatus(agent.gateway.servers, 'slow', (s) => s.state === 'running');
        }
        const health = async (node: RelayNode) =>
          (await (await fetch(new URL('/healthz', node.url))).json()) as {
            agents: number;
            cluster: { outgoing: number; incoming: number };
          };
        expect((await health(b)).agents).toBe(AGENTS);

        // ── the load: sessionless JSON-RPC POSTs through A and C, one call in four a 300 ms wait ─────────
        const outcomes: Outcome[] = [];
        let stopping = false;
        let n = 0;
        const callOnce = async (): Promise<void> => {
          const i = n++;
          const subject = subjects[i % AGENTS]!;
          const node = i % 2 ? a : c;
          const wait = i % 4 === 0;
          const startedAt = Date.now();
          let outcome: string;
          try {
            const res = await fetch(new URL(`/${subject}/slow/mcp`, node.url), {
              method: 'POST',
              headers: {
                Authorization: `Bearer ${tokens.get(subject)!}`,
                'Content-Type': 'application/json',
              },
              body: JSON.stringify({
                jsonrpc: '2.0',
                id: i,
                method: 'tools/call',
                params: wait
                  ? { name: 'wait', arguments: { ms: 300, label: `load-${i}` } }
                  : { name: 'echo', arguments: { message: `m${i}` } },
              }),
              signal: AbortSignal.timeout(REQUEST_TIMEOUT_S * 1000 + HANG_SLACK_MS),
            });
            const body = (await res.json()) as { result?: { isError?: boolean }; error?: unknown };
            if (res.status === 200 && body.result && !body.result.isError) outcome = 'ok';
            else {
              const error = body.error as { message?: string } | string | undefined;
              const message = typeof error === 'string' ? error : (error?.message ?? JSON.stringify(body));
              outcome = `${res.status} ${message.replace(/"[^"]*"/g, '…').slice(0, 60)}`;
            }
          } catch (error) {
            outcome =
              (error as Error).name === 'TimeoutError' ? 'hung' : `client error ${(error as Error).message}`;
          }
          outcomes.push({ subject, node: name.get(node)!, startedAt, endedAt: Date.now(), outcome });
        };
        const workers = Array.from({ length: CONCURRENCY }, async () => {
          while (!stopping) await callOnce();
        });

        await new Promise((resolve) => setTimeout(resolve, LOAD_BEFORE_MS)); // the load runs meanwhile
        const before = outcomes.length;
        const inFlightAtKill = (await health(a)).cluster.outgoing + (await health(c)).cluster.outgoing;
        const killedAt = Date.now();
        await b.kill();
        // Each agent is back when a call to it that started after the kill succeeds.
        const back = new Map<string, number>();
        await until(
          () => {
            for (const o of outcomes)
              if (o.outcome === 'ok' && o.startedAt > killedAt && !back.has(o.subject))
                back.set(o.subject, o.endedAt - killedAt);
            return back.size === AGENTS;
          },
          30_000,
          'every agent to answer again',
        );
        const allBackAt = killedAt + Math.max(...back.values());
        await new Promise((resolve) => setTimeout(resolve, LOAD_AFTER_MS)); // the load runs meanwhile
        stopping = true;
        await Promise.all(workers);

        const failed = outcomes.filter((o) => o.outcome !== 'ok');
        const causes: Record<string, number> = {};
        for (const o of failed) causes[o.outcome] = (causes[o.outcome] ?? 0) + 1;
        const failedAfterBack = failed.filter((o) => o.startedAt > allBackAt);
        const slowestFailureMs = Math.max(0, ...failed.map((o) => o.endedAt - o.startedAt));
        Object.assign(figures, {
          relays: 3,
          agents: AGENTS,
          concurrency: CONCURRENCY,
          calls: outcomes.length,
          callsBeforeKill: before,
          callsInFlightAcrossNodesAtKill: inFlightAtKill,
          failedCalls: failed.length,
          failedCauses: causes,
          failedAfterAllAgentsBack: failedAfterBack.length,
          hung: outcomes.filter((o) => o.outcome === 'hung').length,
          slowestFailureMs,
          agentBackAfterMs: Object.fromEntries(back),
          agentsMovedTo: { A: (await health(a)).agents, C: (await health(c)).agents },
          // When each gateway's link was up again (its reconnect delay), against when calls reached it.
          agentReconnectedAfterMs: agents.map(
            (agent) =>
              (agent.states.find((s) => s.at >= killedAt && s.state.state === 'connected')?.at ?? NaN) -
              killedAt,
          ),
        });

        expect(before).toBeGreaterThan(50);
        expect(figures['hung']).toBe(0);
        expect(failed.filter((o) => o.outcome.startsWith('500'))).toEqual([]);
        expect(failed.filter((o) => o.outcome.startsWith('client error'))).toEqual([]);
        // A failed call says why, and not after the caller's timeout.
        expect(slowestFailureMs).toBeLessThan(REQUEST_TIMEOUT_S * 1000 + 1000);
        expect(failedAfterBack).toEqual([]);
        expect(Math.max(...back.values())).toBeLessThan(10_000);
        // The agents moved: two to C, two to A.
        expect(figures['agentsMovedTo']).toEqual({ A: AGENTS / 2, C: AGENTS / 2 });
        // Nothing left in flight on the survivors.
        await until(
          async () => {
            const [ha, hc] = [await health(a), await health(c)];
            return (
              ha.cluster.outgoing + ha.cluster.incoming + hc.cluster.outgoing + hc.cluster.incoming === 0
            );
          },
          REQUEST_TIMEOUT_S * 1000,
          'no call in flight across nodes',
        );
        expect(watch.errors).toEqual([]);
      } finally {
        for (const close of closers.reverse()) await close().catch(() => undefined);
      }
    },
  );
});
