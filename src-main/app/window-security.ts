// Electron's security checklist (https://www.electronjs.org/docs/latest/tutorial/security), applied in one
// place: every window is created with the same locked web preferences, every webContents denies
// navigation, new windows and <webview> by default, and every session denies permission requests.
import { errorMessage } from '../core/errors.js';
import type { BrowserWindowConstructorOptions, SessionPort, WebContentsPort } from './electron-ports.js';

/** The web preferences of every window; a caller may add a preload and a partition, nothing else. */
export function secureWebPreferences(
  extra: { preload?: string; partition?: string } = {},
): NonNullable<BrowserWindowConstructorOptions['webPreferences']> {
  return {
    ...extra,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webviewTag: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    experimentalFeatures: false,
    navigateOnDragDrop: false,
    safeDialogs: true,
  };
}

/** Only http(s) URLs leave the app for the system browser; anything else (file:, smb:, custom) is refused. */
export function isExternalUrl(url: string): boolean {
  try {
    return ['http:', 'https:'].includes(new URL(url).protocol);
  } catch {
    return false;
  }
}

/**
 * `shell.openExternal` behind the checklist's rule: only http(s). Resolves whether the URL was opened;
 * anything else is logged and refused. A desktop that cannot open it (no handler for http, e.g. no
 * xdg-open) is logged too, by origin only (the query may carry a sign-in `state`); it never rejects, so
 * callers may fire and forget.
 */
export async function openExternalSafely(
  shell: { openExternal(url: string): Promise<void> },
  url: string,
  warn: (message: string) => void,
): Promise<boolean> {
  if (!isExternalUrl(url)) {
    warn(`refused to open ${url.split(':')[0]}: URL outside the app (only http and https are opened)`);
    return false;
  }
  try {
    await shell.openExternal(url);
    return true;
  } catch (error) {
    warn(`could not open ${new URL(url).origin} in the system browser: ${errorMessage(error)}`);
    return false;
  }
}

export interface NavigationPolicy {
  /** Whether an in-page navigation to `url` may proceed (default: none may). */
  allowNavigation?(url: string): boolean;
}

/**
 * Hardens one webContents: `will-navigate` is cancelled unless the policy allows it, `window.open` and
 * target=_blank never open an Electron window (http(s) links go to the system browser), and no <webview>
 * may be attached. app-shell.ts calls it from `web-contents-created`, so it covers every page, even those
 * it did not create.
 */
export function hardenWebContents(
  contents: WebContentsPort,
  policy: NavigationPolicy,
  openExternal: (url: string) => void,
): void {
  contents.on('will-navigate', (event) => {
    if (!policy.allowNavigation?.(event.url)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    if (isExternalUrl(url)) openExternal(url);
    return { action: 'deny' };
  });
}

/** Denies every permission request and check (camera, notifications, geolocation …): the pages need none. */
export function denyPermissions(session: SessionPort): void {
  session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.setPermissionCheckHandler(() => false);
}
