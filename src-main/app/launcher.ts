// What `npm start` runs after the build: the Electron app when this machine can show it, else the headless
// gateway as before. Electron's postinstall is off everywhere (`"allowScripts": {"electron": false}`), so
// the binary is fetched here with electron's own install.js, within a time limit, unless the user opted out
// with ELECTRON_SKIP_BINARY_DOWNLOAD. This file never imports `electron`: it runs in plain Node.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import { watchParent } from '../core/parent-watch.js';

/** What the launcher knows about the machine. */
export interface LaunchFacts {
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  /** Path of the Electron executable when it is installed, else undefined. */
  binary: string | undefined;
}

/** What to do next: start Electron, fetch its binary first, or run headless (with the one-line reason). */
export type LaunchDecision =
  { action: 'electron'; binary: string } | { action: 'fetch' } | { action: 'headless'; reason: string };

/** Whether a graphical session is there to show windows and a tray (Linux and BSDs need X11 or Wayland). */
export function hasDisplay(platform: NodeJS.Platform, env: NodeJS.ProcessEnv): boolean {
  if (platform === 'darwin' || platform === 'win32') return true;
  return Boolean(env['DISPLAY'] || env['WAYLAND_DISPLAY']);
}

/** The launcher's decision; pure, so every case is tested. `fetched` is set after one fetch attempt. */
export function decideLaunch(facts: LaunchFacts, fetched?: { ok: boolean; why?: string }): LaunchDecision {
  const { platform, env, binary } = facts;
  if (env['MCPGW_HEADLESS']) return { action: 'headless', reason: 'MCPGW_HEADLESS is set' };
  if (!hasDisplay(platform, env)) {
    return { action: 'headless', reason: 'no display (DISPLAY and WAYLAND_DISPLAY are unset)' };
  }
  if (binary) return { action: 'electron', binary };
  if (fetched && !fetched.ok) {
    return {
      action: 'headless',
      reason: `could not fetch the Electron binary (${fetched.why ?? 'unknown error'}); run \`node node_modules/electron/install.js\` to retry`,
    };
  }
  if (env['ELECTRON_SKIP_BINARY_DOWNLOAD']) {
    return {
      action: 'headless',
      reason: 'the Electron binary is not installed and ELECTRON_SKIP_BINARY_DOWNLOAD is set',
    };
  }
  return fetched
    ? { action: 'headless', reason: 'the Electron binary is still missing after fetching it' }
    : { action: 'fetch' };
}

/** The installed Electron executable, read the way electron's index.js reads it, or undefined. */
export function electronBinary(electronDir: string, env: NodeJS.ProcessEnv): string | undefined {
  const pathFile = join(electronDir, 'path.txt');
  if (!existsSync(pathFile)) return undefined;
  const relative = readFileSync(pathFile, 'utf8');
  const binary = env['ELECTRON_OVERRIDE_DIST_PATH']
    ? join(env['ELECTRON_OVERRIDE_DIST_PATH'], relative || 'electron')
    : join(electronDir, 'dist', relative);
  return existsSync(binary) ? binary : undefined;
}

/**
 * Runs `node <installScript>` (electron's install.js) and resolves whether it ended well within `timeoutMs`;
 * a hung download is killed. Its output goes to stderr, so the user sees the download's progress.
 */
export function fetchBinary(
  installScript: string,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ ok: boolean; why?: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [installScript], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env,
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ ok: false, why: `no answer within ${Math.round(timeoutMs / 1000)} s` });
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ ok: false, why: error.message });
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code === 0 ? { ok: true } : { ok: false, why: `install.js exited with ${code ?? signal}` });
    });
  });
}

export interface LaunchOptions {
  /** The package's root folder (holds package.json, whose `main` is the Electron entry). */
  root: string;
  /** Arguments after `npm start --`. */
  args: string[];
  fetchTimeoutMs?: number;
  /** Where a message goes (stderr). */
  say?(line: string): void;
  /** The electron package's folder (default: resolved from `root`); tests point it at a fake. */
  electronDir?: string;
  platform?: NodeJS.Platform;
  env?: NodeJS.ProcessEnv;
}

/** Decides, fetches once when needed, and returns the final decision (the caller acts on it). */
export async function chooseLaunch(
  options: LaunchOptions,
): Promise<Exclude<LaunchDecision, { action: 'fetch' }>> {
  const electronDir =
    options.electronDir ??
    dirname(createRequire(join(options.root, 'package.json')).resolve('electron/package.json'));
  const env = options.env ?? process.env;
  const facts = (): LaunchFacts => ({
    platform: options.platform ?? process.platform,
    env,
    binary: electronBinary(electronDir, env),
  });
  const first = decideLaunch(facts());
  if (first.action !== 'fetch') return first;
  options.say?.('Fetching the Electron binary (once)…');
  const fetched = await fetchBinary(join(electronDir, 'install.js'), env, options.fetchTimeoutMs ?? 180_000);
  const next = decideLaunch(facts(), fetched);
  return next.action === 'fetch' ? { action: 'headless', reason: 'the Electron binary is missing' } : next;
}

/**
 * Starts Electron on the app and mirrors its exit; SIGINT/SIGTERM/SIGHUP are passed on so the app quits
 * cleanly. When the process that started this one ends (`npm start` runs us through `sh -c`, and a SIGTERM
 * to npm kills that shell, which forwards nothing), Electron gets SIGTERM too, so the app and its servers
 * never outlive the launcher (the headless gateway does the same in `run`).
 */
export function runElectron(binary: string, root: string, args: string[]): void {
  const child = spawn(binary, [root, ...args], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => child.kill(signal));
  }
  const stopWatching = watchParent(() => child.kill('SIGTERM'));
  child.on('exit', (code, signal) => {
    stopWatching();
    process.exit(code ?? (signal ? 1 : 0));
  });
}
