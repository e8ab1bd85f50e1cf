#!/usr/bin/env node
// Bundles src-preload/preload.ts into dist/src-preload/preload.cjs: a sandboxed preload is one CommonJS
// script that may `require` only `electron` (contextBridge, ipcRenderer), so its imports (the contract,
// zod) are bundled in and `electron` is left as the one external.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
await build({
  entryPoints: [join(root, 'src-preload', 'preload.ts')],
  outfile: join(root, 'dist', 'src-preload', 'preload.cjs'),
  bundle: true,
  format: 'cjs',
  platform: 'browser',
  target: 'chrome140',
  external: ['electron'],
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});
