import js from '@eslint/js';
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'bench/results/**', '.nx/**', '**/drizzle.config.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  prettier,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'type:core', onlyDependOnLibsWithTags: ['type:core'] },
            { sourceTag: 'type:operators', onlyDependOnLibsWithTags: ['type:core', 'type:operators'] },
            { sourceTag: 'type:adapter', onlyDependOnLibsWithTags: ['type:core', 'type:operators', 'type:adapter'] },
            { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:core', 'type:operators', 'type:adapter', 'type:testing'] },
            { sourceTag: 'type:tooling', onlyDependOnLibsWithTags: ['type:core', 'type:operators', 'type:adapter', 'type:testing', 'type:app'] },
            { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['type:core', 'type:operators', 'type:adapter', 'type:testing', 'type:app'] },
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:core', 'type:operators', 'type:adapter', 'type:testing'] },
          ],
        },
      ],
    },
  },
  {
    // Tests may use the test-support lib whatever the project's own layer.
    files: ['**/*.spec.ts', 'apps/e2e/src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          depConstraints: [{ sourceTag: '*', onlyDependOnLibsWithTags: ['type:core', 'type:operators', 'type:adapter', 'type:testing', 'type:app'] }],
        },
      ],
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Plain JavaScript (a worker thread's bootstrap) has no types to check against.
    files: ['**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
