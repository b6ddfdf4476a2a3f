/**
 * Builds policy-pack/index.js: the pack's entry point (scripts/policy-pack-main.ts) and every rule with
 * the JavaScript it uses, as one file. The pack folder is then self-contained: its package.json
 * depends only on @pulumi/policy and @pulumi/pulumi (left outside the bundle, so the rules' unknown
 * checks use the same @pulumi/policy classes as the analyzer server), which `npm install` in the
 * folder, `pulumi preview --policy-pack` and `pulumi policy publish` fetch from the public registry.
 *
 * Run by `npm run build` after tsc, from the compiled tree in dist/.
 */
import { build } from 'esbuild';
import { join } from 'node:path';
import { packageRoot } from '../agent/package-root';

const ROOT = packageRoot();
export const POLICY_PACK_BUNDLE = join(ROOT, 'policy-pack', 'index.js');

export async function bundlePolicyPack(): Promise<void> {
  await build({
    entryPoints: [join(ROOT, 'dist', 'scripts', 'policy-pack-main.js')],
    outfile: POLICY_PACK_BUNDLE,
    bundle: true,
    platform: 'node',
    // The Node the deployer's Pulumi CLI runs packs with, not the agent's: Pulumi's supported floor.
    target: 'node18',
    format: 'cjs',
    external: ['@pulumi/policy', '@pulumi/pulumi', 'google-protobuf'],
    banner: { js: '// Built by scripts/bundle-policy-pack.ts from policies/ (npm run build); do not edit.' },
    keepNames: true,
    logLevel: 'warning',
  });
}

if (require.main === module)
  bundlePolicyPack().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
