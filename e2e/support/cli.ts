// Running the built CLI as a user would, in a sandbox: its own working directory and per-user folders.
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { until } from './wait.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(ROOT, 'bin', 'mcpassistant-gateway.js');

export interface Sandbox {
  dir: string;
  env: NodeJS.ProcessEnv;
  logFile: string;
  configDir: string;
}

/** A temp dir used as working directory, HOME and XDG dirs, so nothing touches the real user's files. */
export async function createSandbox(): Promise<Sandbox> {
  const dir = await mkdtemp(join(tmpdir(), 'mcpgw-cli-'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    SHELL: process.env['SHELL'],
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, 'xdg-config'),
    XDG_STATE_HOME: join(dir, 'xdg-state'),
    XDG_DATA_HOME: join(dir, 'xdg-data'),
  };
  return {
    dir,
    env,
    logFile: join(dir, 'xdg-state', 'mcpassistant-gateway', 'gateway.log'),
    configDir: join(dir, 'xdg-config', 'mcpassistant-gateway'),
  };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<CliResult>;
}

const running = new Set<CliProcess>();

/** For afterEach: stops whatever a failed test left running (SIGTERM, then SIGKILL to the whole tree). */
export async function stopLeftovers(): Promise<void> {
  for (const cli of running) {
    const tree = [cli.child.pid!, ...descendants(cli.child.pid!)];
    cli.child.kill('SIGTERM');
    const timer = setTimeout(() => tree.forEach((pid) => tryKill(pid)), 5000);
    await cli.exited;
    clearTimeout(timer);
    tree.forEach((pid) => tryKill(pid));
  }
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // ignore: already gone
  }
}

export function startCli(
  args: string[],
  sandbox: Sandbox,
  extraEnv: NodeJS.ProcessEnv = {},
  entry = CLI,
): CliProcess {
  const child = spawn(process.execPath, [entry, ...args], {
    cwd: sandbox.dir,
    env: { ...sandbox.env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<CliResult>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  const cli: CliProcess = { child, stdout: () => stdout, stderr: () => stderr, exited };
  running.add(cli);
  void exited.then(() => running.delete(cli));
  return cli;
}

export function runCli(
  args: string[],
  sandbox: Sandbox,
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<CliResult> {
  return startCli(args, sandbox, extraEnv).exited;
}

/** Every live descendant of `pid`, from /proc (Linux). */
export function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 (ppid) comes after the command name in parentheses, which may itself contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), ppid);
    } catch {
      // ignore: the process ended while we listed /proc
    }
  }
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const [child, ppid] of parents) {
      if (ppid === parent) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return found;
}

/**
 * The page address `mcpassistant-gateway ui --no-open` prints (`Open http://127.0.0.1:<port>/#token=… in your
 * browser.`); throws with the process's output when it prints none within 20 s.
 */
export async function uiAddress(cli: CliProcess): Promise<URL> {
  const printed = () => /Open (http:\S+)/.exec(cli.stdout())?.[1];
  await until(() => printed() !== undefined, 20_000, 'the address').catch((e: Error) => {
    throw new Error(`${e.message}\n${cli.stdout()}${cli.stderr()}`);
  });
  return new URL(printed()!);
}
