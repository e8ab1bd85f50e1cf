// What the bench reads about other processes from /proc (Linux): CPU time, children, command lines; and
// the registry of every process the bench starts, so that each is stopped on any exit path.
import { type ChildProcess, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`, 100 almost everywhere). */
export const CLK_TCK = (() => {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(value) && value > 0 ? value : 100;
  } catch {
    return 100;
  }
})();

/** The fields of /proc/<pid>/stat after the command name (field 3, the state, is index 0). */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name is in parentheses and may itself contain spaces and parentheses.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** User + system CPU time of `pid` so far, in milliseconds (utime + stime, fields 14 and 15). */
export function cpuMs(pid: number): number {
  const fields = statFields(pid);
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/** System (kernel) CPU time of `pid` so far, in milliseconds (stime, field 15): syscalls, wake-ups. */
export function systemCpuMs(pid: number): number {
  return (Number(statFields(pid)[12]) * 1000) / CLK_TCK;
}

export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Every live descendant of `pid` (children first, then theirs). */
export function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      parents.set(Number(entry), Number(statFields(Number(entry))[1]));
    } catch {
      // ignore: the process ended while we listed /proc
    }
  }
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const [child, ppid] of parents) {
      if (ppid !== parent) continue;
      found.push(child);
      walk(child);
    }
  };
  walk(pid);
  return found;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return statFields(pid)[0] !== 'Z';
  } catch {
    return false;
  }
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // ignore: already gone
  }
}

const started = new Set<ChildProcess>();
/** Processes the bench did not spawn itself but owns (the SDK's stdio transport spawns its server). */
const ownedPids = new Set<number>();

export function ownPid(pid: number): void {
  ownedPids.add(pid);
}

/** Temporary directories removed on any exit (the normal path removes them itself, earlier). */
const ownedDirs = new Set<string>();

export function ownDir(path: string): string {
  ownedDirs.add(path);
  return path;
}

/** Registers a child the bench started; `stopAll` and the exit hook stop it and its descendants. */
export function own(child: ChildProcess): ChildProcess {
  started.add(child);
  child.once('exit', () => started.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL for the whole tree after `graceMs`. */
export async function stopTree(child: ChildProcess, graceMs = 5000): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  const tree = [pid, ...descendants(pid)];
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
  }
  for (const p of tree) if (isAlive(p)) kill(p, 'SIGKILL');
  started.delete(child);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...started].map((child) => stopTree(child)));
}

/** The last resort, synchronous: whatever is still registered is killed with its tree. */
function killAllNow(): void {
  for (const child of started) {
    if (child.pid === undefined) continue;
    for (const pid of [child.pid, ...descendants(child.pid)]) kill(pid, 'SIGKILL');
  }
  started.clear();
  for (const pid of ownedPids) if (isAlive(pid)) kill(pid, 'SIGKILL');
  ownedPids.clear();
  for (const dir of ownedDirs) rmSync(dir, { recursive: true, force: true });
}

process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    console.error(`bench: ${signal}, stopping what it started`);
    void stopAll().finally(() => process.exit(130));
  });
}

/** CPU time the whole machine spent busy so far, all cores summed, in ms (/proc/stat, first line). */
export function machineBusyMs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return (
    (((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * 1000) /
    CLK_TCK
  );
}
