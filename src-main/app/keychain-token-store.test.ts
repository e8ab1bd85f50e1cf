// The desktop token store: encrypted with safeStorage (a fake: the OS keychain cannot run here), never in
// plain text on disk; a CLI sign-in in the state file is picked up; Linux's basic_text backend keeps the
// 0600 state file and says so.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { FakeSafeStorage } from '../../e2e/support/fake-electron.js';
import { StateFileTokenStore } from '../core/auth/token-store.js';
import { LogHub } from '../core/logging/log-hub.js';
import { desktopTokenStore } from './keychain-token-store.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
const TOKENS = {
  token: 'eyJ.secret-token.sig',
  refreshToken: 'refresh-secret',
  subject: 'dana',
  relay: 'https://relay.example.com',
};

async function setup(backend = 'gnome_libsecret', platform: NodeJS.Platform = 'linux') {
  const dir = await mkdtemp(join(tmpdir(), 'mcpgw-keychain-'));
  dirs.push(dir);
  const logs = new LogHub();
  const chosen = desktopTokenStore({
    platform,
    safeStorage: new FakeSafeStorage([], backend),
    keychainPath: join(dir, 'tokens.bin'),
    statePath: join(dir, 'state.json'),
    log: logs.logger('tokens'),
  });
  return { dir, logs, ...chosen };
}

describe('the desktop token store', () => {
  it('keeps tokens encrypted (0600), never readable on disk, and reads them back', async () => {
    const { dir, store, backend } = await setup();
    expect(backend).toBe('keychain');
    await store.save(TOKENS);
    const raw = await readFile(join(dir, 'tokens.bin'), 'utf8');
    expect(raw).not.toContain('secret');
    expect((await stat(join(dir, 'tokens.bin'))).mode & 0o777).toBe(0o600);
    expect(await store.load()).toEqual(TOKENS);
    // The state file says which relay and subject, and holds no token.
    const state = await readFile(join(dir, 'state.json'), 'utf8');
    expect(JSON.parse(state)).toEqual({ remote_server_base_url: TOKENS.relay, subject: 'dana' });
    await store.clear();
    expect(await store.load()).toBeUndefined();
  });

  it('uses a sign-in made by the CLI (state file) and moves it into the keychain on the next save', async () => {
    const { dir, store } = await setup();
    const cli = new StateFileTokenStore(join(dir, 'state.json'));
    await cli.save(TOKENS);
    expect((await store.load())?.token).toBe(TOKENS.token);
    await store.save({ ...TOKENS, token: 'eyJ.renewed.sig' });
    expect(await cli.load()).toBeUndefined();
    expect((await store.load())?.token).toBe('eyJ.renewed.sig');
  });

  it('a file it cannot decrypt is reported, not thrown', async () => {
    const { dir, store, logs } = await setup();
    await writeFile(join(dir, 'tokens.bin'), 'garbage');
    expect(await store.load()).toBeUndefined();
    expect(
      logs
        .recent()
        .map((e) => e.message)
        .join('\n'),
    ).toMatch(/cannot be decrypted|expected shape/);
  });

  it('with Linux’s basic_text backend (no keyring) keeps the 0600 state file and says so', async () => {
    const { dir, store, backend, notice } = await setup('basic_text');
    expect(backend).toBe('state-file');
    expect(notice).toMatch(/No keyring .*basic_text.*mode 600/);
    await store.save(TOKENS);
    expect((await stat(join(dir, 'state.json'))).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(join(dir, 'state.json'), 'utf8'))).toMatchObject({
      jwt_token: TOKENS.token,
    });
  });

  it('macOS and Windows use the keychain whatever Linux’s backend query says', async () => {
    expect((await setup('basic_text', 'darwin')).backend).toBe('keychain');
  });
});
