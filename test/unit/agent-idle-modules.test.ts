/**
 * What an idle wiremesh-agent has loaded, from the built tree in a fresh Node process: the agent's
 * entry point, a YAML configuration with a file key read, and a kernel or wireguard-go plane built.
 * Neither secret-store SDK, nor ajv's compiler, nor the planner, components, policies or CLI may be
 * among them, nor @noble/hashes (the MAC fallback), and the userspace engine (protocol core, device,
 * batch buffers) and node:crypto only when that plane is chosen. Memory itself is measured in the bench (bench/memory.ts), not asserted here.
 * The bin starts the single-file bundle of the same code (scripts/bundle-agent.ts): run through the
 * bin, the agent loads that one file and, from node_modules, only the native addons' loaders.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../agent/package-root';
import { AGENT_BUNDLE } from '../../scripts/bundle-agent';

const ROOT = packageRoot();
const DIST = join(ROOT, 'dist', 'agent');
const BIN = join(ROOT, 'bin', 'wiremesh-agent.js');
const KEY = 'YAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=';

const NEVER_AT_IDLE: [string, RegExp][] = [
  ['the AWS SDK', /\/node_modules\/@aws-sdk\//],
  ['the GCP SDK', /\/node_modules\/@google-cloud\//],
  ['ajv beyond its runtime helpers', /\/node_modules\/ajv\/(?!dist\/runtime\/)/],
  ['the planner and mesh CLI', /\/dist\/(mesh|cli)\//],
  ['the Pulumi components', /\/dist\/components\//],
  ['the policy pack', /\/dist\/policies\//],
  ['Pulumi', /\/node_modules\/@pulumi\//],
  // Node's own: prom-client's index would load them for its Pushgateway, never used here.
  ['https, tls or zlib', /^node:(https|tls|zlib)$/],
  // The MAC fallback for hosts without the native addon; its module loads node:crypto's webcrypto.
  ['@noble/hashes', /\/node_modules\/@noble\/hashes\//],
];
// OpenSSL's hashes are the userspace engine's (agent/crypto/primitives.ts): the other planes never hash.
const NODE_CRYPTO = /^node:(crypto|internal\/crypto\/.*)$/;
// The native addon is not among them: agent/crypto uses its keyed BLAKE2s on every plane.
const USERSPACE_ENGINE = /\/dist\/agent\/(core\/device|wg\/userspace-device|gateway\/planes\/userspace)\.js$/;

/** Loads what `wiremesh-agent run` loads before it idles: require.cache's keys, then node:NAME per built-in. */
function loadedModules(plane: 'kernel' | 'wireguard-go' | 'userspace', configPath: string): string[] {
  const script = `
    const { readConfigFile } = require(${JSON.stringify(join(DIST, 'gateway', 'agent.js'))});
    const { ExecFileCommandRunner } = require(${JSON.stringify(join(DIST, 'gateway', 'commands.js'))});
    const { createDataPlane } = require(${JSON.stringify(join(DIST, 'gateway', 'planes', 'index.js'))});
    require(${JSON.stringify(join(DIST, 'cli', 'wiremesh-agent.js'))});
    readConfigFile(process.argv[1]).then(() => {
      const plane = process.argv[2];
      if (plane === 'userspace') require(${JSON.stringify(join(DIST, 'gateway', 'planes', 'userspace.js'))});
      else createDataPlane(plane, new ExecFileCommandRunner());
      const builtins = process.moduleLoadList.filter((entry) => entry.startsWith('NativeModule ')).map((entry) => 'node:' + entry.slice(13));
      process.stdout.write(JSON.stringify([...Object.keys(require.cache), ...builtins]));
    });`;
  return JSON.parse(
    execFileSync(process.execPath, ['-e', script, configPath, plane], { encoding: 'utf8' }),
  ) as string[];
}

