// The app's preferences: a schema'd electron-store file (run for real, outside Electron, with an absolute cwd).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { openPreferences } from './preferences.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('app preferences', () => {
  it('has defaults, keeps what is set, and refuses a value outside the schema', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpgw-prefs-'));
    dirs.push(dir);
    const prefs = openPreferences(dir);
    expect(prefs.get('firstRunDone')).toBe(false);
    expect(prefs.get('notifications')).toBe(true);
    prefs.set('firstRunDone', true);
    prefs.set('windowBounds', { width: 800, height: 600 });
    expect(openPreferences(dir).get('windowBounds')).toEqual({ width: 800, height: 600 });
    expect(() => prefs.set('windowBounds', { width: 5, height: 600 })).toThrow(/windowBounds/);
    expect(JSON.parse(await readFile(join(dir, 'preferences.json'), 'utf8'))).toMatchObject({
      firstRunDone: true,
    });
    // A hand-broken file: the app starts with the defaults instead of failing.
    await writeFile(join(dir, 'preferences.json'), '{"notifications": "yes"}');
    expect(openPreferences(dir).get('notifications')).toBe(true);
  });
});
