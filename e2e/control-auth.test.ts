// Sign-in through the control API (what the window's "Sign in" does in a browser): the relay's built-in
// provider served for real, the user played by a real HTTP client that submits the sign-in form.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ControlApi } from '../src-main/control/control-api.js';
import { Gateway } from '../src-main/core/gateway.js';
import { LogHub } from '../src-main/core/logging/log-hub.js';
import type { RelayServer } from '../src-relay/relay-server.js';
import type { Status } from '../src-shared/control.js';
import { linkState, startRelayWithUser } from './support/relay-fixture.js';
import { TestBrowser } from './support/test-browser.js';

const USER = { email: 'erin@example.com', password: 'correct horse battery' };
let relay: RelayServer;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpgw-control-auth-'));
  relay = await startRelayWithUser(dir, USER);
});
afterAll(async () => {
  await relay?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('control API sign-in', () => {
  it('signs in with the browser flow, stores the tokens, says so in `status`, and signs out', async () => {
    const logs = new LogHub();
    const gateway = await Gateway.create({
      cwd: dir,
      env: {},
      flags: { remoteServerBaseUrl: relay.url.href },
      configPath: join(dir, 'mcp.json'),
      statePath: join(dir, 'state.json'),
      userDirs: { config: join(dir, 'user-config'), log: join(dir, 'user-log') },
      logs,
    });
    const opened: URL[] = [];
    const control = new ControlApi(gateway, {
      logs,
      settingsInputs: { cwd: dir, env: {}, flags: { remoteServerBaseUrl: relay.url.href } },
      openUrl: (url) => {
        opened.push(url);
        // The user signs in while the call waits, as in a real browser.
        void (async () => {
          const browser = new TestBrowser();
          const page = await browser.go(url);
          const back = await browser.submit(page.html, url.href, USER);
          await fetch(back.callback!);
        })();
        return Promise.resolve();
      },
    });
    try {
      await writeFile(join(dir, 'mcp.json'), '{ "mcpServers": {} }\n');
      await gateway.start();
      await linkState(gateway, 'needs-login');
      expect(await control.call('auth:whoami', {})).toMatchObject({ ok: true, value: { signedIn: false } });

      const statuses: Status[] = [];
      control.subscribe('status', (s) => statuses.push(s));
      const result = await control.call('auth:login', {});
      expect(result, JSON.stringify(result)).toMatchObject({
        ok: true,
        value: {
          signedIn: true,
          relay: expect.stringContaining(relay.url.host) as string,
          restartRequired: false,
        },
      });
      expect(opened).toHaveLength(1);
      // The link reconnected with the new token at once: no restart.
      await linkState(gateway, 'connected');
      expect(statuses.at(-1)?.signedIn).toBe(true);
      const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as Record<string, unknown>;
      expect(state['jwt_token']).toEqual(expect.any(String));
      // No token reached the logs.
      expect(logs.recent().some((e) => e.message.includes(String(state['jwt_token'])))).toBe(false);

      const out = await control.call('auth:logout', {});
      expect(out).toMatchObject({ ok: true, value: { signedIn: false, restartRequired: false } });
      await linkState(gateway, 'needs-login');
      expect(statuses.at(-1)?.signedIn).toBe(false);
      const after = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as Record<string, unknown>;
      expect(after['jwt_token']).toBeUndefined();

      expect(await control.call('auth:login', { relay: 'not a url' })).toMatchObject({
        ok: false,
        code: 'invalid-args',
      });
    } finally {
      control.dispose();
      await gateway.close();
    }
  });
});
