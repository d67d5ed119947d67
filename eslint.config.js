import js from '@eslint/js'
import tseslint from 'typescript-eslint'

// Protocol logic must run on Workers, Deno and Bun too: node:* stays in the Node edges
// (server entry and stores, client/node, web/node.ts and the web adapters that sit on node:http
// or ioredis — web/express.ts, web/redis.ts — and cli), as STYLE.md §4 asks.
const NODE_ONLY = {
  patterns: [{ group: ['node:*'], message: 'node:* belongs in a Node-specific edge module (node/, store/, crypto/, cli).' }],
}

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**', 'test-artifacts/**', '.evergreen/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-restricted-syntax': [
        'error',
        { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: 'Inject the clock (deps.now) instead of Date.now().' },
      ],
    },
  },
  { files: ['packages/core/src/**/*.ts'], rules: { 'no-restricted-imports': ['error', NODE_ONLY] } },
  { files: ['packages/client/src/**/*.ts'], ignores: ['packages/client/src/node/**', 'packages/client/src/**/*.test.ts'], rules: { 'no-restricted-imports': ['error', NODE_ONLY] } },
  { files: ['packages/web/src/**/*.ts'], ignores: ['packages/web/src/node.ts', 'packages/web/src/express.ts', 'packages/web/src/redis.ts', 'packages/web/src/**/*.test.ts', 'packages/web/src/test-support/**'], rules: { 'no-restricted-imports': ['error', NODE_ONLY] } },
  { files: ['packages/resource/src/**/*.ts'], ignores: ['packages/resource/src/**/*.test.ts'], rules: { 'no-restricted-imports': ['error', NODE_ONLY] } },
  {
    // Production defaults of injected dependencies, tests and benchmarks may read the real clock.
    files: ['**/*.test.ts', '**/test-support/**', 'test/**', 'bench/**', 'packages/server/src/node/**', 'packages/server/src/crypto/random.ts', 'packages/server/src/store/*.ts', 'packages/cli/src/**', 'packages/web/src/config.ts', 'packages/web/src/redis.ts', 'packages/resource/src/resource-server.ts', 'examples/**'],
    rules: { 'no-restricted-syntax': 'off' },
  },
)
