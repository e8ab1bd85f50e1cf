// The tray menu in each of the five looks: labels, and which items are enabled.
import { describe, expect, it } from 'vitest';

import type { LinkState, ServerInfo, Status } from '../../src-shared/control.js';
import { combineSnippets, type TrayActions, trayLook, trayMenuTemplate, trayTooltip } from './tray-menu.js';

const actions = new Proxy({} as TrayActions, { get: () => () => undefined });
const status = (link: LinkState, extra: Partial<Status> = {}): Status => ({
  link,
  product: { name: 'mcpassistant-gateway', version: '0.1.0' },
  relay: 'https://relay.example.com',
  subject: 'dana',
  signedIn: true,
  autostart: true,
  notices: [],
  ...extra,
});
const server: ServerInfo = {
  name: 'fs',
  state: 'running',
  disabled: false,
  restarts: 0,
  counts: { tools: 11, resources: 0, prompts: 0 },
  endpoint: 'https://relay.example.com/dana/fs/mcp',
};

/** The menu as lines: label, "(off)" when disabled, "☑" when checked. */
function lines(view: Status, servers: ServerInfo[] = [server], startAtLogin = false): string[] {
  return trayMenuTemplate({ status: view, servers, startAtLogin }, actions)
    .filter((item) => item.type !== 'separator')
    .map((item) => `${item.label}${item.enabled === false ? ' (off)' : ''}${item.checked ? ' ☑' : ''}`);
}

describe('the tray menu', () => {
  it('connected', () => {
    const view = status({
      state: 'connected',
      since: 0,
      relay: 'https://relay.example.com',
      subject: 'dana',
      endpoints: {},
      local: false,
    });
    expect(trayLook(view)).toBe('connected');
    expect(lines(view, [server], true)).toEqual([
      'Connected to relay.example.com as dana (off)',
      'Disconnect',
      'Servers',
      'Copy client config',
      'Sign out (dana)',
      'Open window',
      'Start at login ☑',
      'Open log folder',
      'Quit',
    ]);
    expect(trayTooltip(view)).toBe('MCP Assistant Gateway: Connected to relay.example.com as dana');
  });

  it('connecting', () => {
    const view = status({ state: 'connecting', attempt: 3, lastError: 'ECONNREFUSED' });
    expect(trayLook(view)).toBe('connecting');
    expect(lines(view).slice(0, 4)).toEqual([
      'Connecting… (attempt 3) (off)',
      'Disconnect',
      'Servers',
      'Copy client config (off)',
    ]);
    expect(trayTooltip(view)).toBe('MCP Assistant Gateway: Connecting… (attempt 3) (dana)');
  });

  it('disconnected, with the local endpoint (no relay, no sign-in)', () => {
    const view = status({ state: 'stopped' }, { relay: null, subject: null, signedIn: false });
    expect(trayLook(view)).toBe('disconnected');
    expect(lines(view)).toEqual([
      'Disconnected (off)',
      'Connect',
      'Servers',
      'Copy client config (off)',
      'Sign in… (no relay configured) (off)',
      'Open window',
      'Start at login',
      'Open log folder',
      'Quit',
    ]);
  });

  it('needs-login: Connect is off, Sign in… is the way', () => {
    const view = status({ state: 'needs-login', reason: 'no token' }, { signedIn: false });
    expect(trayLook(view)).toBe('needs-login');
    expect(lines(view).slice(0, 5)).toEqual([
      'Sign-in needed (off)',
      'Connect (off)',
      'Servers',
      'Copy client config (off)',
      'Sign in…',
    ]);
  });

  it('error', () => {
    const view = status({ state: 'error', reason: 'the relay refused the token' });
    expect(trayLook(view)).toBe('error');
    expect(lines(view).slice(0, 2)).toEqual(['Error: the relay refused the token (off)', 'Connect']);
  });

  it('lists each server with its state and tools; a disabled one cannot restart; no URL, no copy', () => {
    const view = status({ state: 'stopped' });
    const template = trayMenuTemplate(
      {
        status: view,
        servers: [server, { ...server, name: 'db', disabled: true, counts: undefined, endpoint: undefined }],
        startAtLogin: false,
      },
      actions,
    );
    const servers = template.find((i) => i.label === 'Servers')!.submenu as {
      label: string;
      submenu: { label: string; enabled?: boolean }[];
    }[];
    expect(servers.map((s) => s.label)).toEqual(['fs — running · 11 tools', 'db — disabled']);
    expect(servers[1]!.submenu.map((i) => `${i.label}:${i.enabled}`)).toEqual([
      'Restart:false',
      'Copy URL:false',
    ]);
    const empty = trayMenuTemplate({ status: view, servers: [], startAtLogin: false }, actions);
    expect(empty.find((i) => i.label === 'Servers')!.submenu).toEqual([
      { label: 'No servers in mcp.json', enabled: false },
    ]);
  });

  it('Start at login is off where the front cannot set it', () => {
    expect(lines(status({ state: 'stopped' }, { autostart: false }))).toContain('Start at login (off)');
  });
});

describe('combined client snippets', () => {
  it('merges JSON configs and lists Claude Code commands', () => {
    const a = JSON.stringify({ mcpServers: { a: { url: 'u1' } } });
    const b = JSON.stringify({ mcpServers: { b: { url: 'u2' } } });
    expect(JSON.parse(combineSnippets('cursor', [a, b]))).toEqual({
      mcpServers: { a: { url: 'u1' }, b: { url: 'u2' } },
    });
    expect(combineSnippets('claude-code', ['claude mcp add a', 'claude mcp add b'])).toBe(
      'claude mcp add a\nclaude mcp add b',
    );
  });
});
