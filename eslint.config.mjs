// Lint: the recommended rules of ESLint and typescript-eslint, nothing exotic. Type checking is tsc's job
// (`pnpm typecheck`), layout is prettier's (`pnpm format:check`), import rules are dependency-cruiser's
// (`pnpm deps`, .dependency-cruiser.cjs); `pnpm lint` runs all four.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'bench/results/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // Unused arguments named with a leading underscore are deliberate (callbacks with a fixed shape).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // Plain JavaScript files (examples, fixtures, bench) are CommonJS or ESM scripts.
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts'],
    languageOptions: { globals: { ...globals.jest } },
  },
  // Last: turns off every ESLint rule about layout, which prettier owns (`pnpm format:check`).
  prettier,
);
