// The Electron objects the shell uses, as narrow interfaces ("ports"). The shell's logic takes them as
// arguments, so Vitest drives it with fakes (this machine cannot run Electron's binary), while
// electron-adapter.ts hands in the real ones: the compiler checks there that Electron's own types
// (node_modules/electron/electron.d.ts) satisfy every port. Types only: nothing here loads `electron`.
import type {
  BrowserWindowConstructorOptions,
  CustomScheme,
  MenuItemConstructorOptions,
  NotificationConstructorOptions,
  OpenDialogOptions,
  OpenDialogReturnValue,
  Settings as LoginItemSettingsInput,
} from 'electron';

export type {
  BrowserWindowConstructorOptions,
  LoginItemSettingsInput,
  MenuItemConstructorOptions,
  OpenDialogOptions,
};

/** An event whose default action can be cancelled (Electron's `Event`). */
export interface Cancellable {
  preventDefault(): void;
}

/** The part of `webContents` the shell touches. */
export interface WebContentsPort {
  readonly id: number;
  on(event: 'will-navigate', listener: (event: Cancellable & { url: string }) => void): unknown;
  on(event: 'will-redirect', listener: (event: Cancellable & { url: string }) => void): unknown;
  on(event: 'will-attach-webview', listener: (event: Cancellable) => void): unknown;
  on(event: 'did-finish-load', listener: () => void): unknown;
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' } | { action: 'allow' }): void;
  getURL(): string;
  loadURL(url: string): Promise<void>;
  executeJavaScript(code: string): Promise<unknown>;
  send(channel: string, ...args: unknown[]): void;
  isDestroyed(): boolean;
  session: SessionPort;
}

/** The part of a `Session` the shell hardens. */
export interface SessionPort {
  setPermissionRequestHandler(
    handler: (contents: unknown, permission: string, callback: (granted: boolean) => void) => void,
  ): void;
  setPermissionCheckHandler(handler: (contents: unknown, permission: string) => boolean): void;
}

export interface WindowPort {
  readonly webContents: WebContentsPort;
  show(): void;
  focus(): void;
  close(): void;
  isDestroyed(): boolean;
  isMinimized(): boolean;
  restore(): void;
  setMenu(menu: MenuPort | null): void;
  getBounds(): { x: number; y: number; width: number; height: number };
  on(event: 'close', listener: () => void): unknown;
  on(event: 'closed', listener: () => void): unknown;
  /** Windows only: the user logs off or shuts down. */
  on(event: 'session-end', listener: () => void): unknown;
  once(event: 'ready-to-show', listener: () => void): unknown;
}

/** A built menu (`Menu.buildFromTemplate`); opaque to the shell. */
export type MenuPort = object;

export interface TrayPort {
  setImage(image: string): void;
  setToolTip(text: string): void;
  setContextMenu(menu: MenuPort | null): void;
  on(event: 'click', listener: () => void): unknown;
  destroy(): void;
}

export interface AppPort {
  requestSingleInstanceLock(): boolean;
  whenReady(): Promise<void>;
  quit(): void;
  exit(code?: number): void;
  getPath(name: 'userData' | 'logs' | 'exe'): string;
  getAppPath(): string;
  readonly isPackaged: boolean;
  on(event: 'second-instance', listener: () => void): unknown;
  on(event: 'before-quit', listener: (event: Cancellable) => void): unknown;
  on(event: 'window-all-closed', listener: () => void): unknown;
  on(event: 'web-contents-created', listener: (event: unknown, contents: WebContentsPort) => void): unknown;
  setLoginItemSettings(settings: LoginItemSettingsInput): void;
  getLoginItemSettings(options?: { path?: string; args?: string[] }): { openAtLogin: boolean };
}

export interface SafeStoragePort {
  isEncryptionAvailable(): boolean;
  encryptString(plainText: string): Buffer;
  decryptString(encrypted: Buffer): string;
  /** Linux only: which keyring backs the encryption (`basic_text` means none: a hard-coded key). */
  getSelectedStorageBackend?(): string;
}

export interface ProtocolPort {
  registerSchemesAsPrivileged(schemes: CustomScheme[]): void;
  handle(scheme: string, handler: (request: Request) => Response | Promise<Response>): void;
}

export interface IpcMainPort {
  handle(channel: string, listener: (event: IpcInvokeEvent, ...args: unknown[]) => unknown): void;
  removeHandler(channel: string): void;
}

/** What an IPC handler learns about its caller: the frame (its URL) and the page it belongs to. */
export interface IpcInvokeEvent {
  readonly senderFrame: { readonly url: string; readonly parent: unknown } | null;
  readonly sender: IpcSender;
}

/** The page that called: events are pushed to it with `send` until it is destroyed. */
export interface IpcSender {
  readonly id: number;
  send(channel: string, ...args: unknown[]): void;
  isDestroyed(): boolean;
  once(event: 'destroyed', listener: () => void): unknown;
}

/**
 * Everything the shell gets from Electron. The factories create objects that exist only after `ready`
 * (DESIGN.md: Tray and BrowserWindow exist only after ready); the shell calls them only then.
 */
export interface ElectronPorts {
  platform: NodeJS.Platform;
  app: AppPort;
  protocol: ProtocolPort;
  ipcMain: IpcMainPort;
  safeStorage: SafeStoragePort;
  shell: { openExternal(url: string): Promise<void>; openPath(path: string): Promise<string> };
  clipboard: { writeText(text: string): void };
  /** The OS file dialog (Electron's `dialog`), for the server form's folder picker. */
  dialog: { showOpenDialog(options: OpenDialogOptions): Promise<OpenDialogReturnValue> };
  createTray(image: string): TrayPort;
  createWindow(options: BrowserWindowConstructorOptions): WindowPort;
  buildMenu(template: MenuItemConstructorOptions[]): MenuPort;
  /**
   * Shows a desktop notification (where the OS supports them); `onClick` runs when the user clicks it (the
   * notification is kept referenced until then, or Electron may collect it and lose the click).
   */
  notify(options: NotificationConstructorOptions, onClick?: () => void): void;
  /** Whether the panel uses dark colours (nativeTheme.shouldUseDarkColors). */
  prefersDark(): boolean;
  /** Calls `listener` when the system theme changes (after `ready`). */
  onThemeChange(listener: () => void): void;
  /** Calls `listener` when the OS is shutting down or the user logs out (after `ready`; powerMonitor). */
  onSessionEnd(listener: () => void): void;
}
