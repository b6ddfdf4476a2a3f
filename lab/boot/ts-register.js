'use strict';
// Lets `node -r ./lab/boot/ts-register.js lab/boot/x.ts` run the lab's TypeScript (and the example
// programs it loads) without a build step: transpile-only, as jest does. Types are checked by
// `npm run typecheck`.
const { readFileSync } = require('node:fs');
const ts = require('typescript');

require.extensions['.ts'] = function compile(module, filename) {
  const { outputText } = ts.transpileModule(readFileSync(filename, 'utf8'), {
    fileName: filename,
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: true,
      inlineSourceMap: true,
    },
  });
  module._compile(outputText, filename);
};
