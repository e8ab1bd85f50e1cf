import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
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
