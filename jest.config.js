/** Transpile-only: types are checked once by `tsc --noEmit` in `npm test`. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { diagnostics: false }],
  },
  testTimeout: 30000,
  // One worker that is replaced once it holds more than this after a test file: run in band (the
  // default on 2 cores), jest kept every file's modules and reached 11-12 GB over the whole suite.
  workerIdleMemoryLimit: '1GB',
};
