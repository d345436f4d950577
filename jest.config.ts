import type { Config } from 'jest';

// Integration tests spawn real server processes; two workers match the two cores CI has.
const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/packages', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }],
  },
  maxWorkers: 2,
  testTimeout: 60_000,
  verbose: true,
};

export default config;
