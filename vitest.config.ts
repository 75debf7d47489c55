import { defineConfig } from 'vitest/config';

// Fast unit tests: pure functions, small synthetic tensors, in-process adapters.
export default defineConfig({
  test: {
    include: ['core/src/**/*.test.ts', 'functions/src/**/*.test.ts', 'gpu-worker/src/**/*.test.ts', 'test/**/*.test.ts', 'bench/**/*.test.ts'],
    exclude: ['**/*.slow.test.ts', '**/node_modules/**'],
    testTimeout: 20_000,
  },
});
