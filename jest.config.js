/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { isolatedModules: true, tsconfig: 'tsconfig.json' }],
  },
  // e2e suites start real processes (Envoy, nginx, etcd): run suites one at a time on 2 cores
  maxWorkers: 1,
  testTimeout: 60000,
};
