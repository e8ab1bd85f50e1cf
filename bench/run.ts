// `npm run bench`: one SDK Client drives tools/call `echo` {message: 'hi'} over three paths, and the
// numbers are set against the targets of ../shared/DESIGN.md ("Performance facts measured on this machine"):
//   (a) stdio straight to server-everything                 (what a local client gets without us)
//   (b) the SDK's own Streamable HTTP server, in a child     (the HTTP floor)
//   (c) client → relay → agent → server-everything           (the built CLI's `run`, local endpoint)
// For each: latency at 1 in flight, throughput at 16 and 64 in flight, and the server side's CPU per call at
// 64 in flight from /proc. Targets are reported, not asserted: the exit code is non-zero only when a path
// fails to run. Results go to bench/results/latest.json.
//
// Knobs (environment): BENCH_ONLY=a,c runs some paths; BENCH_SECONDS=3 sets the 64-in-flight window;
// BENCH_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" passes Node flags to the gateway process.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';

import { type Call, inFlight, type Latency, latency, type Throughput } from './load.js';
import { CLK_TCK, cmdline, cpuMs, descendants, isAlive, own, ownPid, stopAll, stopTree } from './proc.js';

// dist/bench/run.js → the repository root.
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const require = createRequire(import.meta.url);
const EVERYTHING = join(
  dirname(require.resolve('@modelcontextprotocol/server-everything/package.json')),
  'dist',
  'index.js',
);
const SDK_VERSION = (require('@modelcontextprotocol/sdk/package.json') as { version: string }).version;

// The SDK's HTTP client transport hands one AbortSignal to every fetch; undici adds a listener to it per
// request (dropped only when the Request is garbage-collected) and resets the signal's limit to 1500 each
// time, so a busy session makes Node print a MaxListenersExceededWarning with a stack trace on most calls.
// That is the client's business, equal for (b) and (c): say each kind of warning once, not thousands of times.
process.removeAllListeners('warning');
const warned = new Set<string>();
process.on('warning', (warning) => {
  if (warned.has(warning.name)) return;
  warned.add(warning.name);
  console.error(`bench: ${warning.name}: ${warning.message} (not repeated)`);
});

const SETTINGS = {
  latencyWarmup: 50,
  latencyCalls: 300,
  warmupCalls: { 16: 200, 64: 400 } as Record<number, number>,
  windowMs: { 16: 2000, 64: Math.round(Number(process.env['BENCH_SECONDS'] ?? 3) * 1000) } as Record<
    number,
    number
  >,
};

/** DESIGN.md targets. */
const TARGET_CPU_MS_PER_CALL = 0.25;

interface CpuReading {
  pid: number;
  what: string;
  ms: number;
  msPerCall: number;
}

interface PathResult {
  id: 'a' | 'b' | 'c';
  label: string;
  ok: boolean;
  error?: string;
  setupMs?: number;
  latency?: Latency;
  c16?: Throughput;
  c64?: Throughput;
  /** The process(es) under test: (a) server-everything, (b) the SDK server, (c) relay + agent. */
  serverCpu?: CpuReading;
  /** (c) only: server-everything, the gateway's child, reported apart. */
  childCpu?: CpuReading;
  clientCpuMsPerCall?: number;
  /** (c) only: the gateway's server-everything processes after the load (one expected). */
  everythingChildren?: number;
  /** Every process this path started was gone after it stopped. */
  cleanExit?: boolean;
}

interface Target {
  client: Client;
  /** The process whose CPU is the path's server cost. */
  server: { pid: number; what: string };
  child?: { pid: number; what: string };
  /** Counted after the load. */
  everythingChildren?: () => number;
  /** Every pid the path started, checked after close. */
  pids: () => number[];
  close(): Promise<void>;
}

