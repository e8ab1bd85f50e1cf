// The tray's context menu as data: a pure function of what the control API reports, so every state's
// labels and enabled items are tested without Electron. tray-controller.ts rebuilds it on each event.
import type { ClientKind, ServerInfo, Status } from '../../src-shared/control.js';
import type { MenuItemConstructorOptions } from './electron-ports.js';

/** The five looks of the tray: one icon each in resources/tray. */
export type TrayLook = 'disconnected' | 'connecting' | 'connected' | 'needs-login' | 'error';

export function trayLook(status: Status): TrayLook {
  switch (status.link.state) {
    case 'stopped':
      return 'disconnected';
    case 'starting':
    case 'connecting':
      return 'connecting';
    default:
      return status.link.state;
  }
}

/** What the menu shows. */
export interface TrayView {
  status: Status;
  servers: ServerInfo[];
  /** Start at login as read back from the OS. */
  startAtLogin: boolean;
}

/** What the menu's items do; each goes through the control API (tray-controller.ts). */
export interface TrayActions {
  connect(): void;
  disconnect(): void;
  restartServer(name: string): void;
  copyUrl(name: string): void;
  copyClientConfig(client: ClientKind): void;
  signIn(): void;
  signOut(): void;
  openWindow(): void;
  setStartAtLogin(enabled: boolean): void;
  openLogFolder(): void;
  quit(): void;
}

export const CLIENT_LABELS: Record<ClientKind, string> = {
  'gemini-cli': 'Gemini CLI',
  'claude-code': 'Claude Code',
  cursor: 'Cursor',
  vscode: 'VS Code',
  'claude-desktop': 'Claude Desktop',
};

const host = (url: string) => {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
};

/** The first line of the menu and of the tooltip: the link's state in words. */
export function statusLine(status: Status): string {
  const link = status.link;
  switch (link.state) {
    case 'stopped':
      return 'Disconnected';
    case 'starting':
      return 'Starting…';
    case 'connecting':
      return link.attempt > 1 ? `Connecting… (attempt ${link.attempt})` : 'Connecting…';
    case 'connected':
      return link.local
        ? 'Connected: local endpoint on this computer'
        : `Connected to ${host(link.relay)} as ${link.subject}`;
    case 'needs-login':
      return 'Sign-in needed';
    case 'error':
      return `Error: ${link.reason}`;
  }
}

/** The tooltip: product, state, and the subject when there is one. */
export function trayTooltip(status: Status): string {
  const who = status.subject && status.link.state !== 'connected' ? ` (${status.subject})` : '';
  return `MCP Assistant Gateway: ${statusLine(status)}${who}`;
}

function serverLabel(server: ServerInfo): string {
  const state = server.disabled ? 'disabled' : server.state;
  const tools = server.counts ? ` · ${server.counts.tools} tool${server.counts.tools === 1 ? '' : 's'}` : '';
  return `${server.name} — ${state}${tools}`;
}

/** The menu template for `view`. */
export function trayMenuTemplate(view: TrayView, actions: TrayActions): MenuItemConstructorOptions[] {
  const { status, servers } = view;
  const state = status.link.state;
  const linked = state === 'connected' || state === 'connecting' || state === 'starting';
  const serverItems: MenuItemConstructorOptions[] = servers.length
    ? servers.map((server) => ({
        label: serverLabel(server),
        submenu: [
          {
            label: 'Restart',
            enabled: !server.disabled,
            click: () => actions.restartServer(server.name),
          },
          {
            label: 'Copy URL',
            enabled: server.endpoint !== undefined,
            click: () => actions.copyUrl(server.name),
          },
        ],
      }))
    : [{ label: 'No servers in mcp.json', enabled: false }];
  const signedIn = status.signedIn;
  return [
    { label: statusLine(status), enabled: false },
    linked
      ? { label: 'Disconnect', click: () => actions.disconnect() }
      : {
          label: 'Connect',
          // Without a token a relay refuses the link: signing in is the way forward.
          enabled: state !== 'needs-login',
          click: () => actions.connect(),
        },
    { type: 'separator' },
    { label: 'Servers', submenu: serverItems },
    {
      label: 'Copy client config',
      enabled: state === 'connected',
      submenu: (Object.keys(CLIENT_LABELS) as ClientKind[]).map((client) => ({
        label: CLIENT_LABELS[client],
        click: () => actions.copyClientConfig(client),
      })),
    },
    signedIn
      ? { label: `Sign out${status.subject ? ` (${status.subject})` : ''}`, click: () => actions.signOut() }
      : {
          label: status.relay ? 'Sign in…' : 'Sign in… (no relay configured)',
          enabled: status.relay !== null,
          click: () => actions.signIn(),
        },
    { type: 'separator' },
    { label: 'Open window', click: () => actions.openWindow() },
    {
      label: 'Start at login',
      type: 'checkbox',
      checked: view.startAtLogin,
      enabled: status.autostart,
      click: () => actions.setStartAtLogin(!view.startAtLogin),
    },
    { label: 'Open log folder', click: () => actions.openLogFolder() },
    { type: 'separator' },
    { label: 'Quit', click: () => actions.quit() },
  ];
}

/**
 * One client's configuration for every endpoint: the JSON documents' top-level maps merged (`mcpServers`,
 * `servers`), or one shell command per line for Claude Code.
 */
export function combineSnippets(client: ClientKind, snippets: string[]): string {
  if (client === 'claude-code') return snippets.join('\n');
  const merged: Record<string, Record<string, unknown>> = {};
  for (const text of snippets) {
    for (const [key, value] of Object.entries(JSON.parse(text) as Record<string, Record<string, unknown>>)) {
      merged[key] = { ...merged[key], ...value };
    }
  }
  return JSON.stringify(merged, null, 2);
}
