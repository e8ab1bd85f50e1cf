// Runs the official MCP conformance suite's server scenarios (scripts/conformance.mjs installs it) against a
// URL and reads back every check's outcome from the files it writes.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { promisify } from 'node:util';

import { ensureConformance } from '../../scripts/conformance.mjs';

export type Revision = '2025-11-25' | '2026-07-28';

export interface ConformanceRun {
  /** Every check's status by `scenario/check-id`: SUCCESS, FAILURE, WARNING, INFO, SKIPPED. */
  checks: Map<string, string>;
  /** The suite's error message of every check that has one, by the same id (what a failure says). */
  messages: Map<string, string>;
  passed: number;
  failed: number;
}

/** Runs `conformance server --url <url> --requirements <revision>`; resolves with every check's outcome. */
export async function runConformance(url: string, revision: Revision): Promise<ConformanceRun> {
  const { node, cli } = ensureConformance();
  const out = await mkdtemp(join(tmpdir(), 'mcpgw-conformance-'));
  try {
    // The exit code is 1 whenever a scored check fails: the outcome is read from the files, not from it.
    await promisify(execFile)(node, [cli, 'server', '--url', url, '--requirements', revision, '-o', out], {
      maxBuffer: 64 * 1024 * 1024,
      timeout: 10 * 60_000,
    }).catch((error: { code?: unknown; killed?: boolean }) => {
      if (typeof error.code !== 'number' || error.killed) throw error;
    });
    const checks = new Map<string, string>();
    const messages = new Map<string, string>();
    for (const file of await readdir(out, { recursive: true })) {
      if (!file.endsWith('checks.json')) continue;
      // <out>/<scenario>[-<timestamp>]/checks.json: the scenario is the folder's name, less the timestamp.
      const folder = relative(out, join(out, file)).split(sep).slice(0, -1).join('/');
      const scenario = folder.replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z?$/, '');
      const list = JSON.parse(await readFile(join(out, file), 'utf8')) as {
        id: string;
        status: string;
        errorMessage?: string;
      }[];
      for (const check of list) {
        checks.set(`${scenario}/${check.id}`, check.status);
        if (check.errorMessage) messages.set(`${scenario}/${check.id}`, check.errorMessage);
      }
    }
    const count = (status: string) => [...checks.values()].filter((s) => s === status).length;
    return { checks, messages, passed: count('SUCCESS'), failed: count('FAILURE') };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}
