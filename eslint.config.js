// Lint rules: typescript-eslint's recommended set plus the habits of docs/style.md.
import js from '@eslint/js'
import { createNodeResolver, importX } from 'eslint-plugin-import-x'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['node_modules/', '.kafka/', 'data/', '.tap/', 'test-output/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // The SQLite store runs statements as tagged templates (sql.run`…`).
      '@typescript-eslint/no-unused-expressions': ['error', { allowTaggedTemplates: true }],
      'no-restricted-syntax': ['error', { selector: 'ThrowStatement > Literal', message: 'Throw an AppError with a code, never a string.' }],
    },
  },
  {
    // Folders depend one way (docs/style.md): engines → clients and store → base. A cycle
    // between modules is an error, so a loop like oauth ↔ salesforce cannot come back.
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js'] })],
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  {
    // The dashboard stand-in's page runs in the browser.
    files: ['sandbox/dashboard/public/**/*.js'],
    languageOptions: { globals: globals.browser },
  },
  {
    // Tests read JSON bodies of many shapes; typing each one would add noise, not safety.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Only the entry points read the environment or end the process (docs/style.md).
    files: ['src/**/*.ts'],
    ignores: ['src/config.ts', 'src/server.ts', 'src/cli/main.ts'],
    rules: {
      'no-restricted-properties': ['error',
        { object: 'process', property: 'env', message: 'Read configuration through src/config.ts.' },
        { object: 'process', property: 'exit', message: 'Only entry points exit the process.' }],
    },
  },
)
