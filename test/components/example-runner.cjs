/**
 * Runs one example program (argv[2]: its directory) the way `pulumi up` loads a TypeScript
 * program, under Pulumi mocks: from the example's directory, with ts-node registered as
 * @pulumi/pulumi's cmd/run/run.js registers it (its own tsutils pick typescript and ts-node, the
 * compiler options default to target ES2020 / module nodenext / sourceMap, overridden by a
 * tsconfig.json in the project directory, and type checking stays on unless that tsconfig sets
 * noCheck). argv[3] = "vendored" uses the ts-node@7.0.1 that @pulumi/pulumi falls back to when the
 * project has none. Prints the recorded resource types as JSON on the last line.
 */
const fs = require('node:fs');
const path = require('node:path');

const [dir, loader] = process.argv.slice(2);
process.chdir(dir);
const tsutils = require('@pulumi/pulumi/tsutils');
const { typescriptRequire, tsnodeRequire } = tsutils.typeScriptRequireStrings();
const tsConfigPath = 'tsconfig.json';
const compilerOptions = tsutils.loadTypeScriptCompilerOptions(tsConfigPath);
require(loader === 'vendored' ? require.resolve('@pulumi/pulumi/vendor/ts-node@7.0.1') : tsnodeRequire).register({
  compiler: typescriptRequire,
  transpileOnly: compilerOptions.noCheck,
  project: tsConfigPath,
  skipProject: !fs.existsSync(tsConfigPath),
  compilerOptions: {
    target: 'ES2020',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    sourceMap: 'true',
    ...compilerOptions,
  },
});

(async () => {
  const { exampleStacks } = require('./example-stacks');
  const mocks = exampleStacks[path.basename(dir)]();
  const program = require(path.join(dir, 'index.ts'));
  if (typeof program === 'function') await program();
  await mocks.settle();
  console.log(JSON.stringify(mocks.resources.map((r) => r.type)));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
