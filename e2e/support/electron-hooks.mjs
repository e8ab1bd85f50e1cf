// Module hooks that load the built main entry as Electron would: an ES module in which `electron` is a
// built-in. Here the built-in is e2e/support/fake-electron-module.cjs. Use: node --import <this file> …
import { register } from 'node:module';

if (!process.env.FAKE_ELECTRON_HOOKED) {
  process.env.FAKE_ELECTRON_HOOKED = '1';
  register(import.meta.url, import.meta.url);
}

const fake = new URL('./fake-electron-module.cjs', import.meta.url).href;

/** Resolves `electron` (and only it) to the fake. */
export function resolve(specifier, context, next) {
  if (specifier === 'electron') return { url: fake, format: 'commonjs', shortCircuit: true };
  return next(specifier, context);
}
