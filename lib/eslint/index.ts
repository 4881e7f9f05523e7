import type { ESLint, Linter } from 'eslint';
import { deterministicOrchestrations } from './deterministic-orchestrations.js';

const plugin: ESLint.Plugin & { configs: { recommended: Linter.Config } } = {
  meta: { name: 'perdure' },
  rules: { 'deterministic-orchestrations': deterministicOrchestrations },
  configs: { recommended: {} },
};

/**
 * The determinism lint rule, enabled in one line of eslint.config.js.
 * @example
 * import perdure from 'perdure/eslint';
 * export default [perdure.configs.recommended];
 */
plugin.configs.recommended = {
  plugins: { perdure: plugin },
  rules: { 'perdure/deterministic-orchestrations': 'error' },
};

export default plugin;
