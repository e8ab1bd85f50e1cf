#!/usr/bin/env node
// The one pre-step behind `npm start` and `npm test`, so that either is the only command a newcomer types:
// install dependencies when they are missing or stale, then build. Node built-ins only: it must run
// before anything is installed.
//
//   node scripts/prepare.mjs                 install if needed, build
//   node scripts/prepare.mjs --run ARGS…     the same, then run `mcpassistant-gateway ARGS…` in this process
//                                           (one process, so Ctrl+C and SIGTERM reach the gateway itself)
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const readJson = (path) => JSON.parse(readFileSync(join(root, path), 'utf8'));

/** Why the installed tree does not match package.json / package-lock.json, or null when it does. */
function staleReason() {
  if (!existsSync(join(root, 'node_modules'))) return 'node_modules is missing';
  if (!existsSync(join(root, 'package-lock.json'))) return 'package-lock.json is missing';
  const pkg = readJson('package.json');
  const lock = readJson('package-lock.json');
  const wanted = { ...pkg.dependencies, ...pkg.devDependencies };
  const locked = { ...lock.packages?.['']?.dependencies, ...lock.packages?.['']?.devDependencies };
  for (const [name, range] of Object.entries(wanted)) {
    if (locked[name] !== range) return `package-lock.json does not match package.json for ${name}`;
  }
  const hiddenPath = join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(hiddenPath)) return 'node_modules was not installed by npm';
  const installed = readJson('node_modules/.package-lock.json').packages ?? {};
  for (const [path, entry] of Object.entries(lock.packages ?? {})) {
    // Optional packages for other platforms are never installed; skip them rather than reinstall forever.
    if (path === '' || entry.optional || entry.link) continue;
    if (installed[path]?.version !== entry.version) return `${path} is not installed at ${entry.version}`;
  }
  return null;
}

function run(command, args) {
  const result = spawnSync(command, args, {
    cwd: root,
    stdio: 'inherit',
    shell: process.platform === 'win32',
  });
  if (result.status !== 0) {
    console.error(`\n${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal}).`);
    process.exit(result.status || 1);
  }
}

// Run npm the same way npm ran us when it did, so an nvm/volta/Homebrew npm is the one used.
const npm = process.env.npm_execpath
  ? [process.execPath, [process.env.npm_execpath]]
  : [process.platform === 'win32' ? 'npm.cmd' : 'npm', []];

const reason = staleReason();
if (reason) {
  const lockExists = existsSync(join(root, 'package-lock.json'));
  const args = lockExists && !reason.startsWith('package-lock.json does not match') ? ['ci'] : ['install'];
  console.error(`Installing dependencies (${reason}): npm ${args.join(' ')}`);
  run(npm[0], [...npm[1], ...args, '--no-audit', '--no-fund']);
}

const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
run(process.execPath, [tsc, '-p', 'tsconfig.build.json']);
// The window's renderer (src-renderer, Vite) into dist/renderer: served by `mcpassistant-gateway ui` and the app.
const vite = join(root, 'node_modules', 'vite', 'bin', 'vite.js');
run(process.execPath, [vite, 'build', '--config', 'src-renderer/vite.config.ts']);
// The desktop app's preload: one CommonJS file (a sandboxed preload cannot load ES modules or our files).
run(process.execPath, [join(root, 'scripts', 'build-preload.mjs')]);

const runAt = process.argv.indexOf('--run');
if (runAt !== -1) {
  const cli = join(root, 'bin', 'mcpassistant-gateway.js');
  process.argv = [process.argv[0], cli, ...process.argv.slice(runAt + 1)];
  await import(pathToFileURL(cli).href);
}
