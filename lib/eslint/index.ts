import type { ESLint, Linter } from 'eslint';
import { deterministicOrchestrations } from './deterministic-orchestrations.js';
import { noUnawaitedDurableCalls } from './no-unawaited-durable-calls.js';

const plugin: ESLint.Plugin & { configs: { recommended: Linter.Config } } = {
  meta: { name: 'perdure' },
  rules: {
    'deterministic-orchestrations': deterministicOrchestrations,
    'no-unawaited-durable-calls': noUnawaitedDurableCalls,
  },
  configs: { recommended: {} },
};

/**
 * The orchestration lint rules, enabled in one line of eslint.config.js: `deterministic-orchestrations`
 * (no real time, randomness, timers, I/O or non-durable awaits in orchestration code) and
 * `no-unawaited-durable-calls` (no durable call whose promise, and so whose failure, is dropped).
 * @example
 * import perdure from 'perdure/eslint';
 * export default [perdure.configs.recommended];
 */
plugin.configs.recommended = {
  plugins: { perdure: plugin },
  rules: {
    'perdure/deterministic-orchestrations': 'error',
    'perdure/no-unawaited-durable-calls': 'error',
  },
};

export default plugin;
