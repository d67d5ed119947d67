import { defineConfig } from 'vitest/config'

export default defineConfig({
  resolve: { conditions: ['evergreen-source'] },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Child-process and PostgreSQL tests share one machine with 2 cores: files run in parallel,
    // but bounded so the cross-process tests are not starved.
    maxWorkers: 2,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
})
