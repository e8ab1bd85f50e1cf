// The official MCP conformance suite (server scenarios) against our conformance fixture, directly and through
// the relay (the fixture as an HTTP `url` entry of a real gateway agent), in the same run. The suite runs on its
// own Node 22 from a scratch folder (scripts/conformance.mjs). The counts of every run go to
// bench/results/conformance.json and to the test's output.
//
// 2025-11-25 is asserted in full: nothing fails (or goes unreached) through the relay that passes directly, and
// at least as many checks pass. 2026-07-28: the fixture speaks the 2025 era only (SDK v1), so most checks fail
// against it directly, while the relay serves the 2026 era in front of it (modern-front.ts); nothing may be
// lost, and the relay's count is held to a measured floor until the rest of that era is served.
import { mkdirSync, writeFileSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RelayServer } from '../src-relay/relay-server.js';
import { type ConformanceRun, type Revision, runConformance } from './support/conformance.js';
import { startConformanceServer } from './support/conformance-server.js';
import type { HttpFixture } from './support/mcp-fixtures.js';
import { type AgentFixture, linkState, startAgent, startRelay } from './support/relay-fixture.js';

/** Scenarios requirements/2025-11-25.yaml runs but does not score ("pending" for the reference fixture too). */
const UNSCORED_2025 = ['server-server-sse-polling/', 'server-json-schema-2020-12/'];

/**
 * Checks where the relay takes another valid option than the fixture: it answers a POST that accepts both JSON
 * and SSE with JSON (cheaper; spec 2025-11-25, "Sending Messages to the Server"), which this scenario reports as
 * INFO where an SSE answer is a SUCCESS. Such a check must not fail through the relay, and is not counted.
 */
const ALTERNATIVES = ['server-server-sse-multiple-streams/server-sse-streams-functional'];

/**
 * What passes through the relay today at 2026-07-28 (measured; it may only grow). The rest: the suite's
 * input-required and -32021 scenarios call tools only a 2026-era fixture has (test_input_required_result_*,
 * test_missing_capability; e2e/modern-era.test.ts covers the relay's input-required rounds with a 2025-era
 * server instead), listen-stream triggers, and tasks (an extension, unscored).
 */
const FLOOR_2026_RELAYED = 115;

const results: Record<string, { passed: number; failed: number }> = {};

const failing = (run: ConformanceRun) =>
  [...run.checks].filter(([, status]) => status === 'FAILURE').map(([id]) => id);

/** Checks that pass directly and fail, or are not reached, through the relay. */
const lost = (direct: ConformanceRun, relayed: ConformanceRun) =>
  [...direct.checks]
    .filter(([id, status]) => status === 'SUCCESS' && ['FAILURE', undefined].includes(relayed.checks.get(id)))
    .map(([id]) => `${id}: ${relayed.checks.get(id) ?? 'not run'}`);

/** Checks that pass, in scored scenarios, other than the ALTERNATIVES. */
const scoredPasses = (run: ConformanceRun) =>
  [...run.checks].filter(
    ([id, status]) =>
      status === 'SUCCESS' &&
      !UNSCORED_2025.some((prefix) => id.startsWith(prefix)) &&
      !ALTERNATIVES.includes(id),
  ).length;

describe('the MCP conformance suite', () => {
  let fixture: HttpFixture;
  let relay: RelayServer;
  let agent: AgentFixture;

  beforeAll(async () => {
    fixture = await startConformanceServer();
    // The suite sends no bearer; it checks MCP behaviour, not our sign-in.
    relay = await startRelay({ allowUnauthMcp: true, requestTimeoutMs: 30_000 });
    agent = await startAgent(relay, { servers: { conformance: { url: fixture.url } } });
    await linkState(agent.gateway, 'connected');
  });

  afterAll(async () => {
    await agent?.close();
    await relay?.close();
    await fixture?.close();
    mkdirSync('bench/results', { recursive: true });
    writeFileSync('bench/results/conformance.json', `${JSON.stringify(results, null, 2)}\n`);
  });

  const run = async (revision: Revision) => {
    const direct = await runConformance(fixture.url, revision);
    const relayed = await runConformance(new URL('/alice/conformance/mcp', relay.url).href, revision);
    results[`${revision} direct`] = { passed: direct.passed, failed: direct.failed };
    results[`${revision} relay`] = { passed: relayed.passed, failed: relayed.failed };
    console.log(
      `conformance ${revision}: direct ${direct.passed} passed, ${direct.failed} failed; ` +
        `through the relay ${relayed.passed} passed, ${relayed.failed} failed` +
        `\n  failing directly: ${failing(direct).join(', ') || 'none'}` +
        `\n  failing through the relay: ${failing(relayed).join(', ') || 'none'}`,
    );
    return { direct, relayed };
  };

  it(
    '2025-11-25: nothing fails through the relay that passes directly, and as many checks pass',
    { timeout: 600_000 },
    async () => {
      const { direct, relayed } = await run('2025-11-25');
      // A fixture that fails scored checks, or passes few, would make the comparison say little.
      expect(failing(direct).filter((id) => !UNSCORED_2025.some((prefix) => id.startsWith(prefix)))).toEqual(
        [],
      );
      expect(direct.passed).toBeGreaterThan(60);
      expect(lost(direct, relayed)).toEqual([]);
      expect(scoredPasses(relayed)).toBeGreaterThanOrEqual(scoredPasses(direct));
    },
  );

  it(
    '2026-07-28: nothing fails through the relay that passes directly, and the relay holds its floor',
    { timeout: 600_000 },
    async () => {
      const { direct, relayed } = await run('2026-07-28');
      expect(lost(direct, relayed)).toEqual([]);
      expect(relayed.passed).toBeGreaterThanOrEqual(Math.max(FLOOR_2026_RELAYED, direct.passed));
    },
  );
});
