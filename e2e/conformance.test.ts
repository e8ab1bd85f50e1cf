// The official MCP conformance suite (server scenarios) against our conformance fixture, directly and through
// the relay (the fixture as an HTTP `url` entry of a real gateway agent), in the same run. Through the relay at
// least as many checks must pass, and none may fail that passes directly. The suite runs on its own Node 22
// from a scratch folder (scripts/conformance.mjs).
//
// Which revisions are asserted: see REQUIRED below. The counts of every run go to
// bench/results/conformance.json and to the test's output.
import { mkdirSync, writeFileSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RelayServer } from '../src-relay/relay-server.js';
import { type ConformanceRun, type Revision, runConformance } from './support/conformance.js';
import { startConformanceServer } from './support/conformance-server.js';
import type { HttpFixture } from './support/mcp-fixtures.js';
import { type AgentFixture, linkState, startAgent, startRelay } from './support/relay-fixture.js';

/**
 * What the relay does not pass yet that the fixture passes directly (2025-11-25): server→client requests
 * during a call, and the Host check. Emptied as the relay learns them.
 */
const KNOWN_GAPS_2025 = [
  'server-tools-call-sampling/',
  'server-tools-call-elicitation/',
  'server-elicitation-sep1034-defaults/',
  'server-elicitation-sep1330-enums/',
  'server-dns-rebinding-protection/localhost-host-rebinding-rejected',
];

/**
 * 2026-07-28: the fixture speaks the 2025 era only (SDK v1), so most of these checks fail directly too, and the
 * relay's front does not serve the 2026 era yet: what passes through the relay is recorded, and this floor
 * (measured) keeps it from getting worse.
 */
const FLOOR_2026_RELAYED = 8;

/** Scenarios that requirements/2025-11-25.yaml runs but does not score: "pending" in the reference fixture. */
const PENDING_2025 = ['server-server-sse-polling/', 'server-json-schema-2020-12/'];

const results: Record<string, { passed: number; failed: number }> = {};

/**
 * Checks that pass directly and fail (or are not reached) through the relay. A check may pass with another
 * valid outcome: the relay answers a POST that accepts both JSON and SSE with JSON, which the
 * multiple-streams scenario reports as INFO where an SSE answer is a SUCCESS.
 */
function lost(direct: ConformanceRun, relayed: ConformanceRun): string[] {
  return [...direct.checks]
    .filter(([id, status]) => status === 'SUCCESS' && ['FAILURE', undefined].includes(relayed.checks.get(id)))
    .map(([id]) => `${id}: ${relayed.checks.get(id) ?? 'not run'}`);
}

const failing = (run: ConformanceRun) =>
  [...run.checks].filter(([, status]) => status === 'FAILURE').map(([id]) => id);

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
        `through the relay ${relayed.passed} passed, ${relayed.failed} failed`,
      `\n  failing directly: ${failing(direct).join(', ') || 'none'}` +
        `\n  failing through the relay: ${failing(relayed).join(', ') || 'none'}`,
    );
    return { direct, relayed };
  };

  it(
    '2025-11-25: through the relay every check passes that passes directly',
    { timeout: 600_000 },
    async () => {
      const { direct, relayed } = await run('2025-11-25');
      // A fixture that passes little would make the comparison say little.
      // Only scenarios the 2025-11-25 requirements leave unscored (pending) may fail directly.
      expect(failing(direct).filter((id) => !PENDING_2025.some((p) => id.startsWith(p)))).toEqual([]);
      expect(direct.passed).toBeGreaterThan(60);
      expect(
        lost(direct, relayed).filter((id) => !KNOWN_GAPS_2025.some((gap) => id.startsWith(gap))),
      ).toEqual([]);
      const gapChecks = [...direct.checks.keys()].filter((id) =>
        KNOWN_GAPS_2025.some((gap) => id.startsWith(gap)),
      );
      expect(relayed.passed).toBeGreaterThanOrEqual(direct.passed - gapChecks.length);
    },
  );

  it(
    '2026-07-28: counts recorded, the relay at least at its measured floor',
    { timeout: 600_000 },
    async () => {
      const { relayed } = await run('2026-07-28');
      expect(relayed.passed).toBeGreaterThanOrEqual(FLOOR_2026_RELAYED);
    },
  );
});
