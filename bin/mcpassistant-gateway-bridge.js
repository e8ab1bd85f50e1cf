#!/usr/bin/env node
// Entry of the `mcpassistant-gateway-bridge` command: the compiled bridge. `npm start`, `npm test` or
// `npm run build` build it first.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src-main/cli/bridge-main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('mcpassistant-gateway-bridge is not built yet: run `npm run build` in its folder first.');
  process.exit(1);
}
await import(entry.href);
