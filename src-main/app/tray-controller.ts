// The tray: its icon, tooltip and menu follow the control API's `status` and `servers` events (rebuilt on
// each event, never polled), and each menu item runs a control call, the same one the window would make.
// Left click toggles the link where the OS reports clicks (macOS, Windows); on Linux the menu is the only
// reliable surface (StatusNotifier hosts differ in what they report), so it is always set.
// "Copy client config" on a relay creates a client token for the copied servers (issue 12) rather than
// handing out the agent's own token, which could also connect as the agent; on the local endpoint it copies
// the endpoint's simple bearer, which reaches only this machine.
import { join } from 'node:path';

import type { ClientKind, ServerInfo, Status } from '../../src-shared/control.js';
import type { ControlApi } from '../control/control-api.js';
import { endpointSnippets } from '../control/snippets.js';
import type { ElectronPorts, TrayPort } from './electron-ports.js';
import {
  CLIENT_LABELS,
  combineSnippets,
  type TrayActions,
  type TrayLook,
  trayLook,
  trayMenuTemplate,
  trayTooltip,
} from './tray-menu.js';

/** The icon file for `look` on `platform` (Linux: the variant that reads on a dark or light panel). */
export function trayIconPath(
  resources: string,
  platform: NodeJS.Platform,
  look: TrayLook,
  darkPanel: boolean,
): string {
  if (platform === 'darwin') return join(resources, 'tray', 'mac', `${look}Template.png`);
  if (platform === 'win32') return join(resources, 'tray', 'win', `${look}.ico`);
  return join(resources, 'tray', 'linux', `${look}-${darkPanel ? 'dark' : 'light'}.png`);
}

export type TrayControl = Pick<ControlApi, 'invoke' | 'subscribe'>;

/** How long a client token made by "Copy client config" is valid, in days. */
export const CLIENT_TOKEN_DAYS = 30;

export interface TrayControllerOptions {
  ports: Pick<ElectronPorts, 'platform' | 'createTray' | 'buildMenu' | 'prefersDark' | 'clipboard'>;
  control: TrayControl;
  /** The resources/ folder. */
  resources: string;
  /** What the shell does itself (windows, the log folder, quitting). */
  openWindow(): void;
  openLogFolder(): void;
  quit(): void;
  /** Says how an action ended when the menu cannot show it (a notification). */
  report(message: string): void;
}

export class TrayController {
  readonly #options: TrayControllerOptions;
  readonly #tray: TrayPort;
  readonly #unsubscribe: (() => void)[] = [];
  #status: Status;
  #servers: ServerInfo[] = [];
  #startAtLogin = false;
  /** The menu as last built, for tests and for the click handler. */
  template: ReturnType<typeof trayMenuTemplate> = [];

