#!/usr/bin/env node
// Entry of the `mcpassistant-relay` command: the compiled relay. `npm start`, `npm test` or `npm run build`
// build it first.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src-relay/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('mcpassistant-relay is not built yet: run `npm run build` in its folder first.');
  process.exit(1);
}
await import(entry.href);
