#!/usr/bin/env node
// Entry of the `mcpassistant-gateway` command: the compiled CLI. `npm start` and `npm test` build it first.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src-main/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error(
    'mcpassistant-gateway is not built yet: run `npm start` (or `npm run build`) in its folder first.',
  );
  process.exit(1);
}
await import(entry.href);
