import { fileURLToPath } from 'node:url';

import { defineConfig } from 'vitest/config';

export default defineConfig({
  // electron-store imports `electron`, whose npm package only says where the binary is: tests get a stub,
  // reached only by modules Vitest inlines (electron-store is an external package otherwise).
  resolve: { alias: { electron: fileURLToPath(new URL('./e2e/support/electron-stub.ts', import.meta.url)) } },
  test: {
    server: { deps: { inline: ['electron-store'] } },
    include: [
      'src-main/**/*.test.ts',
      'src-relay/**/*.test.ts',
      'src-shared/**/*.test.ts',
      'e2e/**/*.test.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Real child processes and ports: two workers match the two cores CI has.
    maxWorkers: 2,
    reporters: ['default', './e2e/support/summary-reporter.ts'],
  },
});
