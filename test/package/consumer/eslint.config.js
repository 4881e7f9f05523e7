import perdure from 'perdure/eslint';

export default [perdure.configs.recommended];
