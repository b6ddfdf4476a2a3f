/**
 * Builds dist/bundle/wiremesh-agent.js, the file bin/wiremesh-agent.js starts: the agent daemon and
 * its JavaScript dependencies as one script. Resolving and compiling ~250 separate modules at start
 * kept ~6 MB more resident than one file holding the same code (bench/memory.ts measures it);
 * esbuild keeps each module's body behind its first require(), so lazily required modules (the
 * userspace engine, the secret backends) still run only when used.
 *
 * Left outside, loaded from node_modules at run time: the cloud SDKs (large, and only for a secret
 * source that names them) and node-gyp-build (it locates native addons from a package directory).
 * sodium-native's own loader (require-addon and its resolver packages, ~4 MB resident) is replaced
 * by node-gyp-build over the same prebuilt binary in sodium-native's package directory, and pino's
 * worker-thread transports (thread-stream), which the agent never starts, by a function that throws.
 *
 * Run by `npm run build` after tsc, from the compiled tree in dist/.
 */
import { build, type Plugin } from 'esbuild';
import { join } from 'node:path';
import { packageRoot } from '../agent/package-root';

const ROOT = packageRoot();
export const AGENT_BUNDLE = join(ROOT, 'dist', 'bundle', 'wiremesh-agent.js');
export const BUNDLE_EXTERNALS = ['@aws-sdk/*', '@google-cloud/*', 'node-gyp-build', 'sodium-native/package.json'];

const SODIUM_BINDING = `module.exports = require('node-gyp-build')(
  require('node:path').dirname(require.resolve('sodium-native/package.json')),
);`;

/** sodium-native's `require('./binding')`, answered by node-gyp-build. */
const sodiumBinding: Plugin = {
  name: 'sodium-native-binding',
  setup(builder) {
    builder.onResolve({ filter: /^\.\/binding(\.js)?$/ }, (args) =>
      /[\\/]node_modules[\\/]sodium-native[\\/]index\.js$/.test(args.importer)
        ? { path: 'sodium-native-binding', namespace: 'wiremesh' }
        : undefined,
    );
    builder.onLoad({ filter: /.*/, namespace: 'wiremesh' }, (args) => ({
      contents: args.path === 'pino-transport' ? PINO_TRANSPORT : SODIUM_BINDING,
      loader: 'js',
      resolveDir: ROOT,
    }));
  },
};

const PINO_TRANSPORT = `module.exports = function transport() {
  throw new Error('wiremesh-agent: pino transports are not part of the agent bundle');
};`;

/** pino's worker-thread transports (thread-stream, worker_threads), which the agent never starts. */
const pinoTransport: Plugin = {
  name: 'pino-transport',
  setup(builder) {
    builder.onResolve({ filter: /^\.\/(lib\/)?transport$/ }, (args) =>
      /[\\/]node_modules[\\/]pino[\\/](pino|lib[\\/]tools)\.js$/.test(args.importer)
        ? { path: 'pino-transport', namespace: 'wiremesh' }
        : undefined,
    );
  },
};

export async function bundleAgent(): Promise<void> {
  await build({
    entryPoints: [join(ROOT, 'dist', 'agent', 'cli', 'wiremesh-agent.js')],
    outfile: AGENT_BUNDLE,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    external: BUNDLE_EXTERNALS,
    plugins: [sodiumBinding, pinoTransport],
    // The script's source stays on the heap as one string: minified, ~0.5 MB instead of ~1.1 MB.
    minify: true,
    keepNames: true,
    logLevel: 'warning',
  });
}

if (require.main === module)
  bundleAgent().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
