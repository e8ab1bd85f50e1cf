// The CLI's token store: the runtime state file, private to the user.
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, expect, it } from 'vitest';

import { LogHub } from '../logging/log-hub.js';
import { StateFileTokenStore } from './token-store.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpgw-tokens-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

it('saves with the compat keys in a 0600 file, keeps other keys, and clears only what the sign-in wrote', async () => {
  const path = join(dir, 'state.json');
  await writeFile(path, '{ "request_timeout_seconds": 30 }\n', { mode: 0o600 });
  const store = new StateFileTokenStore(path);
  await store.save({
    token: 'jwt-1',
    refreshToken: 'r-1',
    subject: 'sam',
    email: 'sam@example.com',
    authMode: 'oauth',
  });
  expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({
    request_timeout_seconds: 30,
    jwt_token: 'jwt-1',
    refresh_token: 'r-1',
    subject: 'sam',
    auth_profile: { email: 'sam@example.com', auth_mode: 'oauth' },
  });
  expect(await store.load()).toMatchObject({
    token: 'jwt-1',
    refreshToken: 'r-1',
    subject: 'sam',
    email: 'sam@example.com',
  });
  await store.clear();
  expect(await store.load()).toBeUndefined();
  // The backup of the version before held the tokens: it is gone too.
  await expect(stat(`${path}.bak`)).rejects.toThrow();
  // The subject belonged to that sign-in: kept, the next sign-in's token would be refused (issue 8, item 9).
  expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ request_timeout_seconds: 30 });
});

it('makes a token file that others can read private again, and says so', async () => {
  const path = join(dir, 'state.json');
  await writeFile(path, '{ "jwt_token": "jwt-1" }\n');
  await chmod(path, 0o644);
  const logs = new LogHub();
  const store = new StateFileTokenStore(path, logs.logger('tokens'));
  expect((await store.load())?.token).toBe('jwt-1');
  expect((await stat(path)).mode & 0o777).toBe(0o600);
  expect(logs.recent().map((e) => e.message)).toEqual([
    `${path} was readable by others (mode 644); set it to 600`,
  ]);
});
