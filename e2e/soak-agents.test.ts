// The soak's thousand agents (issue 13), in a file of its own so that its process starts clean and the
// relay's memory per idle agent is measured against a quiet baseline (e2e/soak.test.ts has the rest).
// The agents live in a child process (./support/many-agents.mjs); the relay in this one. Each round: every
// agent connects and registers, is called once, and leaves. Figures: bench/results/soak-agents.json.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { closeOwned, own } from './support/owned.js';
import { startRelay } from './support/relay-fixture.js';
import { memory, round2, watchUnhandled } from './support/soak-watch.js';
import { until } from './support/wait.js';

const AGENTS = 1000;
const MiB = 1024 * 1024;
const figures: Record<string, unknown> = {};

const watch = watchUnhandled();
const unhandled = watch.errors;

afterAll(async () => {
  await closeOwned();
  watch.stop();
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/soak-agents.json', `${JSON.stringify(figures, null, 2)}\n`);
  console.log(`soak, a thousand agents:\n${JSON.stringify(figures, null, 2)}`);
});

const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
const echoCall = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: {} } };

describe.sequential('a thousand agents', () => {
  it(
    'connect, are each called once and leave, twice: memory per idle agent, nothing left behind',
    { timeout: 300_000 },
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'mcpgw-soak-'));
      const relay = own(await startRelay({ requestTimeoutMs: 10_000 }));
      const agents = await Promise.all(
        Array.from({ length: AGENTS }, async (_, i) => ({
          subject: `a${i}`,
          token: await relay.tokens.issue(`a${i}`, ['*'], 60),
        })),
      );
      const tokensFile = join(dir, 'tokens.json');
      await writeFile(tokensFile, JSON.stringify(agents));
      const timersBefore = timers();

      /** One round: every agent connects (in a child process), is called once, and leaves. */
      const round = async () => {
        const before = memory();
        const child = spawn(
          process.execPath,
          [
            new URL('./support/many-agents.mjs', import.meta.url).pathname,
            `${relay.url.origin.replace('http', 'ws')}/connect`,
            tokensFile,
          ],
          { stdio: ['pipe', 'pipe', 'inherit'] },
        );
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
        try {
          await until(
            () => out.includes('connected') || child.exitCode !== null,
            120_000,
            'the agents to connect',
          );
          expect(out).toContain(`connected ${AGENTS}`);
          await until(() => relay.agents().length === AGENTS, 30_000, 'every agent registered at the relay');
          const idle = memory();
          let next = 0;
          const failures: string[] = [];
          await Promise.all(
            Array.from({ length: 32 }, async () => {
              while (next < AGENTS) {
                const { subject, token } = agents[next++]!;
                const res = await fetch(new URL(`/${subject}/echo/mcp`, relay.url), {
                  method: 'POST',
                  headers: {
                    Authorization: `Bearer ${token}`,
                    'Content-Type': 'application/json',
                    Accept: 'application/json',
                  },
                  body: JSON.stringify(echoCall),
                });
                const body = await res.text();
                if (res.status !== 200 || !body.includes(`ok ${subject}`))
                  failures.push(`${subject}: ${res.status} ${body}`);
              }
            }),
          );
          const pending = relay.agents().reduce((sum, agent) => sum + agent.inFlight, 0);
          child.stdin.end();
          await until(() => out.includes('closed'), 60_000, 'the agents to close');
          await until(() => relay.agents().length === 0, 30_000, 'every agent gone from the relay');
          await until(
            () => timers() <= timersBefore,
            10_000,
            `timers back to ${timersBefore} (now ${timers()})`,
          );
          return { before, idle, after: memory(), failures, pending };
        } finally {
          child.kill('SIGKILL');
        }
      };

      try {
        const first = await round();
        const second = await round();
        figures['1000 agents'] = {
          agents: AGENTS,
          // The second round's: code is compiled and caches filled by then.
          heapPerIdleAgentKiB: round2((second.idle.heap - second.before.heap) / AGENTS / 1024),
          rssPerIdleAgentKiB: round2((second.idle.rss - second.before.rss) / AGENTS / 1024),
          // The relay's verified-token cache (bounded, 1,024 tokens) keeps what the first round filled.
          heapKeptAfterFirstRoundMiB: round2((first.after.heap - first.before.heap) / MiB),
          heapGrowthOverSecondRoundMiB: round2((second.after.heap - first.after.heap) / MiB),
          pendingCallsAfterCalls: first.pending + second.pending,
          timersBefore,
          timersAfter: timers(),
          failedCalls: first.failures.length + second.failures.length,
        };
        expect([...first.failures, ...second.failures]).toEqual([]);
        expect(first.pending + second.pending).toBe(0);
        // A second thousand agents coming and going leaves nothing more behind than the first did.
        expect(second.after.heap - first.after.heap).toBeLessThan(MiB);
        expect(unhandled).toEqual([]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});
