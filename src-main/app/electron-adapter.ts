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
    notify: (options) => {
      if (Notification.isSupported()) new Notification(options).show();
    },
    prefersDark: () => nativeTheme.shouldUseDarkColors,
    onThemeChange: (listener) => void nativeTheme.on('updated', listener),
    onSessionEnd: (listener) => void powerMonitor.on('shutdown', listener),
  };
}