const echo = (client: Client): Call => {
  return async () => {
    const result = (await client.callTool({ name: 'echo', arguments: { message: 'hi' } })) as CallToolResult;
    if (result.isError) throw new Error(`echo failed: ${JSON.stringify(result.content)}`);
    return result;
  };
};

function newClient(): Client {
  return new Client({ name: 'mcpassistant-bench', version: '1.0.0' });
}

// ── the three paths ─────────────────────────────────────────────────────────────────────────────────────

async function stdioPath(): Promise<Target> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [EVERYTHING, 'stdio'],
    stderr: 'pipe',
  });
  // server-everything logs to stderr; keep the pipe drained so that it never blocks.
  transport.stderr?.on('data', () => undefined);
  const client = newClient();
  await client.connect(transport);
  const pid = transport.pid;
  if (!pid) throw new Error('the stdio transport has no child pid');
  ownPid(pid);
  return {
    client,
    server: { pid, what: 'server-everything' },
    pids: () => [pid],
    close: () => client.close(),
  };
}

/** Lines of a child's stdout, and a wait for the first match of a pattern in what it has printed. */
function watchOutput(child: ChildProcess) {
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return {
    stdout: () => stdout,
    stderr: () => stderr,
    waitFor(pattern: RegExp, what: string, timeoutMs = 20_000): Promise<RegExpExecArray> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(stdout);
          if (match) {
            done();
            resolve(match);
          }
        };
        const exited = (code: number | null, signal: string | null) => {
          done();
          reject(
            new Error(
              `the process exited (${code ?? signal}) before printing ${what}\nstdout:\n${stdout}\nstderr:\n${stderr}`,
            ),
          );
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${what} within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          child.stdout!.off('data', check);
          child.off('exit', exited);
        };
        child.stdout!.on('data', check);
        child.once('exit', exited);
        check();
      });
    },
  };
}

