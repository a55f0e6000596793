// One linter for the whole tree: neostandard (the style family Fastify uses) with its TypeScript
// support. `npm run lint` runs it; .ci/run runs that before the tests. Adjustments below only where
// the code's own style is deliberate and consistent; each says why.
import { createRequire } from 'node:module'
import neostandard from 'neostandard'

// The browser globals table neostandard resolves its own `env` option from, used for the dashboard
// only (`env: ['browser']` would make `window`, `document`… legal in the server code too).
const requireFromNeostandard = createRequire(createRequire(import.meta.url).resolve('neostandard'))
const globals = requireFromNeostandard('globals')

export default [
  ...neostandard({
    ts: true,
    ignores: ['dist/**', 'build/**', 'node_modules/**', 'run/**', 'test-artifacts/**', 'bench/results/**'],
  }),
  {
    name: 'memfd-pool/adjustments',
    rules: {
      // `void promise` as a statement marks a promise deliberately not awaited (Fastify's
      // `reply.send()` returns a thenable; shutdown paths `void app.close().finally(…)`): that is the
      // convention typescript-eslint's no-floating-promises accepts. `void` inside an expression
      // stays an error.
      'no-void': ['error', { allowAsStatement: true }],
    },
  },
  {
    name: 'memfd-pool/typescript',
    files: ['**/*.ts'],
    rules: {
      // TypeBox's idiom names a schema and its type alike (`export const Job = Type.Object(…)`,
      // `export type Job = Static<typeof Job>`): a value and a type, which TypeScript keeps apart.
      // A real redeclaration of either is a tsc error already.
      '@typescript-eslint/no-redeclare': 'off',
    },
  },
  {
    // The dashboard: ES modules the browser loads straight from disk, no build step.
    name: 'memfd-pool/dashboard',
    files: ['server/dashboard/**/*.js'],
    languageOptions: { sourceType: 'module', globals: globals.browser },
  },
]
