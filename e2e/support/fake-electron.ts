// Fakes of the Electron objects the shell takes as ports (src-main/app/electron-ports.ts), for tests on a
// machine that cannot run Electron's binary. They behave as Electron documents (events are cancellable,
// `web-contents-created` fires for every new window, `app.quit` emits `before-quit`) and record what the
// shell did with them, in order, in `calls`.
import { EventEmitter } from 'node:events';

import type {
  AppPort,
  BrowserWindowConstructorOptions,
  Cancellable,
  ElectronPorts,
  IpcInvokeEvent,
  IpcMainPort,
  LoginItemSettingsInput,
  MenuItemConstructorOptions,
  OpenDialogOptions,
  ProtocolPort,
  SafeStoragePort,
  SessionPort,
  TrayPort,
  WebContentsPort,
  WindowPort,
} from '../../src-main/app/electron-ports.js';

/** An event as Electron passes it: cancellable, and remembers whether it was. */
export function cancellable<T extends object>(fields: T): T & Cancellable & { defaultPrevented: boolean } {
  const event = {
    ...fields,
    defaultPrevented: false,
    preventDefault() {
      event.defaultPrevented = true;
    },
  };
  return event;
}

export class FakeSession implements SessionPort {
  requestHandler?: (contents: unknown, permission: string, callback: (granted: boolean) => void) => void;
  checkHandler?: (contents: unknown, permission: string) => boolean;
  setPermissionRequestHandler(handler: NonNullable<FakeSession['requestHandler']>) {
    this.requestHandler = handler;
  }
  setPermissionCheckHandler(handler: NonNullable<FakeSession['checkHandler']>) {
    this.checkHandler = handler;
  }
  /** Asks for `permission` as a page would; resolves whether it was granted. */
  request(permission: string): Promise<boolean> {
    return new Promise((resolve) => this.requestHandler!(null, permission, resolve));
  }
}

let nextId = 1;

export class FakeWebContents extends EventEmitter implements WebContentsPort {
  readonly id = nextId++;
  readonly session = new FakeSession();
  url = '';
  /** What `document.body.innerText` of the current page is. */
  pageText = '';
  loaded: string[] = [];
  sent: unknown[][] = [];
  destroyed = false;
  openHandler?: (details: { url: string }) => { action: 'deny' } | { action: 'allow' };
  setWindowOpenHandler(handler: NonNullable<FakeWebContents['openHandler']>) {
    this.openHandler = handler;
  }
  getURL() {
    return this.url;
  }
  loadURL(url: string) {
    this.loaded.push(url);
    this.url = url;
    return Promise.resolve();
  }
  executeJavaScript() {
    return Promise.resolve(this.pageText);
  }
  send(channel: string, ...args: unknown[]) {
    this.sent.push([channel, ...args]);
  }
  isDestroyed() {
    return this.destroyed;
  }
  /** Emits a cancellable navigation event; resolves whether the shell let it proceed. */
  navigate(kind: 'will-navigate' | 'will-redirect', url: string): boolean {
    const event = cancellable({ url });
    this.emit(kind, event);
    if (!event.defaultPrevented) this.url = url;
    return !event.defaultPrevented;
  }
  /** A page load finished on `url` showing `text`. */
  finishLoad(url: string, text = '') {
    this.url = url;
    this.pageText = text;
    this.emit('did-finish-load');
  }
}

export class FakeWindow extends EventEmitter implements WindowPort {
  readonly webContents = new FakeWebContents();
  shown = 0;
  destroyed = false;
  minimized = false;
  menu: unknown = undefined;
  constructor(readonly options: BrowserWindowConstructorOptions) {
    super();
  }
  show() {
    this.shown++;
  }
  focus() {}
  close() {
    if (this.destroyed) return;
    this.destroyed = true;
    this.webContents.destroyed = true;
    this.emit('close');
    this.webContents.emit('destroyed');
    this.emit('closed');
  }
  isDestroyed() {
    return this.destroyed;
  }
  isMinimized() {
    return this.minimized;
  }
  restore() {
    this.minimized = false;
  }
  setMenu(menu: unknown) {
    this.menu = menu;
  }
  getBounds() {
    return { x: 10, y: 20, width: Number(this.options.width), height: Number(this.options.height) };
  }
}

export class FakeMenu {
  constructor(readonly template: MenuItemConstructorOptions[]) {}
  /** The item with `label` (searching submenus), to read or click. */
  item(label: string | RegExp): MenuItemConstructorOptions | undefined {
    return findItem(this.template, label);
  }
}

