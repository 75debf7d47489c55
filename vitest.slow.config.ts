import { defineConfig } from 'vitest/config';

// Slow suites: real model graphs in ONNX Runtime, real photos, servers on 127.0.0.1, Python exports.
// Files run one at a time because each one already keeps both CPU cores busy.
export default defineConfig({
  test: {
    include: ['**/*.slow.test.ts'],
    exclude: ['**/node_modules/**'],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    fileParallelism: false,
  },
});
