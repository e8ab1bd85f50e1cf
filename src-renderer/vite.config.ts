// Builds the window's renderer (Preact + TypeScript) into dist/renderer: one index.html and hashed assets,
// no inline script or style (the page's CSP is `default-src 'self'`), relative URLs so the same build is
// served by the web host over http and by the Electron shell from its custom protocol.
import { fileURLToPath } from 'node:url';

import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../dist/renderer', import.meta.url)),
    emptyOutDir: true,
    // Inline assets would become data: URLs; keep every asset a file the CSP's 'self' covers.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: 'es2022',
    sourcemap: false,
  },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
});