export function findItem(
  template: MenuItemConstructorOptions[],
  label: string | RegExp,
): MenuItemConstructorOptions | undefined {
  for (const item of template) {
    if (
      typeof item.label === 'string' &&
      (typeof label === 'string' ? item.label === label : label.test(item.label))
    )
      return item;
    if (Array.isArray(item.submenu)) {
      const found = findItem(item.submenu, label);
      if (found) return found;
    }
  }
  return undefined;
}

/** Clicks a menu item as Electron would (the shell's click handlers ignore the arguments). */
export function click(item: MenuItemConstructorOptions | undefined): void {
  if (!item?.click) throw new Error(`no clickable item: ${JSON.stringify(item?.label)}`);
  (item.click as () => void)();
}

export class FakeTray extends EventEmitter implements TrayPort {
  image: string;
  tooltip = '';
  menu: FakeMenu | null = null;
  destroyed = false;
  constructor(image: string) {
    super();
    this.image = image;
  }
  setImage(image: string) {
    this.image = image;
  }
  setToolTip(text: string) {
    this.tooltip = text;
  }
  setContextMenu(menu: object | null) {
    this.menu = menu as FakeMenu | null;
  }
  destroy() {
    this.destroyed = true;
  }
}

export class FakeApp extends EventEmitter implements AppPort {
  readonly isPackaged = false;
  lock = true;
  ready = false;
  exitCode: number | undefined;
  loginItems = new Map<string, boolean>();
  loginItemCalls: LoginItemSettingsInput[] = [];
  #ready!: () => void;
  readonly #whenReady = new Promise<void>((resolve) => (this.#ready = resolve));
  constructor(
    private readonly calls: string[],
    private readonly paths: { userData: string; logs: string },
  ) {
    super();
  }
  requestSingleInstanceLock() {
    this.calls.push('app.requestSingleInstanceLock');
    return this.lock;
  }
  whenReady() {
    return this.#whenReady;
  }
  /** Electron's `ready`. */
  emitReady() {
    this.calls.push('ready');
    this.ready = true;
    this.#ready();
  }
  quit() {
    this.calls.push('app.quit');
    const event = cancellable({});
    this.emit('before-quit', event);
    if (!event.defaultPrevented) this.exit(0);
  }
  exit(code = 0) {
    this.calls.push(`app.exit(${code})`);
    this.exitCode = code;
  }
  getPath(name: 'userData' | 'logs' | 'exe') {
    return name === 'exe' ? process.execPath : this.paths[name];
  }
  getAppPath() {
    return '/opt/app';
  }
  setLoginItemSettings(settings: LoginItemSettingsInput) {
    this.loginItemCalls.push(settings);
    this.loginItems.set(
      JSON.stringify([settings.path ?? '', settings.args ?? []]),
      settings.openAtLogin ?? false,
    );
  }
  getLoginItemSettings(options: { path?: string; args?: string[] } = {}) {
    // As on Windows: the entry is keyed on path and args; asking with others reports another entry.
    return {
      openAtLogin: this.loginItems.get(JSON.stringify([options.path ?? '', options.args ?? []])) ?? false,
    };
  }
}

export class FakeIpcMain implements IpcMainPort {
  readonly handlers = new Map<string, (event: IpcInvokeEvent, ...args: unknown[]) => unknown>();
  handle(channel: string, listener: (event: IpcInvokeEvent, ...args: unknown[]) => unknown) {
    if (this.handlers.has(channel))
      throw new Error(`Attempted to register a second handler for '${channel}'`);
    this.handlers.set(channel, listener);
  }
  removeHandler(channel: string) {
    this.handlers.delete(channel);
  }
  /** `ipcRenderer.invoke(channel, ...args)` from a frame at `frameUrl` of `page`. */
  async invoke(
    page: FakeWebContents,
    frameUrl: string,
    channel: string,
    ...args: unknown[]
  ): Promise<unknown> {
    const handler = this.handlers.get(channel);
    if (!handler) throw new Error(`No handler registered for '${channel}'`);
    const sender = Object.assign(page, { once: page.once.bind(page) });
    return await handler({ senderFrame: { url: frameUrl, parent: null }, sender }, ...args);
  }
}

