// The Electron main process's logic, written against ports (electron-ports.ts) so it runs in Vitest with
// fakes: the single-instance lock, one Gateway (the embedded local endpoint or the configured relay), the
// control API over IPC, the tray, windows on demand, the login window, and a quit that awaits the
// gateway's shutdown on every path (menu Quit, before-quit, SIGINT/SIGTERM, the OS ending the session).
//
// Order matters and is tested: the app:// scheme is registered before `ready`; nothing that exists only
// after `ready` (Tray, BrowserWindow, safeStorage, the protocol handler) is touched before it.
import { dirname, join } from 'node:path';

import { ControlApi } from '../control/control-api.js';
import type { TokenStore } from '../core/auth/token-store.js';
import type { PendingConsent } from '../core/bridge/consent-requests.js';
import { errorMessage } from '../core/errors.js';
import type { Gateway } from '../core/gateway.js';
import type { LogHub } from '../core/logging/log-hub.js';
import { APP_ORIGIN, registerAppScheme, serveRenderer } from './app-protocol.js';
import { autostartFor, HIDDEN_ARG } from './autostart.js';
import type { ElectronPorts, WindowPort } from './electron-ports.js';
import { IpcTransport } from './ipc-transport.js';
import { desktopTokenStore } from './keychain-token-store.js';
import { openLoginWindow } from './login-window.js';
import { Notifier } from './notifier.js';
import type { WindowBounds } from './preferences.js';
import { hasStatusNotifierHost, NO_TRAY_HELP } from './status-notifier.js';
import { TrayController } from './tray-controller.js';
import {
  denyPermissions,
  hardenWebContents,
  type NavigationPolicy,
  openExternalSafely,
  secureWebPreferences,
} from './window-security.js';

/** What the first run's window says about start at login (with a button that turns it on). */
const FIRST_RUN_OFFER =
  'The gateway runs from the tray. Start it when you log in, so your servers are always reachable?';

/** The app's preferences as the shell uses them (preferences.ts backs them with electron-store). */
export interface PreferencesPort {
  get(key: 'firstRunDone' | 'notifications'): boolean;
  set(key: 'firstRunDone', value: boolean): void;
  /** The window's last position and size, if any. */
  bounds(): WindowBounds | undefined;
  setBounds(bounds: WindowBounds): void;
}

export interface AppShellOptions {
  ports: ElectronPorts;
  logs: LogHub;
  /** resources/ (tray icons). */
  resources: string;
  /** The built renderer, served on app://gateway. */
  rendererDir: string;
  /** The built preload (one CommonJS file). */
  preloadPath: string;
  argv: string[];
  env: NodeJS.ProcessEnv;
  execPath: string;
  /** Builds the one Gateway with the given token store (after `ready`). */
  createGateway(tokenStore: TokenStore): Promise<Gateway>;
  /** Opened after `ready` (electron-store needs the app's paths). */
  preferences(): PreferencesPort;
  /** Where this process's signals are heard (process in the app; an emitter in tests). */
  signals: { on(signal: 'SIGINT' | 'SIGTERM' | 'SIGHUP', listener: () => void): unknown };
  /** Whether a tray icon will show (Linux: a StatusNotifier host); default: asks D-Bus. */
  hasTray?(): Promise<boolean>;
}

/** The running shell, for the entry point and for tests. */
export interface AppShell {
  /** Resolves when the gateway, the control API and the tray are up (rejects when start-up failed). */
  readonly ready: Promise<void>;
  /** Resolves when the shutdown finished (every child process gone) and `app.exit` was called. */
  readonly stopped: Promise<void>;
  readonly gateway: () => Gateway | undefined;
  readonly control: () => ControlApi | undefined;
  readonly tray: () => TrayController | undefined;
  readonly ipc: () => IpcTransport | undefined;
  readonly window: () => WindowPort | undefined;
  /** Shows (creating when needed) the app's window. */
  openWindow(): WindowPort;
  /** Quits: closes everything, awaits the gateway's shutdown, then exits. Idempotent. */
  quit(reason: string): Promise<void>;
}

