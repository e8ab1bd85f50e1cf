// A stand-in for the `electron` built-in, for loading the built main entry in plain Node (electron-hooks.mjs
// resolves `electron` here). It records what the app does, in order, and prints the record as one JSON line
// when the app calls app.exit(); each call is also printed as it happens (FAKE_ELECTRON_CALL <what>).
// `ready` comes one tick after whenReady() is first asked for.
'use strict';
const { EventEmitter } = require('node:events');

const calls = [];
let isReady = false;
const record = (what) => {
  const entry = isReady ? what : `${what} (before ready)`;
  calls.push(entry);
  process.stdout.write(`FAKE_ELECTRON_CALL ${entry}\n`);
};
const afterReady = (what) => {
  record(what);
  if (!isReady) throw new Error(`${what} before ready`);
};

class Emitter extends EventEmitter {}

const app = new Emitter();
let readyPromise;
Object.assign(app, {
  isPackaged: false,
  requestSingleInstanceLock: () => (record('app.requestSingleInstanceLock'), true),
  whenReady: () =>
    (readyPromise ??= new Promise((resolve) =>
      setImmediate(() => {
        isReady = true;
        calls.push('ready');
        resolve();
      }),
    )),
  isReady: () => isReady,
  quit: () => record('app.quit'),
  exit: (code) => {
    record(`app.exit(${code})`);
    process.stdout.write(`FAKE_ELECTRON_CALLS ${JSON.stringify(calls)}\n`);
    process.exit(code);
  },
  getPath: (name) => `${process.env.FAKE_ELECTRON_DATA}/${name}`,
  getAppPath: () => process.cwd(),
  getVersion: () => '0.0.0-test',
  setLoginItemSettings: () => afterReady('app.setLoginItemSettings'),
  getLoginItemSettings: () => ({ openAtLogin: false }),
});

class WebContents extends Emitter {
  constructor() {
    super();
    this.id = 1;
    this.session = { setPermissionRequestHandler() {}, setPermissionCheckHandler() {} };
  }
  setWindowOpenHandler() {}
  loadURL(url) {
    record(`loadURL ${url}`);
    return Promise.resolve();
  }
  isDestroyed() {
    return false;
  }
}

class BrowserWindow extends Emitter {
  constructor(options) {
    super();
    afterReady('new BrowserWindow');
    this.options = options;
    this.webContents = new WebContents();
    app.emit('web-contents-created', {}, this.webContents);
  }
  setMenu() {}
  getBounds() {
    return { x: 0, y: 0, width: 880, height: 640 };
  }
  show() {}
  focus() {}
  isDestroyed() {
    return false;
  }
}

class Tray extends Emitter {
  constructor() {
    super();
    afterReady('new Tray');
  }
  setImage() {}
  setToolTip() {}
  setContextMenu() {
    record('tray.setContextMenu');
  }
  destroy() {}
}

exports.app = app;
exports.BrowserWindow = BrowserWindow;
exports.Tray = Tray;
exports.Menu = { buildFromTemplate: (template) => ({ template }) };
exports.Notification = class Notification {
  static isSupported() {
    return false;
  }
};
exports.clipboard = { writeText() {} };
exports.dialog = { showOpenDialog: () => Promise.resolve({ canceled: true, filePaths: [] }) };
exports.ipcMain = Object.assign(new Emitter(), {
  handle: (channel) => record(`ipcMain.handle ${channel}`),
  removeHandler() {},
});
exports.protocol = {
  registerSchemesAsPrivileged: () => record('protocol.registerSchemesAsPrivileged'),
  handle: () => afterReady('protocol.handle'),
};
exports.safeStorage = {
  isEncryptionAvailable: () => (afterReady('safeStorage.isEncryptionAvailable'), false),
  encryptString: () => afterReady('safeStorage.encryptString'),
  decryptString: () => afterReady('safeStorage.decryptString'),
  getSelectedStorageBackend: () => 'basic_text',
};
exports.screen = {
  getPrimaryDisplay: () => afterReady('screen.getPrimaryDisplay'),
};
exports.shell = { openExternal: () => Promise.resolve(), openPath: () => Promise.resolve('') };
exports.nativeTheme = Object.assign(new Emitter(), { shouldUseDarkColors: true });
exports.powerMonitor = Object.assign(new Emitter(), {});
// Default import (electron-store uses `import electron from 'electron'`).
exports.default = exports;