  private constructor(options: TrayControllerOptions, status: Status) {
    this.#options = options;
    this.#status = status;
    this.#tray = options.ports.createTray(this.#icon());
    this.#tray.on('click', () => {
      // macOS and Windows report a left click; Linux may not, and opens the menu instead.
      if (options.ports.platform === 'darwin' || options.ports.platform === 'win32') void this.toggle();
    });
  }

  /** Creates the tray (after `ready`) with the current status, servers and start-at-login state. */
  static async create(options: TrayControllerOptions): Promise<TrayController> {
    // Subscribed before reading, so no change is lost while the reads are in flight: the last event seen
    // is at least as new as a read that overlapped it, so an event wins over the read.
    const events: { status?: Status; servers?: ServerInfo[]; tray?: TrayController } = {};
    const unsubscribe = [
      options.control.subscribe('status', (next) => {
        events.status = next;
        if (!events.tray) return;
        events.tray.#status = next;
        events.tray.render();
      }),
      options.control.subscribe('servers', (next) => {
        events.servers = next;
        if (!events.tray) return;
        events.tray.#servers = next;
        events.tray.render();
      }),
    ];
    const status = await options.control.invoke('status:get', {});
    if (!status.ok) {
      for (const off of unsubscribe) off();
      throw new Error(status.message);
    }
    const servers = await options.control.invoke('servers:list', {});
    const tray = new TrayController(options, events.status ?? status.value);
    tray.#unsubscribe.push(...unsubscribe);
    tray.#servers = events.servers ?? (servers.ok ? servers.value : []);
    events.tray = tray;
    await tray.#readStartAtLogin();
    tray.render();
    return tray;
  }

  get status(): Status {
    return this.#status;
  }

  /** Connects when disconnected (or failed), disconnects otherwise; the tray follows the status event. */
  async toggle(): Promise<void> {
    const state = this.#status.link.state;
    if (state === 'needs-login') return this.#actions.signIn();
    const call = state === 'stopped' || state === 'error' ? 'link:connect' : 'link:disconnect';
    this.#reportFailure(await this.#options.control.invoke(call, {}));
  }

  /** Rebuilds icon, tooltip and menu from the last status and servers. */
  render(): void {
    this.template = trayMenuTemplate(
      { status: this.#status, servers: this.#servers, startAtLogin: this.#startAtLogin },
      this.#actions,
    );
    this.#tray.setImage(this.#icon());
    this.#tray.setToolTip(trayTooltip(this.#status));
    this.#tray.setContextMenu(this.#options.ports.buildMenu(this.template));
  }

  dispose(): void {
    for (const off of this.#unsubscribe.splice(0)) off();
    this.#tray.destroy();
  }

  /**
   * Copies `client`'s configuration for every endpoint. On a relay: with a new client token scoped to the
   * subject and those servers (`clients:createToken`, named "Tray copy <client> <date>", valid
   * CLIENT_TOKEN_DAYS days, listed and revocable in the window's Clients view); nothing is copied when the relay
   * cannot issue one. On the local endpoint: with its simple bearer. Resolves when copied or reported.
   */
  async copyClientConfig(client: ClientKind): Promise<void> {
    const { control, ports } = this.#options;
    const link = this.#status.link;
    if (link.state === 'connected' && link.local) {
      const revealed = await control.invoke('endpoints:list', { reveal: true });
      if (!revealed.ok) return this.#reportFailure(revealed);
      const snippets = revealed.value.endpoints.map((e) => e.snippets[client]);
      return ports.clipboard.writeText(combineSnippets(client, snippets));
    }
    const listed = await control.invoke('endpoints:list', {});
    if (!listed.ok) return this.#reportFailure(listed);
    const endpoints = listed.value.endpoints;
    if (!endpoints.length) {
      return this.#options.report('No server has a public endpoint yet: connect first. Nothing was copied.');
    }
    const name = `Tray copy ${CLIENT_LABELS[client]} ${new Date().toISOString().slice(0, 10)}`;
    const created = await control.invoke('clients:createToken', {
      name,
      servers: endpoints.map((e) => e.server),
      days: CLIENT_TOKEN_DAYS,
    });
    if (!created.ok) {
      return this.#options.report(
        `${created.message} Nothing was copied: the tray copies a client token, never the agent's own.`,
      );
    }
    const header = created.value.header;
    const snippets = endpoints.map((e) => endpointSnippets(e.server, e.url, header)[client]);
    ports.clipboard.writeText(combineSnippets(client, snippets));
    this.#options.report(
      `Copied the ${CLIENT_LABELS[client]} config with a new client token "${name}" for ` +
        `${endpoints.map((e) => e.server).join(', ')}, valid ${CLIENT_TOKEN_DAYS} days. Revoke it in the window's Clients view.`,
    );
  }

  #icon(): string {
    const { ports, resources } = this.#options;
    return trayIconPath(resources, ports.platform, trayLook(this.#status), ports.prefersDark());
  }

  async #readStartAtLogin(): Promise<void> {
    if (!this.#status.autostart) return;
    const result = await this.#options.control.invoke('autostart:get', {});
    if (result.ok) this.#startAtLogin = result.value.enabled;
  }

  #reportFailure(result: { ok: true } | { ok: false; message: string }): void {
    if (!result.ok) this.#options.report(result.message);
  }

  readonly #actions: TrayActions = {
    connect: () => void this.#options.control.invoke('link:connect', {}).then((r) => this.#reportFailure(r)),
    disconnect: () =>
      void this.#options.control.invoke('link:disconnect', {}).then((r) => this.#reportFailure(r)),
    restartServer: (name) =>
      void this.#options.control.invoke('servers:restart', { name }).then((r) => this.#reportFailure(r)),
    copyUrl: (name) => {
      const url = this.#servers.find((s) => s.name === name)?.endpoint;
      if (url) this.#options.ports.clipboard.writeText(url);
    },
    copyClientConfig: (client: ClientKind) => void this.copyClientConfig(client),
    signIn: () =>
      void this.#options.control.invoke('auth:login', {}).then((result) => {
        if (!result.ok) return this.#reportFailure(result);
        // auth:login reconnects the link with the new token where it can; otherwise it applies at the next start.
        const when = result.value.restartRequired ? ' It applies when the app starts again.' : '';
        this.#options.report(`Signed in as ${result.value.subject ?? 'you'}.${when}`);
      }),
    signOut: () => void this.#options.control.invoke('auth:logout', {}).then((r) => this.#reportFailure(r)),
    openWindow: () => this.#options.openWindow(),
    setStartAtLogin: (enabled) =>
      void this.#options.control.invoke('autostart:set', { enabled }).then((result) => {
        this.#reportFailure(result);
        // The checkbox shows what the OS reports, not what was asked for.
        void this.#readStartAtLogin().then(() => this.render());
      }),
    openLogFolder: () => this.#options.openLogFolder(),
    quit: () => this.#options.quit(),
  };
}
