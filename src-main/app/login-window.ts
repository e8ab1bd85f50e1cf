// The login window: the relay's sign-in page in a BrowserWindow of its own (its own in-memory session
// partition, sandboxed, no preload), for the loopback flow of core/auth/login.ts. The window watches for
// the redirect to the callback URI and catches it before any request leaves: the `state` is checked
// against ours, then the URL is handed to login()'s loopback listener from the main process, which
// completes the sign-in with the relay. Navigation stays on the relay's origin and the identity provider's
// (an origin the relay's pages redirect to); anything else is refused.
//
// Identity providers that refuse embedded browsers (Google's `disallowed_useragent`, "This browser or app
// may not be secure") are detected, and the same sign-in continues in the system browser: login() is still
// listening, so the user does not start over. "Use my browser instead" does the same on request.
import { randomBytes } from 'node:crypto';

import type { Logger } from '../core/logging/log-hub.js';
import type { Cancellable, ElectronPorts, WindowPort } from './electron-ports.js';
import type { NavigationPolicy } from './window-security.js';
import {
  denyPermissions,
  isExternalUrl,
  openExternalSafely,
  secureWebPreferences,
} from './window-security.js';

/** How a login window ended. */
export type LoginWindowOutcome =
  | 'callback' // the redirect was caught and handed to the loopback listener
  | 'state-mismatch' // a redirect to the callback with another state: refused
  | 'system-browser' // handed to the system browser (refused embedded browser, or the user's choice)
  | 'closed'; // the user closed the window

/** What an identity provider shows when it refuses embedded browsers. */
const REFUSED_EMBEDDED = /disallowed_useragent|This browser or app may not be secure/i;

export interface LoginWindowOptions {
  ports: Pick<ElectronPorts, 'createWindow' | 'buildMenu' | 'shell'>;
  /** Registers the window's navigation policy with the shell's `web-contents-created` hardening. */
  registerPolicy(contentsId: number, policy: NavigationPolicy): () => void;
  /** The relay's sign-in page. */
  authUrl: URL;
  /** The loopback callback login() listens on; its query holds our `state`. */
  redirectUri: URL;
  /** The relay's base URL: its origin is allowed. */
  relay: URL;
  log: Logger;
  /** Hands the caught callback URL to login()'s listener (default: a GET from the main process). */
  deliver?: (url: string) => Promise<void>;
}

export interface LoginWindow {
  window: WindowPort;
  /** Resolves once, when the window is done with the sign-in. */
  outcome: Promise<LoginWindowOutcome>;
}

async function getUrl(url: string): Promise<void> {
  const res = await fetch(url, { redirect: 'manual' });
  await res.arrayBuffer();
}

/** Opens the login window on `authUrl`. */
export function openLoginWindow(options: LoginWindowOptions): LoginWindow {
  const { ports, authUrl, redirectUri, log } = options;
  const deliver = options.deliver ?? getUrl;
  const expectedState = redirectUri.searchParams.get('state');
  const allowed = new Set([options.relay.origin, authUrl.origin]);
  const isCallback = (url: URL) => url.origin === redirectUri.origin && url.pathname === redirectUri.pathname;

  const window = ports.createWindow({
    width: 520,
    height: 720,
    title: 'Sign in — MCP Assistant Gateway',
    show: true,
    // Its own partition, in memory: the provider's cookies neither leak into nor persist beside the app's.
    webPreferences: secureWebPreferences({ partition: `login-${randomBytes(6).toString('hex')}` }),
  });
  const contents = window.webContents;
  denyPermissions(contents.session);

  let settle!: (outcome: LoginWindowOutcome) => void;
  const outcome = new Promise<LoginWindowOutcome>((resolve) => (settle = resolve));
  let done = false;
  const finish = (result: LoginWindowOutcome) => {
    if (done) return;
    done = true;
    settle(result);
    if (!window.isDestroyed()) window.close();
  };
  /** Ends login()'s wait at once with an error (nothing is stored), rather than at its timeout. */
  const cancel = (error: string, description: string) => {
    const url = new URL(redirectUri);
    url.searchParams.set('error', error);
    url.searchParams.set('error_description', description);
    void deliver(url.href).catch((e: unknown) => log.warn(`could not end the sign-in: ${String(e)}`));
  };
  const toSystemBrowser = (why: string) => {
    if (done) return;
    log.info(`continuing the sign-in in the system browser (${why})`);
    void openExternalSafely(ports.shell, authUrl.href, (m) => log.warn(m));
    finish('system-browser');
  };

  const unregister = options.registerPolicy(contents.id, {
    allowNavigation: (text) => {
      try {
        const url = new URL(text);
        return allowed.has(url.origin) && !isCallback(url);
      } catch {
        return false;
      }
    },
  });

  const watch = (kind: 'navigate' | 'redirect') => (event: Cancellable & { url: string }) => {
    let url: URL;
    try {
      url = new URL(event.url);
    } catch {
      return event.preventDefault();
    }
    if (isCallback(url)) {
      // Caught before the request leaves: the page never loads the callback, the main process delivers it.
      event.preventDefault();
      if (expectedState === null || url.searchParams.get('state') !== expectedState) {
        log.warn('the sign-in page redirected to the callback with another state; refused');
        cancel('state_mismatch', 'the sign-in came back with another state');
        return finish('state-mismatch');
      }
      void deliver(url.href)
        .catch((e: unknown) => log.warn(`could not complete the sign-in: ${String(e)}`))
        .finally(() => finish('callback'));
      return;
    }
    if (allowed.has(url.origin)) return;
    if (kind === 'redirect' && url.protocol === 'https:') {
      // A server redirect from an allowed page: the relay sending the browser to its identity provider.
      allowed.add(url.origin);
      return;
    }
    event.preventDefault();
    log.warn(`the login window refused to go to ${url.origin} (not the relay or its identity provider)`);
  };
  contents.on('will-navigate', watch('navigate'));
  contents.on('will-redirect', watch('redirect'));
  contents.on('did-finish-load', () => {
    if (REFUSED_EMBEDDED.test(contents.getURL()))
      return toSystemBrowser('the provider refuses embedded browsers');
    void contents
      .executeJavaScript('document.body ? document.body.innerText.slice(0, 20000) : ""')
      .then((text) => {
        if (typeof text === 'string' && REFUSED_EMBEDDED.test(text))
          toSystemBrowser('the provider refuses embedded browsers');
      })
      .catch(() => undefined); // ignore: the page navigated on; the next load is checked again
  });
  window.setMenu(
    ports.buildMenu([{ label: 'Use my browser instead', click: () => toSystemBrowser('asked by the user') }]),
  );
  window.on('closed', () => {
    unregister();
    if (!done) {
      done = true;
      cancel('access_denied', 'the sign-in window was closed');
      settle('closed');
    }
  });
  if (!isExternalUrl(authUrl.href)) {
    finish('closed');
  } else {
    void contents
      .loadURL(authUrl.href)
      .catch((e: unknown) => log.warn(`the sign-in page did not load: ${String(e)}`));
  }
  return { window, outcome };
}
