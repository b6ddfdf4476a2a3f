/**
 * The policy pack as a user gets it, not from the checkout: `npm pack` of the wiremesh package and
 * of policy-pack/ (what `pulumi policy publish` uploads: it runs `npm pack` in the pack directory,
 * pulumi/pulumi pkg/backend/httpstate/policypack.go), the pack tarball extracted into a clean
 * directory and its dependencies installed as the engine installs a published pack (`npm install`
 * there; here offline from the npm cache): @pulumi/policy and @pulumi/pulumi only, the rules being
 * bundled into its index.js, so nothing named wiremesh is fetched from a registry. Then the
 * analyzer is launched as the engine launches it and asked for verdicts over gRPC.
 *
 * `--ignore-scripts`: the pack needs no native addon; the root package's install script (the
 * addon build) is not what is tested here.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { policies } from '../../policies/policies';
import type { RunnerResource } from '../../policies/run';
import {
  type Analyzer,
  analyzeRequest,
  analyzeStackRequest,
  call,
  configureRequest,
  diagnostics,
  Empty,
  EnforcementLevel,
  ensureBuilt,
  launchAsEngine,
  PACK_DIR,
  ROOT,
  stop,
} from './analyzer';
import { newestKeyCreatedAt, recordComponentStack, withProps } from './stacks';

const UNKNOWN = '04da6b54-80e4-46f7-96ec-b56ff0331ba9';
let work: string;
let installed: string;
let resources: RunnerResource[];
let analyzer: Analyzer | undefined;

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    encoding: 'utf8',
    timeout: 600_000,
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
}

/** The file names inside a tarball. */
function tarList(file: string): string[] {
  return execFileSync('tar', ['-tzf', file], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

beforeAll(async () => {
  ensureBuilt();
  work = mkdtempSync(path.join(tmpdir(), `wiremesh-pack-${process.pid}-`));
  npm(['pack', '--ignore-scripts', '--pack-destination', work], ROOT);
  npm(['pack', '--pack-destination', work], PACK_DIR);
  // As installRequiredPolicy does: extract (the files are under package/), then install the dependencies there.
  execFileSync('tar', ['-xzf', path.join(work, 'wiremesh-policy-pack-0.1.0.tgz'), '-C', work]);
  installed = path.join(work, 'package');
  const install = (mode: string) => npm(['install', mode, '--ignore-scripts', '--no-save'], installed);
  try {
    install('--offline');
  } catch {
    install('--prefer-offline'); // a cold npm cache: fetch what it lacks, once
  }
  ({ resources } = await recordComponentStack());
}, 900_000);

afterEach(async () => {
  await stop(analyzer);
  analyzer = undefined;
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the pack installed from npm pack output', () => {
  test('the tarballs: the pack is self-contained (the rules built into its main, only the Pulumi SDKs as dependencies), the library ships the rules without a pack entry point', () => {
    expect(tarList(path.join(work, 'wiremesh-policy-pack-0.1.0.tgz')).sort()).toEqual([
      'package/PulumiPolicy.yaml',
      'package/README.md',
      'package/index.js',
      'package/package.json',
    ]);
    const pack = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8'));
    expect(pack.main).toBe('index.js');
    expect(Object.keys(pack.dependencies).sort()).toEqual(['@pulumi/policy', '@pulumi/pulumi']);
    expect(existsSync(path.join(installed, 'node_modules/wiremesh'))).toBe(false);
    const main = readFileSync(path.join(installed, 'index.js'), 'utf8');
    expect(main).toContain('require("@pulumi/policy")');
    expect(main).not.toMatch(/require\("wiremesh/);
    const library = tarList(path.join(work, 'wiremesh-0.1.0.tgz'));
    expect(library).toEqual(
      expect.arrayContaining([
        'package/dist/policies/policies.js',
        'package/dist/policies/run.js',
        'package/dist/common/defaults.js',
        'package/policy-pack/index.js',
      ]),
    );
    // One @pulumi/policy for the pack and the rules (the rules' unknown checks need the server's own classes).
    expect(readdirSync(path.join(installed, 'node_modules/@pulumi')).sort()).toEqual(
      expect.arrayContaining(['policy', 'pulumi']),
    );
  });

  test('launched as the engine launches it, it gives the same verdicts as the checkout', async () => {
    analyzer = await launchAsEngine(installed);
    const { client } = analyzer;
    const info: any = await call(client, 'getAnalyzerInfo', new Empty());
    expect([info.getName(), info.getVersion()]).toEqual(['wiremesh', '0.1.0']);
    expect(info.getPoliciesList().map((p: any) => p.getName())).toEqual(policies.map((p) => p.name));

    const sshOpen = withProps(resources, 'site-a-sg', (p) => ({
      ...p,
      ingress: [...p.ingress, { protocol: 'tcp', fromPort: 22, toPort: 22, cidrBlocks: ['0.0.0.0/0'] }],
    })).find((r) => r.name === 'site-a-sg')!;
    expect(diagnostics(await call(client, 'analyze', analyzeRequest(sshOpen))).map((d) => [d.policy, d.level])).toEqual(
      [
        ['wiremesh-gateway-ingress', EnforcementLevel.MANDATORY],
        ['wiremesh-no-public-admin-ports', EnforcementLevel.MANDATORY],
      ],
    );
    // A preview unknown: the rules' own advisory, which needs the same @pulumi/policy as the server.
    const preview = withProps(resources, 'site-b-fwd', (p) => ({ ...p, sourceRanges: UNKNOWN })).find(
      (r) => r.name === 'site-b-fwd',
    )!;
    const unknown = diagnostics(await call(client, 'analyze', analyzeRequest(preview)));
    expect(unknown.map((d) => [d.policy, d.level])).toEqual([
      ['wiremesh-gateway-ingress', EnforcementLevel.ADVISORY],
      ['wiremesh-no-public-admin-ports', EnforcementLevel.ADVISORY],
    ]);
    expect(unknown[0]!.message).toContain('could not check gateway firewall "site-b-fwd"');

    // Past every key's epoch end (a rotated generation: 90 days plus one 7-day overlap).
    const late = new Date(newestKeyCreatedAt(resources).getTime() + 98 * 86_400_000).toISOString();
    await call(
      client,
      'configure',
      configureRequest({
        'wiremesh-key-rotation': { level: EnforcementLevel.MANDATORY, props: { now: late, warnDays: 0 } },
      }),
    );
    const stack = diagnostics(await call(client, 'analyzeStack', analyzeStackRequest(resources)));
    expect(stack.map((d) => d.policy)).toEqual(Array(4).fill('wiremesh-key-rotation'));
    expect(analyzer.stderr.join('')).toBe('');
  }, 60_000);
});