/** What `bin/wiremesh-agent.js ARGS` had loaded when it exited, recorded by a preloaded script. */
function loadedThroughBin(dir: string, args: string[]): string[] {
  const record = join(dir, 'record.js');
  const out = join(dir, 'loaded.json');
  writeFileSync(
    record,
    `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify([
      ...Object.keys(require.cache),
      ...process.moduleLoadList.filter((entry) => entry.startsWith('NativeModule ')).map((entry) => 'node:' + entry.slice(13)),
    ])));`,
  );
  rmSync(out, { force: true });
  try {
    execFileSync(BIN, args, { env: { ...process.env, NODE_OPTIONS: `--require ${record}` }, stdio: 'pipe' });
  } catch {
    // The exit status is `check`'s verdict on this host (key file owner), not what is examined here.
  }
  return JSON.parse(readFileSync(out, 'utf8')) as string[];
}

describe('the idle agent module graph', () => {
  let dir: string;
  let configPath: string;

  beforeAll(() => {
    if (!existsSync(join(DIST, 'cli', 'wiremesh-agent.js')))
      throw new Error('dist/ is missing: run `npm run build` first');
    dir = mkdtempSync(join(tmpdir(), 'wiremesh-idle-modules-'));
    configPath = join(dir, 'agent.yaml');
    writeFileSync(join(dir, 'agent.key'), `${KEY}\n`, { mode: 0o600 });
    writeFileSync(
      configPath,
      [
        'interface: { name: wm0, addresses: [198.19.97.1/24] }',
        `privateKey: { source: file, path: ${join(dir, 'agent.key')} }`,
        'metrics: {}',
        'peers:',
        `  - { name: p0, publicKey: "${KEY}", allowedIps: [10.0.0.1/32] }`,
        '',
      ].join('\n'),
    );
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(['kernel', 'wireguard-go'] as const)(
    'on the %s plane holds no SDK, compiler, planner, components, userspace engine or node:crypto',
    (plane) => {
      const modules = loadedModules(plane, configPath);
      expect(modules.some((path) => path.endsWith('/dist/agent/gateway/agent.js'))).toBe(true);
      for (const [what, pattern] of NEVER_AT_IDLE)
        expect({ what, loaded: modules.filter((path) => pattern.test(path)) }).toEqual({ what, loaded: [] });
      expect(modules.filter((path) => USERSPACE_ENGINE.test(path))).toEqual([]);
      expect(modules.filter((path) => NODE_CRYPTO.test(path))).toEqual([]);
    },
  );

  it('on the userspace plane adds the engine and nothing of the excluded', () => {
    const modules = loadedModules('userspace', configPath);
    expect(modules.filter((path) => USERSPACE_ENGINE.test(path)).length).toBeGreaterThan(0);
    for (const [what, pattern] of NEVER_AT_IDLE)
      expect({ what, loaded: modules.filter((path) => pattern.test(path)) }).toEqual({ what, loaded: [] });
  });

  it('through the bin is the bundle alone, with node_modules only for native addons', () => {
    if (!existsSync(AGENT_BUNDLE)) throw new Error('the agent bundle is missing: run `npm run build` first');
    const modules = loadedThroughBin(dir, ['check', '--offline', '--config', configPath]);
    expect(modules).toContain(AGENT_BUNDLE);
    expect(modules.filter((path) => path.includes('/dist/') && path !== AGENT_BUNDLE)).toEqual([]);
    // node-gyp-build finds both addons (ours, libsodium's prebuild) from their package directories.
    const fromNodeModules = modules
      .filter((path) => path.includes('/node_modules/'))
      .map((path) => path.slice(path.lastIndexOf('/node_modules/') + 14));
    expect(
      fromNodeModules.filter((path) => !/^(node-gyp-build\/|sodium-native\/(package\.json$|prebuilds\/))/.test(path)),
    ).toEqual([]);
    for (const [what, pattern] of NEVER_AT_IDLE)
      expect({ what, loaded: modules.filter((path) => pattern.test(path)) }).toEqual({ what, loaded: [] });
  });
});
