// The Electron main process's entry (package.json `main`). An ES module: Electron ≥ 28 loads ESM mains,
// with `electron` as a built-in. Everything runs through startApp (app-shell.ts); this file only wires the
// real Electron objects, the log file, the preferences, and the Gateway with the embedded local endpoint.
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { localRelayFactory } from '../../src-relay/local-endpoint.js';
import { logFilePath } from '../core/config/paths.js';
import { Gateway } from '../core/gateway.js';
import { LogHub } from '../core/logging/log-hub.js';
import { startApp } from './app-shell.js';
import { electronPorts } from './electron-adapter.js';
import { openPreferences } from './preferences.js';

// dist/src-main/app/main.js → the package root (the checkout, or app.asar when packaged).
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const logs = new LogHub({ level: 'info', file: logFilePath() });
logs.redactor.addSecretEnv(process.env);

startApp({
  ports: electronPorts(),
  logs,
  resources: join(root, 'resources'),
  rendererDir: join(root, 'dist', 'renderer'),
  preloadPath: join(root, 'dist', 'src-preload', 'preload.cjs'),
  argv: process.argv,
  env: process.env,
  execPath: process.execPath,
  createGateway: (tokenStore) =>
    Gateway.create({
      // Started from a desktop, the working directory is `/`: mcp.json is found in the per-user folder.
      cwd: homedir(),
      env: process.env,
      logs,
      tokenStore,
      // The window answers the relay's consent requests (issue 12); the shell notifies.
      answersConsent: true,
      localEndpoint: localRelayFactory(logs.logger('local-relay')),
    }),
  preferences: () => {
    const store = openPreferences();
    return {
      get: (key) => store.get(key),
      set: (key, value) => store.set(key, value),
      bounds: () => store.get('windowBounds'),
      setBounds: (bounds) => store.set('windowBounds', bounds),
    };
  },
  signals: process,
});
