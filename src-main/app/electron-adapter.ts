// The one place the shell loads `electron` at run time: the real objects behind each port. The compiler
// checks here that Electron's own types (electron.d.ts) satisfy the ports the shell is written against.
import {
  app,
  BrowserWindow,
  clipboard,
  dialog,
  ipcMain,
  Menu,
  nativeTheme,
  Notification,
  powerMonitor,
  protocol,
  safeStorage,
  shell,
  Tray,
} from 'electron';

import type { ElectronPorts } from './electron-ports.js';

/** Notifications waiting for a click (see `notify`). */
const shown = new Set<Notification>();

export function electronPorts(): ElectronPorts {
  return {
    platform: process.platform,
    app,
    protocol,
    ipcMain,
    safeStorage,
    shell,
    clipboard,
    dialog,
    createTray: (image) => new Tray(image),
    createWindow: (options) => new BrowserWindow(options),
    buildMenu: (template) => Menu.buildFromTemplate(template),
    notify: (options, onClick) => {
      if (!Notification.isSupported()) return;
      const notification = new Notification(options);
      if (onClick) {
        // Referenced until clicked or closed: a collected Notification loses its click handler.
        shown.add(notification);
        notification.once('click', () => {
          shown.delete(notification);
          onClick();
        });
        notification.once('close', () => shown.delete(notification));
      }
      notification.show();
    },
    prefersDark: () => nativeTheme.shouldUseDarkColors,
    onThemeChange: (listener) => void nativeTheme.on('updated', listener),
    onSessionEnd: (listener) => void powerMonitor.on('shutdown', listener),
  };
}
