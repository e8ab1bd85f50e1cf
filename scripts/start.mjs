#!/usr/bin/env node
// `npm start`: install and build (scripts/prepare.mjs), then launch the desktop app when this machine has
// a display and the Electron binary (fetched once when missing), else the headless gateway in this very
// process, as before, so Ctrl+C and SIGTERM reach it directly. The decision lives in
// src-main/app/launcher.ts, where it is tested.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = spawnSync(process.execPath, [join(root, 'scripts', 'prepare.mjs')], { stdio: 'inherit' });
if (built.status !== 0) process.exit(built.status || 1);

const args = process.argv.slice(2);
const launcher = await import(pathToFileURL(join(root, 'dist', 'src-main', 'app', 'launcher.js')).href);
const decision = await launcher.chooseLaunch({ root, args, say: (line) => console.error(line) });
if (decision.action === 'electron') {
  launcher.runElectron(decision.binary, root, args);
} else {
  console.error(
    `mcpassistant-gateway: not starting the desktop app: ${decision.reason}; running the headless gateway.`,
  );
  const cli = join(root, 'bin', 'mcpassistant-gateway.js');
  process.argv = [process.argv[0], cli, 'run', ...args];
  await import(pathToFileURL(cli).href);
}
