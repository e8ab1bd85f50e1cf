// The official MCP conformance suite (server scenarios) against our conformance fixture directly, through a real
// `mcpassistant-gateway-bridge` process and through the local endpoint of a real `mcpassistant-gateway run`
// process — each with the fixture as an HTTP `url` entry of its mcp.json — in the same run (issue 11: "the
// same scenarios through mcpassistant-gateway-bridge and the local endpoint"). e2e/conformance.test.ts does the
// same for the relay. The counts go to bench/results/conformance-fronts.json and to the test's output.
//
// The suite sends no bearer, and has no option to (`conformance server --help`). How each front is run for it,
// its defaults unchanged:
// - the bridge is started without --token, its default on loopback (any local process may call it, as with
//   any local stdio server; Host and Origin are still checked);
// - the local endpoint always requires its bearer and has no setting that opens it: the suite reaches it
//   through a loopback forwarder that adds the bearer `run` prints (startBearerProxy), and passes a foreign
//   Host on unchanged so the DNS-rebinding scenario meets the endpoint's own check.
//
// Both revisions, as e2e/conformance.test.ts asserts them for the relay (the rules are shared, in
// ./support/conformance.ts): nothing that passes directly is lost through a front, and at least as many checks
// pass.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CONFORMANCE_PACKAGES } from '../scripts/conformance.mjs';
import { CLI, type CliProcess, createSandbox, type Sandbox, startCli, stopLeftovers } from './support/cli.js';
import {
  type BearerProxy,
  type ConformanceRun,
  failing,
  lost,
  type Revision,
  runConformance,
  scored,
  startBearerProxy,
} from './support/conformance.js';
import { startConformanceServer } from './support/conformance-server.js';
import type { HttpFixture } from './support/mcp-fixtures.js';
import { until } from './support/wait.js';

const BRIDGE = CLI.replace('mcpassistant-gateway.js', 'mcpassistant-gateway-bridge.js');
/** Every run's counts are appended here (the last KEEP_RUNS), with the time and the suite's version. */
const RESULTS = 'bench/results/conformance-fronts.json';
const KEEP_RUNS = 50;

type Front = 'bridge' | 'local endpoint';

/** Waits for `pattern` on the process's stdout; fails with its output when it exits or 30 s pass. */
async function printed(cli: CliProcess, pattern: RegExp, what: string): Promise<RegExpExecArray> {
  let match: RegExpExecArray | null = null;
  await until(
    () => (match = pattern.exec(cli.stdout())) !== null || cli.child.exitCode !== null,
    30_000,
    what,
  ).catch(() => undefined);
  if (!match) throw new Error(`no ${what}:\nstdout:\n${cli.stdout()}\nstderr:\n${cli.stderr()}`);
  return match;
}

describe('the MCP conformance suite through the bridge and the local endpoint', () => {
  let fixture: HttpFixture;
  const sandboxes: Sandbox[] = [];
  let proxy: BearerProxy | undefined;
  const urls = {} as Record<Front, string>;
  const results: Record<string, { passed: number; failed: number }> = {};

  beforeAll(async () => {
    fixture = await startConformanceServer();
    // The suite's slowest call (tools-call-with-progress, elicitation) stays well under 30 s.
    const env = { REQUEST_TIMEOUT_SECONDS: '30' };
    const entry = { mcpServers: { conformance: { url: fixture.url } } };

    const bridgeBox = await createSandbox();
    sandboxes.push(bridgeBox);
    const config = join(bridgeBox.dir, 'mcp.json');
    await writeFile(config, JSON.stringify(entry));
    // An HTTP entry is bridged when --name names it; no --token: the bridge's loopback default.
    const bridge = startCli(['--config', config, '--name', 'conformance'], bridgeBox, env, BRIDGE);
    urls.bridge = (
      await printed(bridge, /^conformance\s+(http:\/\/127\.0\.0\.1:\d+\/mcp)\s/m, 'bridge URL')
    )[1]!;
    await printed(bridge, /^Running\./m, 'bridge running');

    const runBox = await createSandbox();
    sandboxes.push(runBox);
    await mkdir(runBox.configDir, { recursive: true });
    await writeFile(join(runBox.configDir, 'mcp.json'), JSON.stringify(entry));
    const run = startCli(['run'], runBox, { ...env, LOCAL_RELAY_PORT: '0' });
    const endpoint = (
      await printed(
        run,
        /^\s+conformance\s+(http:\/\/127\.0\.0\.1:\d+\/local\/conformance\/mcp)$/m,
        'endpoint',
      )
    )[1]!;
    const authorization = (
      await printed(run, /^Clients send the header\s+Authorization: (Bearer \S+)$/m, 'bearer')
    )[1]!;
    await printed(run, /✓ conformance\s+running/, 'the conformance server running');
    proxy = await startBearerProxy(endpoint, authorization);
    urls['local endpoint'] = proxy.url;
  }, 90_000);

  afterAll(async () => {
    await stopLeftovers();
    await proxy?.close();
    await fixture?.close();
    await Promise.all(sandboxes.map((box) => rm(box.dir, { recursive: true, force: true })));
    if (Object.keys(results).length === 0) return;
    mkdirSync('bench/results', { recursive: true });
    let runs: unknown[] = [];
    try {
      const kept = JSON.parse(readFileSync(RESULTS, 'utf8')) as unknown;
      if (Array.isArray(kept)) runs = kept;
    } catch {
      // ignore: the first run writes the file
    }
    runs.push({
      at: new Date().toISOString(),
      suite: CONFORMANCE_PACKAGES['@modelcontextprotocol/conformance'],
      counts: results,
    });
    writeFileSync(RESULTS, `${JSON.stringify(runs.slice(-KEEP_RUNS), null, 2)}\n`);
  });

  /** One suite run directly and one through each front, one after the other (2 cores, timing checks). */
  const runAll = async (revision: Revision) => {
    const direct = await runConformance(fixture.url, revision);
    const fronts = {} as Record<Front, ConformanceRun>;
    for (const front of ['bridge', 'local endpoint'] as const)
      fronts[front] = await runConformance(urls[front], revision);
    results[`${revision} direct`] = { passed: direct.passed, failed: direct.failed };
    const lines = [`conformance ${revision}: direct ${direct.passed} passed, ${direct.failed} failed`];
    for (const [front, run] of Object.entries(fronts)) {
      results[`${revision} ${front}`] = { passed: run.passed, failed: run.failed };
      lines.push(`  through the ${front}: ${run.passed} passed, ${run.failed} failed`);
    }
    lines.push(`  failing directly: ${failing(direct).join(', ') || 'none'}`);
    for (const [front, run] of Object.entries(fronts))
      lines.push(`  failing through the ${front}: ${failing(run).join(', ') || 'none'}`);
    console.log(lines.join('\n'));
    return { direct, fronts };
  };

  for (const [revision, floor] of [
    ['2025-11-25', 60],
    ['2026-07-28', 120],
  ] as const) {
    it(
      `${revision}: nothing fails through either front that passes directly, and as many checks pass`,
      { timeout: 900_000 },
      async () => {
        const { direct, fronts } = await runAll(revision);
        // A fixture that fails scored checks, or passes few, would make the comparison say little.
        expect(failing(direct).filter(scored)).toEqual([]);
        expect(direct.passed).toBeGreaterThan(floor);
        for (const [front, run] of Object.entries(fronts)) {
          expect(lost(direct, run), front).toEqual([]);
          expect(run.passed, front).toBeGreaterThanOrEqual(direct.passed);
        }
      },
    );
  }
});
