// Runs the official MCP conformance suite's server scenarios (scripts/conformance.mjs installs it) against a
// URL and reads back every check's outcome from the files it writes.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
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

/**
 * Scenarios the requirements files run but do not score ("pending" for the suite's reference fixture too, or
 * extensions: tasks). Their checks still take part in `lost`: a relay must not break what the fixture does.
 */
export const UNSCORED = [
  'server-server-sse-polling/',
  'server-json-schema-2020-12/',
  'server-http-header-validation/',
  'server-http-custom-header-server-validation/',
  'server-tasks-',
];

/** The checks that fail in `run`, as `scenario/check-id`. */
export const failing = (run: ConformanceRun): string[] =>
  [...run.checks].filter(([, status]) => status === 'FAILURE').map(([id]) => id);

/** Whether a check's scenario is scored (not UNSCORED). */
export const scored = (id: string): boolean => !UNSCORED.some((prefix) => id.startsWith(prefix));

/**
 * Checks that pass in `direct` and not in `through` (a front before the same server: they fail, are not
 * reached, or end in a WARNING or INFO there), each as `scenario/check-id: <status through the front> <its
 * message>`. Nothing is set aside: a front must not lose what the fixture does, scored or not.
 */
export const lost = (direct: ConformanceRun, through: ConformanceRun): string[] =>
  [...direct.checks]
    .filter(([id, status]) => status === 'SUCCESS' && through.checks.get(id) !== 'SUCCESS')
    .map(([id]) => `${id}: ${through.checks.get(id) ?? 'not run'} ${through.messages.get(id) ?? ''}`.trim());

export interface BearerProxy {
  /** `target`'s URL with this proxy's origin: the suite is pointed here. */
  url: string;
  close(): Promise<void>;
}

/**
 * A forwarder on 127.0.0.1 (port 0) that adds `Authorization: <authorization>` to every request and passes
 * everything else through as it is, streaming both ways (SSE included): the conformance suite has no option
 * to send a bearer, and a front that requires one is tested behind this rather than opened up. A loopback
 * Host for the proxy's port is rewritten to the target's port; a foreign Host (the suite's DNS-rebinding
 * scenario) is passed on unchanged. An upstream that cannot be reached is answered 502.
 */
export async function startBearerProxy(target: string, authorization: string): Promise<BearerProxy> {
  const upstream = new URL(target);
  const sockets = new Set<Socket>();
  let port = 0;
  const server = createServer((req, res) => {
    // A loopback Host for this proxy's port becomes the same name with the target's port; any other Host
    // goes on as it is, so that the suite's DNS-rebinding checks reach the front's own Host check.
    const host = req.headers.host ?? '';
    const own = /^(127\.0\.0\.1|localhost|\[::1\]):(\d+)$/i.exec(host);
    const headers = {
      ...req.headers,
      host: own && Number(own[2]) === port ? `${own[1]}:${upstream.port}` : host,
      authorization,
    };
    const forward = httpRequest(
      { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        // SSE events must reach the suite as they come: no buffering on the way.
        res.flushHeaders();
        answer.pipe(res);
      },
    );
    forward.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' }).end(String(error));
      else res.destroy();
    });
    // The suite closing a stream ends the forwarded request too (a 2026-era cancel is a closed stream).
    res.on('close', () => forward.destroy());
    req.pipe(forward);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  return {
    url: new URL(`${upstream.pathname}${upstream.search}`, `http://127.0.0.1:${port}`).href,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
