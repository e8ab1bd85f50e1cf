// Where mcp.json, the runtime state and the log live. Compatible with the existing agent first
// (`.mcpassistant/` found by walking up from the working directory), then the per-user directories of
// the OS (env-paths: XDG on Linux, Library on macOS, AppData on Windows).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

import envPaths from 'env-paths';

export const APP_NAME = 'mcpassistant-gateway';
export const PROJECT_DIR = '.mcpassistant';
export const CONFIG_FILE = 'mcp.json';
export const STATE_FILE = '.mcpassistant.json';

export interface UserDirs {
  config: string;
  log: string;
}

export function defaultUserDirs(): UserDirs {
  const paths = envPaths(APP_NAME, { suffix: '' });
  return { config: paths.config, log: paths.log };
}

/** The gateway's log file in the per-user log directory. */
export function logFilePath(userDirs: UserDirs = defaultUserDirs()): string {
  return join(userDirs.log, 'gateway.log');
}

/** The folder of the servers' own log files (`<name>.log`), beside gateway.log. */
export function serverLogDir(userDirs: UserDirs = defaultUserDirs()): string {
  return join(userDirs.log, 'servers');
}

export type PathSource = 'flag' | 'environment' | '.env' | 'walk-up' | 'user-dir' | 'beside-config';

export interface ResolvedPath {
  path: string;
  source: PathSource;
}

export interface GatewayPaths {
  config: ResolvedPath;
  state: ResolvedPath;
  logFile: string;
}

/** The first `.mcpassistant/<file>` from `cwd` up to the root. */
function walkUp(cwd: string, file: string): string | undefined {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const candidate = join(dir, PROJECT_DIR, file);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

export interface PathInputs {
  cwd: string;
  /** AGENT_CONFIG_PATH / AGENT_STATE_PATH (or --config / --state) with where each came from. */
  configPath?: { value: string; source: PathSource };
  statePath?: { value: string; source: PathSource };
  userDirs?: UserDirs;
}

export function resolvePaths(inputs: PathInputs): GatewayPaths {
  const userDirs = inputs.userDirs ?? defaultUserDirs();
  const explicit = (given: { value: string; source: PathSource } | undefined): ResolvedPath | undefined =>
    given && { path: resolve(inputs.cwd, given.value), source: given.source };

  const found = walkUp(inputs.cwd, CONFIG_FILE);
  const config: ResolvedPath =
    explicit(inputs.configPath) ??
    (found
      ? { path: found, source: 'walk-up' }
      : { path: join(userDirs.config, CONFIG_FILE), source: 'user-dir' });

  let state = explicit(inputs.statePath);
  if (!state) {
    const foundState = walkUp(inputs.cwd, STATE_FILE);
    if (foundState) state = { path: foundState, source: 'walk-up' };
    else if (config.source === 'walk-up')
      state = { path: join(dirname(config.path), STATE_FILE), source: 'beside-config' };
    else state = { path: join(userDirs.config, STATE_FILE), source: 'user-dir' };
  }
  return { config, state, logFile: logFilePath(userDirs) };
}
