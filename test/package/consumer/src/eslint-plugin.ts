// Uses perdure/eslint through its declarations, as ESLint's own types, and prints what it provides.
import type { ESLint, Linter } from 'eslint';
import perdure from 'perdure/eslint';

const plugin: ESLint.Plugin = perdure;
const recommended: Linter.Config = perdure.configs.recommended;
console.log(JSON.stringify({ rules: Object.keys(plugin.rules ?? {}), recommended: recommended.rules }));
