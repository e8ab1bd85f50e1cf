// The tray's "Copy client config" (issue 12) against a fake of the control API, for the paths an end-to-end
// test does not take: which calls it makes on a relay and on the local endpoint, and that nothing is copied
// (never the agent token) when the relay cannot issue a client token. e2e/consent-from-app.test.ts copies one
// from a real relay and uses it.
import { describe, expect, it } from 'vitest';

import { FakeMenu, FakeTray } from '../../e2e/support/fake-electron.js';
import type { ControlResult, Endpoints, LinkState, Status } from '../../src-shared/control.js';
import { endpointSnippets } from '../control/snippets.js';
import { TrayController } from './tray-controller.js';

const RELAY = 'https://relay.example.com';
const URL_FS = `${RELAY}/dana/fs/mcp`;

function status(link: LinkState): Status {
  return {
    link,
    product: { name: 'mcpassistant-gateway', version: '0.1.0' },
    relay: RELAY,
    subject: 'dana',
    signedIn: true,
    autostart: false,
    notices: [],
  };
}

const connected = (local: boolean): LinkState => ({
  state: 'connected',
  since: 0,
  relay: RELAY,
  subject: 'dana',
  endpoints: { fs: URL_FS },
  local,
});

/** A tray over a control API whose answers are `answers` (by call name); records every call made. */
async function trayWith(link: LinkState, answers: Record<string, ControlResult<unknown>>) {
  const calls: [string, unknown][] = [];
  const reports: string[] = [];
  const clipboard = { text: '' };
  const tray = await TrayController.create({
    ports: {
      platform: 'linux',
      createTray: (image) => new FakeTray(image),
      buildMenu: (template) => new FakeMenu(template),
      prefersDark: () => false,
      clipboard: { writeText: (text) => void (clipboard.text = text) },
    },
    control: {
      invoke: ((name: string, args: unknown) => {
        calls.push([name, args]);
        if (name === 'status:get') return Promise.resolve({ ok: true, value: status(link) });
        if (name === 'servers:list') return Promise.resolve({ ok: true, value: [] });
        return Promise.resolve(answers[name] ?? { ok: false, code: 'internal', message: `no ${name}` });
      }) as never,
      subscribe: () => () => undefined,
    },
    resources: '/nonexistent',
    openWindow: () => undefined,
    openLogFolder: () => undefined,
    quit: () => undefined,
    report: (message) => void reports.push(message),
  });
  return {
    tray,
    calls: () => calls.filter(([n]) => n !== 'status:get' && n !== 'servers:list'),
    reports,
    clipboard,
  };
}

const endpoints = (header: string | null): ControlResult<Endpoints> => ({
  ok: true,
  value: {
    connected: true,
    relay: RELAY,
    subject: 'dana',
    header: header === null ? null : { name: 'Authorization', value: header },
    revealed: header !== null && !header.includes('«hidden»'),
    endpoints: [{ server: 'fs', url: URL_FS, snippets: endpointSnippets('fs', URL_FS, header ?? undefined) }],
  },
});

describe("the tray's Copy client config", () => {
  it('on a relay: asks for a client token for the copied servers and copies a snippet with it', async () => {
    const t = await trayWith(connected(false), {
      'endpoints:list': endpoints('Bearer eyAgent…«hidden»'),
      'clients:createToken': {
        ok: true,
        value: {
          token: {
            id: 'j1',
            name: 'x',
            subject: 'dana',
            relay: RELAY,
            servers: ['fs'],
            createdAt: '2026-12-07T00:00:00.000Z',
            expiresAt: '2027-01-06T00:00:00.000Z',
            expired: false,
          },
          header: 'Bearer eyClient',
          config: '{}',
        },
      },
    });
    await t.tray.copyClientConfig('cursor');
    expect(t.calls()).toEqual([
      ['endpoints:list', {}],
      [
        'clients:createToken',
        {
          name: expect.stringMatching(/^Tray copy Cursor \d{4}-\d{2}-\d{2}$/) as string,
          servers: ['fs'],
          days: 30,
        },
      ],
    ]);
    expect(JSON.parse(t.clipboard.text)).toEqual({
      mcpServers: { fs: { url: URL_FS, headers: { Authorization: 'Bearer eyClient' } } },
    });
    expect(t.reports.at(-1)).toContain('new client token "Tray copy Cursor');
  });

  it('copies nothing, and says why, when the relay cannot issue a client token', async () => {
    const t = await trayWith(connected(false), {
      'endpoints:list': endpoints('Bearer eyAgent…«hidden»'),
      'clients:createToken': {
        ok: false,
        code: 'auth-failed',
        message: 'The relay at https://relay.example.com does not issue client tokens (an older relay).',
      },
    });
    await t.tray.copyClientConfig('gemini-cli');
    expect(t.clipboard.text).toBe('');
    expect(t.calls().map(([n, a]) => [n, (a as { reveal?: boolean }).reveal])).not.toContainEqual([
      'endpoints:list',
      true,
    ]);
    expect(t.reports.at(-1)).toMatch(/older relay\)\. Nothing was copied: the tray copies a client token/);
  });

  it("on the local endpoint: copies the endpoint's simple bearer, no token is created", async () => {
    const t = await trayWith(connected(true), { 'endpoints:list': endpoints('Bearer eyLocal') });
    await t.tray.copyClientConfig('cursor');
    expect(t.calls()).toEqual([['endpoints:list', { reveal: true }]]);
    expect(t.clipboard.text).toContain('Bearer eyLocal');
  });
});