/** Starts the shell. The single-instance lock is taken here: a second instance returns `undefined`. */
export function startApp(options: AppShellOptions): AppShell | undefined {
  const { ports, logs } = options;
  const { app } = ports;
  const log = logs.logger('app');
  // Before ready, or Electron refuses it: app:// must be a standard, secure scheme for its pages.
  registerAppScheme(ports.protocol);
  if (!app.requestSingleInstanceLock()) {
    // The first instance hears 'second-instance' and shows its window.
    app.quit();
    return undefined;
  }

  const policies = new Map<number, NavigationPolicy>();
  let gateway: Gateway | undefined;
  let control: ControlApi | undefined;
  let tray: TrayController | undefined;
  let ipc: IpcTransport | undefined;
  let notifier: Notifier | undefined;
  let detachConsent: (() => void) | undefined;
  let window: WindowPort | undefined;
  let preferences: PreferencesPort | undefined;
  let stopping: Promise<void> | undefined;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  const openExternal = (url: string) => void openExternalSafely(ports.shell, url, (m) => log.warn(m));

  // Every webContents, ours or not: navigation denied unless its window registered a policy, no new
  // windows, no <webview>, no permissions.
  app.on('web-contents-created', (_event, contents) => {
    hardenWebContents(
      contents,
      { allowNavigation: (url) => policies.get(contents.id)?.allowNavigation?.(url) ?? false },
      openExternal,
    );
    denyPermissions(contents.session);
  });
  const registerPolicy = (id: number, policy: NavigationPolicy) => {
    policies.set(id, policy);
    return () => void policies.delete(id);
  };

  const openWindow = (): WindowPort => {
    if (window && !window.isDestroyed()) {
      if (window.isMinimized()) window.restore();
      window.show();
      window.focus();
      return window;
    }
    const bounds = preferences?.bounds();
    const created = ports.createWindow({
      width: 880,
      height: 640,
      ...bounds,
      minWidth: 480,
      minHeight: 360,
      show: false,
      title: 'MCP Assistant Gateway',
      webPreferences: secureWebPreferences({ preload: options.preloadPath }),
    });
    window = created;
    created.setMenu(null);
    created.once('ready-to-show', () => created.show());
    created.on('close', () => preferences?.setBounds(created.getBounds()));
    created.on('closed', () => {
      if (window === created) window = undefined;
    });
    created.on('session-end', () => void quit('the session ends'));
    void created.webContents
      .loadURL(`${APP_ORIGIN}/index.html`)
      .catch((error: unknown) => log.error(`the window did not load: ${errorMessage(error)}`));
    return created;
  };

  const quit = (reason: string): Promise<void> => {
    if (stopping) return stopping;
    log.info(`${reason}: stopping the servers`);
    stopping = (async () => {
      // Start-up may still be running: let it finish, so that what it started is closed too.
      await ready.catch(() => undefined);
      notifier?.dispose();
      detachConsent?.();
      tray?.dispose();
      ipc?.dispose();
      control?.dispose();
      try {
        await gateway?.close();
      } catch (error) {
        log.error(`stopping the gateway failed: ${errorMessage(error)}`);
        for (const pid of gateway?.servers.pids() ?? []) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // ignore: already gone
          }
        }
      }
      log.info('stopped');
      // exit, not quit: quit would emit before-quit again; everything is closed already.
      app.exit(0);
      resolveStopped();
    })();
    return stopping;
  };

  app.on('second-instance', () => void ready.then(() => openWindow()));
  app.on('before-quit', (event) => {
    if (stopping) return;
    // Quitting must wait for the servers to stop: cancel this quit, shut down, then exit.
    event.preventDefault();
    void quit('quit');
  });
  // A tray app keeps running without windows.
  app.on('window-all-closed', () => undefined);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    options.signals.on(signal, () => void quit(signal));
  }

  const ready = app.whenReady().then(async () => {
    serveRenderer(ports.protocol, options.rendererDir);
    preferences = options.preferences();
    // The token store needs the gateway's state path and the gateway needs the store: it is chosen just
    // after the gateway is created, before anything loads a token (that happens in start()).
    const chosen: { store?: TokenStore } = {};
    const tokenStore: TokenStore = {
      load: () => chosen.store!.load(),
      save: (tokens) => chosen.store!.save(tokens),
      clear: () => chosen.store!.clear(),
    };
    gateway = await options.createGateway(tokenStore);
    const store = desktopTokenStore({
      platform: ports.platform,
      safeStorage: ports.safeStorage,
      keychainPath: join(app.getPath('userData'), 'tokens.bin'),
      statePath: gateway.settings.paths.state.path,
      log: logs.logger('tokens'),
    });
    chosen.store = store.store;
    const autostart = autostartFor(ports.platform, app, options.execPath, options.env);
    control = new ControlApi(gateway, {
      logs,
      autostart,
      tokenStore,
      pickFolder: async () => {
        const picked = await ports.dialog.showOpenDialog({
          properties: ['openDirectory', 'createDirectory'],
        });
        return picked.canceled ? undefined : picked.filePaths[0];
      },
      openPath: async (path) => {
        // shell.openPath resolves an error message rather than rejecting.
        const failure = await ports.shell.openPath(path);
        if (failure) throw new Error(failure);
      },
      openUrl: (authUrl, redirectUri) => {
        const relay = new URL(authUrl.origin);
        const login = openLoginWindow({
          ports,
          registerPolicy,
          authUrl,
          redirectUri,
          relay,
          log: logs.logger('login'),
        });
        void login.outcome.then((outcome) => log.info(`login window: ${outcome}`));
        return Promise.resolve();
      },
    });
    ipc = new IpcTransport(ports.ipcMain, control, logs.logger('ipc'));
    await gateway.start();
    // An entry written by an older version (or another AppImage path) is rewritten with today's command.
    if (await autostart.get()) await autostart.set(true);

    notifier = new Notifier({
      notify: (title, body) => ports.notify({ title, body, silent: true }),
      enabled: () => preferences?.get('notifications') ?? true,
    });
    control.subscribe('status', (status) => notifier?.status(status));
    control.subscribe('servers', (servers) => notifier?.servers(servers));
    // Consent from the app (issue 12): a client waits on the relay's consent page for the owner's answer.
    // Always notified (the owner started it, in the browser), whatever the preference for the other kinds;
    // the click opens the window, whose Consent view shows the request with Allow and Deny.
    const onConsent = (request: PendingConsent) =>
      ports.notify(
        {
          title: `${request.clientName ?? request.clientId} asks for access`,
          body: `to ${request.servers.join(', ')} on ${request.subject} (answers go to ${request.redirectHost}). Click to allow or deny.`,
        },
        () => void openWindow(),
      );
    gateway.consent.on('requested', onConsent);
    detachConsent = () => gateway?.consent.off('requested', onConsent);
    tray = await TrayController.create({
      ports,
      control,
      resources: options.resources,
      openWindow: () => void openWindow(),
      openLogFolder: () => void ports.shell.openPath(dirname(gateway!.settings.paths.logFile)),
      quit: () => void quit('Quit'),
      report: (message) => ports.notify({ title: 'MCP Assistant Gateway', body: message }),
    });
    ports.onThemeChange(() => tray?.render());
    ports.onSessionEnd(() => void quit('the session ends'));
    const hidden = options.argv.includes(HIDDEN_ARG);
    const trayShows = await (options.hasTray ?? (() => hasStatusNotifierHost(ports.platform, options.env)))();
    const firstRun = !preferences.get('firstRunDone');
    if (firstRun && !(await autostart.get())) {
      // Start at login stays off until the user turns it on: the first run's window offers it.
      control.notice({ id: 'autostart-offer', text: FIRST_RUN_OFFER, action: 'autostart-on' });
    }
    if (store.notice) {
      control.notice({ id: 'keychain', text: store.notice });
      ports.notify({ title: 'Tokens are not in a keychain', body: store.notice });
    }
    if (!trayShows) {
      log.warn(NO_TRAY_HELP);
      control.notice({ id: 'no-tray', text: NO_TRAY_HELP });
      ports.notify({ title: 'No tray icon on this desktop', body: NO_TRAY_HELP });
      openWindow();
    } else if (firstRun && !hidden) {
      openWindow();
    }
    preferences.set('firstRunDone', true);
  });
  ready.catch((error: unknown) => {
    log.error(`the app could not start: ${errorMessage(error)}`);
    void quit('start-up failed');
  });

  return {
    ready,
    stopped,
    gateway: () => gateway,
    control: () => control,
    tray: () => tray,
    ipc: () => ipc,
    window: () => window,
    openWindow,
    quit,
  };
}
