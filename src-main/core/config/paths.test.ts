// Where mcp.json and the runtime state live: an explicit path, else `.mcpassistant/` found walking up from the
// working directory (the existing agent's layout), else the per-user directories.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { UserDirs } from './paths.js';
import { logFilePath, resolvePaths } from './paths.js';

let dir: string;
let userDirs: UserDirs;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpgw-paths-'));
  userDirs = { config: join(dir, 'user-config'), log: join(dir, 'user-log') };
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Creates `<folder>/.mcpassistant/<file>` and returns its path. */
async function projectFile(folder: string, file: string): Promise<string> {
  await mkdir(join(folder, '.mcpassistant'), { recursive: true });
  const path = join(folder, '.mcpassistant', file);
  await writeFile(path, '{}');
  return path;
}

describe('resolvePaths', () => {
  it('falls back to the per-user directories when no project folder is found', () => {
    const cwd = join(dir, 'anywhere');
    expect(resolvePaths({ cwd, userDirs })).toEqual({
      config: { path: join(userDirs.config, 'mcp.json'), source: 'user-dir' },
      state: { path: join(userDirs.config, '.mcpassistant.json'), source: 'user-dir' },
      logFile: join(userDirs.log, 'gateway.log'),
    });
    expect(logFilePath(userDirs)).toBe(join(userDirs.log, 'gateway.log'));
  });

  it('finds .mcpassistant/mcp.json walking up from a nested working directory, with the state beside it', async () => {
    const project = join(dir, 'project');
    const config = await projectFile(project, 'mcp.json');
    const cwd = join(project, 'src', 'deep', 'er');
    await mkdir(cwd, { recursive: true });
    const paths = resolvePaths({ cwd, userDirs });
    expect(paths.config).toEqual({ path: config, source: 'walk-up' });
    expect(paths.state).toEqual({
      path: join(project, '.mcpassistant', '.mcpassistant.json'),
      source: 'beside-config',
    });
    // The log stays per user.
    expect(paths.logFile).toBe(join(userDirs.log, 'gateway.log'));
  });

  it('finds the state file itself when it exists, and stops at the nearest project folder', async () => {
    const outer = join(dir, 'outer');
    await projectFile(outer, 'mcp.json');
    await projectFile(outer, '.mcpassistant.json');
    const inner = join(outer, 'inner');
    const innerConfig = await projectFile(inner, 'mcp.json');
    const cwd = join(inner, 'sub');
    await mkdir(cwd, { recursive: true });

    const paths = resolvePaths({ cwd, userDirs });
    expect(paths.config).toEqual({ path: innerConfig, source: 'walk-up' });
    // The state was found further up, so it is not "beside" the inner config.
    expect(paths.state).toEqual({
      path: join(outer, '.mcpassistant', '.mcpassistant.json'),
      source: 'walk-up',
    });
  });

  it('finds the project folder in the working directory itself', async () => {
    const config = await projectFile(dir, 'mcp.json');
    expect(resolvePaths({ cwd: dir, userDirs }).config).toEqual({ path: config, source: 'walk-up' });
  });

  it('lets an explicit path win over a walked-up one, resolving it against the working directory', async () => {
    const project = join(dir, 'project');
    await projectFile(project, 'mcp.json');
    await projectFile(project, '.mcpassistant.json');
    const paths = resolvePaths({
      cwd: project,
      userDirs,
      configPath: { value: 'custom/servers.json', source: 'flag' },
      statePath: { value: join(dir, 'elsewhere', 'state.json'), source: 'environment' },
    });
    expect(paths.config).toEqual({ path: join(project, 'custom', 'servers.json'), source: 'flag' });
    expect(paths.state).toEqual({ path: join(dir, 'elsewhere', 'state.json'), source: 'environment' });
  });

  it('keeps the state in the user directory when only the config path is explicit', () => {
    const paths = resolvePaths({
      cwd: join(dir, 'anywhere'),
      userDirs,
      configPath: { value: join(dir, 'mine', 'mcp.json'), source: '.env' },
    });
    expect(paths.config).toEqual({ path: join(dir, 'mine', 'mcp.json'), source: '.env' });
    expect(paths.state).toEqual({ path: join(userDirs.config, '.mcpassistant.json'), source: 'user-dir' });
  });
});