async function sdkHttpPath(): Promise<Target> {
  const script = fileURLToPath(new URL('./sdk-http-server.js', import.meta.url));
  const child = own(spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const output = watchOutput(child);
  const [, port] = await output.waitFor(/^PORT (\d+)$/m, 'its port', 10_000);
  const client = newClient();
  const transport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`));
  await client.connect(transport);
  const pid = child.pid!;
  return {
    client,
    server: { pid, what: 'SDK McpServer + StreamableHTTPServerTransport' },
    pids: () => [pid],
    async close() {
      await client.close();
      child.stdin!.end();
      await stopTree(child);
    },
  };
}

async function gatewayPath(dir: string): Promise<Target> {
  const config = join(dir, 'mcp.json');
  await writeFile(
    config,
    JSON.stringify({
      mcpServers: { everything: { command: process.execPath, args: [EVERYTHING, 'stdio'] } },
    }),
  );
  const nodeArgs = (process.env['BENCH_GATEWAY_NODE_ARGS'] ?? '').split(/\s+/).filter(Boolean);
  const child = own(
    spawn(
      process.execPath,
      [...nodeArgs, join(ROOT, 'bin', 'mcpassistant-gateway.js'), 'run', '--config', config],
      {
        cwd: dir,
        env: {
          PATH: process.env['PATH'],
          HOME: dir,
          XDG_CONFIG_HOME: join(dir, 'xdg-config'),
          XDG_STATE_HOME: join(dir, 'xdg-state'),
          XDG_DATA_HOME: join(dir, 'xdg-data'),
          LOCAL_RELAY_PORT: '0',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    ),
  );
  const pid = child.pid!;
  const seen = new Set<number>([pid]);
  const output = watchOutput(child);
  const [, url] = await output.waitFor(/^\s+everything\s+(http:\/\/\S+)\s*$/m, 'the endpoint URL');
  const [, authorization] = await output.waitFor(/Authorization: (Bearer \S+)/, 'the Authorization line');
  await output.waitFor(/✓ everything\s+running/, 'server-everything running');
  const everything = () => descendants(pid).filter((p) => cmdline(p).includes('server-everything'));
  const [childPid, ...more] = everything();
  if (!childPid) throw new Error('server-everything is not a child of the gateway');
  if (more.length) throw new Error(`the gateway started ${more.length + 1} server-everything processes`);
  seen.add(childPid);

  const client = newClient();
  const transport = new StreamableHTTPClientTransport(new URL(url!), {
    requestInit: { headers: { Authorization: authorization! } },
  });
  await client.connect(transport);
  return {
    client,
    server: { pid, what: 'gateway (relay + agent)' },
    child: { pid: childPid, what: 'server-everything (gateway child)' },
    everythingChildren: () => {
      const now = everything();
      now.forEach((p) => seen.add(p));
      return now.length;
    },
    pids: () => {
      descendants(pid).forEach((p) => seen.add(p));
      return [...seen];
    },
    async close() {
      await client.close();
      await stopTree(child, 10_000);
    },
  };
}

// ── measuring ───────────────────────────────────────────────────────────────────────────────────────────

function reading(pid: number, what: string, before: number, calls: number): CpuReading {
  const ms = cpuMs(pid) - before;
  return { pid, what, ms, msPerCall: ms / calls };
}

async function measure(
  id: PathResult['id'],
  label: string,
  start: () => Promise<Target>,
): Promise<PathResult> {
  const result: PathResult = { id, label, ok: false };
  let target: Target | undefined;
  const began = performance.now();
  process.stdout.write(`(${id}) ${label}: `);
  try {
    target = await start();
    result.setupMs = performance.now() - began;
    const call = echo(target.client);
    const first = (await call()) as CallToolResult;
    const text = first.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
    if (!text.includes('hi')) throw new Error(`echo answered ${JSON.stringify(text)}`);

    for (let i = 0; i < SETTINGS.latencyWarmup; i++) await call();
    result.latency = await latency(call, SETTINGS.latencyCalls);
    process.stdout.write(`p50@1 ${fmt(result.latency.p50Ms, 3)} ms; `);

    for (const concurrency of [16, 64] as const) {
      const warm = await inFlight(call, concurrency, { calls: SETTINGS.warmupCalls[concurrency]! });
      if (warm.errors) throw new Error(`${warm.errors} calls failed at ${concurrency}: ${warm.firstError}`);
      const pids = [target.server.pid, ...(target.child ? [target.child.pid] : [])];
      const before = pids.map(cpuMs);
      const clientBefore = process.cpuUsage();
      const run = await inFlight(call, concurrency, { ms: SETTINGS.windowMs[concurrency]! });
      const client = process.cpuUsage(clientBefore);
      if (run.errors) throw new Error(`${run.errors} calls failed at ${concurrency}: ${run.firstError}`);
      result[concurrency === 16 ? 'c16' : 'c64'] = run;
      process.stdout.write(`${fmt(run.callsPerSec, 0)} calls/s@${concurrency}; `);
      if (concurrency === 64) {
        result.serverCpu = reading(target.server.pid, target.server.what, before[0]!, run.calls);
        if (target.child)
          result.childCpu = reading(target.child.pid, target.child.what, before[1]!, run.calls);
        result.clientCpuMsPerCall = (client.user + client.system) / 1000 / run.calls;
      }
    }
    result.everythingChildren = target.everythingChildren?.();
    result.ok = true;
    process.stdout.write(`server CPU ${fmt(result.serverCpu!.msPerCall, 3)} ms/call\n`);
  } catch (error) {
    result.error = error instanceof Error ? error.message : String(error);
    process.stdout.write(`FAILED\n${result.error}\n`);
  } finally {
    if (target) {
      const pids = target.pids();
      try {
        await target.close();
      } catch (error) {
        console.error(`(${id}) close failed: ${error instanceof Error ? error.message : String(error)}`);
      }
      const deadline = Date.now() + 5000;
      while (pids.some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      result.cleanExit = !pids.some(isAlive);
      if (!result.cleanExit) {
        for (const pid of pids.filter(isAlive)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // ignore: it ended meanwhile
          }
        }
        console.error(`(${id}) processes outlived close() and were killed: ${pids.join(', ')}`);
      }
    }
  }
  return result;
}

// ── reporting ───────────────────────────────────────────────────────────────────────────────────────────

function fmt(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? '—' : value.toFixed(digits);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((row) =>
      row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '),
    )
    .join('\n');
}

interface TargetCheck {
  target: string;
  value: string;
  met: boolean;
}

function report(results: PathResult[]) {
  const by = Object.fromEntries(results.map((r) => [r.id, r])) as Partial<
    Record<PathResult['id'], PathResult>
  >;
  const rows = [
    [
      'path',
      'p50@1 ms',
      'p99@1 ms',
      'calls/s@16',
      'calls/s@64',
      'p50@64 ms',
      'server CPU ms/call@64',
      'client CPU ms/call@64',
    ],
    ...results.map((r) => [
      `(${r.id}) ${r.label}`,
      fmt(r.latency?.p50Ms, 3),
      fmt(r.latency?.p99Ms, 3),
      fmt(r.c16?.callsPerSec, 0),
      fmt(r.c64?.callsPerSec, 0),
      fmt(r.c64?.p50Ms, 2),
      r.ok
        ? `${fmt(r.serverCpu?.msPerCall, 3)}${r.childCpu ? ` (+${fmt(r.childCpu.msPerCall, 3)} server-everything)` : ''}`
        : r.error
          ? 'FAILED'
          : '—',
      fmt(r.clientCpuMsPerCall, 3),
    ]),
  ];
  const ratio = (x: number | undefined, y: number | undefined) =>
    x === undefined || y === undefined || !y ? undefined : x / y;
  const a = by.a;
  const b = by.b;
  const c = by.c;
  const ratios = {
    c_over_b_p50: ratio(c?.latency?.p50Ms, b?.latency?.p50Ms),
    c_over_b_p99: ratio(c?.latency?.p99Ms, b?.latency?.p99Ms),
    c_over_b_throughput16: ratio(c?.c16?.callsPerSec, b?.c16?.callsPerSec),
    c_over_b_throughput64: ratio(c?.c64?.callsPerSec, b?.c64?.callsPerSec),
    c_over_b_server_cpu: ratio(c?.serverCpu?.msPerCall, b?.serverCpu?.msPerCall),
    c_over_a_p50: ratio(c?.latency?.p50Ms, a?.latency?.p50Ms),
    c_over_a_throughput64: ratio(c?.c64?.callsPerSec, a?.c64?.callsPerSec),
  };
  const checks: TargetCheck[] = [];
  if (c?.ok && b?.ok) {
    checks.push({
      target: '(c) p50@1 ≤ (b) p50@1',
      value: `${fmt(c.latency!.p50Ms, 3)} vs ${fmt(b.latency!.p50Ms, 3)} ms (×${fmt(ratios.c_over_b_p50, 2)})`,
      met: c.latency!.p50Ms <= b.latency!.p50Ms,
    });
    checks.push({
      target: '(c) throughput@64 ≥ (b) throughput@64',
      value: `${fmt(c.c64!.callsPerSec, 0)} vs ${fmt(b.c64!.callsPerSec, 0)} calls/s (×${fmt(ratios.c_over_b_throughput64, 2)})`,
      met: c.c64!.callsPerSec >= b.c64!.callsPerSec,
    });
  }
  if (c?.ok) {
    checks.push({
      target: `relay + agent CPU ≤ ${TARGET_CPU_MS_PER_CALL} ms/call @64`,
      value: `${fmt(c.serverCpu!.msPerCall, 3)} ms/call`,
      met: c.serverCpu!.msPerCall <= TARGET_CPU_MS_PER_CALL,
    });
    checks.push({
      target: 'one server-everything child per configured server after the load',
      value: `${c.everythingChildren} child(ren)`,
      met: c.everythingChildren === 1,
    });
  }
  const lines = [
    '',
    table(rows),
    '',
    'Ratios (c)/(b): ' +
      [
        `p50@1 ×${fmt(ratios.c_over_b_p50, 2)}`,
        `p99@1 ×${fmt(ratios.c_over_b_p99, 2)}`,
        `calls/s@16 ×${fmt(ratios.c_over_b_throughput16, 2)}`,
        `calls/s@64 ×${fmt(ratios.c_over_b_throughput64, 2)}`,
        `server CPU/call ×${fmt(ratios.c_over_b_server_cpu, 2)}`,
      ].join(', '),
    `Ratios (c)/(a): p50@1 ×${fmt(ratios.c_over_a_p50, 2)}, calls/s@64 ×${fmt(ratios.c_over_a_throughput64, 2)}`,
    '',
    'Targets (DESIGN.md):',
    ...checks.map((t) => `  ${t.met ? 'met   ' : 'MISSED'}  ${t.target}: ${t.value}`),
    '',
    'For reference, DESIGN.md (lean load generator, not the SDK client): SDK transport + McpServer 0.31–0.33 ms' +
      ' CPU/call; direct stdio p50 0.22 ms, ~39,000 calls/s @64. The SDK HTTP client costs ~1 ms CPU per call' +
      ' itself and shares the 2 cores with the servers: judge server capacity by server CPU per call.',
  ];
  return { text: lines.join('\n'), ratios, checks };
}

// ── main ────────────────────────────────────────────────────────────────────────────────────────────────

async function main(): Promise<number> {
  const only = new Set((process.env['BENCH_ONLY'] ?? 'a,b,c').split(',').map((s) => s.trim()));
  const began = performance.now();
  console.log(
    `bench: Node ${process.version}, ${cpus().length} CPU(s), SDK ${SDK_VERSION}, tools/call echo {message:'hi'}; ` +
      `${SETTINGS.latencyCalls} calls @1 after ${SETTINGS.latencyWarmup}, ` +
      `${SETTINGS.windowMs[16]! / 1000} s @16, ${SETTINGS.windowMs[64]! / 1000} s @64`,
  );
  const dir = await mkdtemp(join(tmpdir(), 'mcpgw-bench-'));
  const results: PathResult[] = [];
  try {
    if (only.has('a')) results.push(await measure('a', 'stdio → server-everything', stdioPath));
    if (only.has('b')) results.push(await measure('b', 'SDK Streamable HTTP server (floor)', sdkHttpPath));
    if (only.has('c'))
      results.push(await measure('c', 'relay → agent → server-everything', () => gatewayPath(dir)));
  } finally {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  }
  const { text, ratios, checks } = report(results);
  console.log(text);

  const out = join(ROOT, 'bench', 'results', 'latest.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        clkTck: CLK_TCK,
        sdk: SDK_VERSION,
        settings: SETTINGS,
        durationSeconds: (performance.now() - began) / 1000,
        paths: results,
        ratios,
        targets: checks,
      },
      null,
      2,
    )}\n`,
  );
  console.log(
    `\nWrote ${relative(process.cwd(), out) || out} in ${fmt((performance.now() - began) / 1000, 1)} s.`,
  );
  const failed = results.filter((r) => !r.ok || r.cleanExit === false);
  if (failed.length) {
    console.error(`bench: ${failed.map((r) => `(${r.id})`).join(', ')} failed to run or to clean up`);
    return 1;
  }
  return 0;
}

const code = await main().catch(async (error: unknown) => {
  console.error('bench failed:', error);
  await stopAll();
  return 1;
});
// Idle keep-alive sockets of the HTTP clients would hold the process a few seconds more; the exit hook of
// ./proc.js kills anything still registered.
process.exit(code);