export class FakeSafeStorage implements SafeStoragePort {
  constructor(
    private readonly calls: string[],
    public backend = 'gnome_libsecret',
    public available = true,
  ) {}
  isEncryptionAvailable() {
    this.calls.push('safeStorage.isEncryptionAvailable');
    return this.available;
  }
  encryptString(plainText: string) {
    this.calls.push('safeStorage.encryptString');
    // Not real encryption, but never the plain text: tests check that no token is stored readable.
    return Buffer.from(Buffer.from(plainText, 'utf8').toString('base64').split('').reverse().join(''));
  }
  decryptString(encrypted: Buffer) {
    this.calls.push('safeStorage.decryptString');
    return Buffer.from(encrypted.toString().split('').reverse().join(''), 'base64').toString('utf8');
  }
  getSelectedStorageBackend() {
    return this.backend;
  }
}

export interface FakeElectron extends ElectronPorts {
  app: FakeApp;
  ipcMain: FakeIpcMain;
  safeStorage: FakeSafeStorage;
  calls: string[];
  windows: FakeWindow[];
  trays: FakeTray[];
  notifications: { title?: string; body?: string }[];
  /** The click handler of each notification (same index as `notifications`): call it to click. */
  notificationClicks: ((() => void) | undefined)[];
  opened: string[];
  openedPaths: string[];
  /** What the next folder dialog answers (undefined: the user cancels). */
  pickedFolder: string | undefined;
  dialogs: OpenDialogOptions[];
  clipboardText: string;
  schemes: unknown[];
  protocolHandler?: (request: Request) => Response | Promise<Response>;
  dark: boolean;
}

/** A full set of fake ports. `platform` decides the tray's click behaviour and icon set. */
export function fakeElectron(
  platform: NodeJS.Platform,
  paths: { userData: string; logs: string },
): FakeElectron {
  const calls: string[] = [];
  const app = new FakeApp(calls, paths);
  const notAfterReady = (what: string) => {
    calls.push(what);
    if (!app.ready) throw new Error(`${what} before ready: Electron refuses this`);
  };
  const protocol: ProtocolPort = {
    registerSchemesAsPrivileged(schemes) {
      calls.push('protocol.registerSchemesAsPrivileged');
      if (app.ready) throw new Error('registerSchemesAsPrivileged after ready: Electron ignores it');
      fake.schemes.push(...schemes);
    },
    handle(_scheme, handler) {
      notAfterReady('protocol.handle');
      fake.protocolHandler = handler;
    },
  };
  const fake: FakeElectron = {
    platform,
    app,
    protocol,
    ipcMain: new FakeIpcMain(),
    safeStorage: new FakeSafeStorage(calls),
    shell: {
      openExternal: (url) => {
        fake.opened.push(url);
        return Promise.resolve();
      },
      openPath: (path) => {
        fake.openedPaths.push(path);
        return Promise.resolve('');
      },
    },
    clipboard: { writeText: (text) => void (fake.clipboardText = text) },
    dialog: {
      showOpenDialog: (options) => {
        fake.dialogs.push(options);
        const picked = fake.pickedFolder;
        return Promise.resolve({ canceled: picked === undefined, filePaths: picked ? [picked] : [] });
      },
    },
    createTray: (image) => {
      notAfterReady('new Tray');
      const tray = new FakeTray(image);
      fake.trays.push(tray);
      return tray;
    },
    createWindow: (options) => {
      notAfterReady('new BrowserWindow');
      const window = new FakeWindow(options);
      fake.windows.push(window);
      app.emit('web-contents-created', {}, window.webContents);
      return window;
    },
    buildMenu: (template) => new FakeMenu(template),
    notify: (options, onClick) => {
      fake.notifications.push(options);
      fake.notificationClicks.push(onClick);
    },
    prefersDark: () => fake.dark,
    onThemeChange: () => undefined,
    onSessionEnd: () => undefined,
    calls,
    windows: [],
    trays: [],
    notifications: [],
    notificationClicks: [],
    opened: [],
    openedPaths: [],
    pickedFolder: undefined,
    dialogs: [],
    clipboardText: '',
    schemes: [],
    dark: true,
  };
  // safeStorage may be touched only after ready, like Tray and BrowserWindow.
  const storage = fake.safeStorage;
  for (const method of ['isEncryptionAvailable', 'encryptString', 'decryptString'] as const) {
    const original = storage[method].bind(storage) as (...args: never[]) => unknown;
    (storage as unknown as Record<string, unknown>)[method] = (...args: never[]) => {
      if (!app.ready) throw new Error(`safeStorage.${method} before ready`);
      return original(...args);
    };
  }
  return fake;
}
