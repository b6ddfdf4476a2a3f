/**
 * The published package as a gateway installs it: `scripts/pack-package.sh` (prebuilt addon, `npm
 * pack`), then `npm install --omit=dev` of the tarball in an empty directory with a PATH of only
 * node, npm and coreutils (no cc, g++, make, python3: scripts/install-without-toolchain.sh), the
 * dependencies coming from the boot lab's npm registry on loopback. `wiremesh-agent check` must work
 * and the addon must come from prebuilds/. The tarball holds no tests, bench, lab or sources it
 * does not need, and the Pulumi SDKs are not installed.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseDocument } from 'yaml';
import { packageRoot } from '../../agent/package-root';
import { npmRegistryContent } from '../../lab/boot/npm-registry';
import { npmRegistryHandler } from '../../lab/boot/services/edge';
import { readRequest } from '../../lab/boot/services/http';

const run = promisify(execFile);
const root = packageRoot();
const work = mkdtempSync(join(tmpdir(), 'wiremesh-package-'));
let server: Server | undefined;
let tarball = '';

beforeAll(async () => {
  const { stdout } = await run(join(root, 'scripts', 'pack-package.sh'), [work], { maxBuffer: 16 * 1024 * 1024 });
  tarball = stdout.trim().split('\n').pop()!;
}, 300_000);

afterAll(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise((resolve) => server!.close(resolve));
  }
  rmSync(work, { recursive: true, force: true });
});

test('the tarball holds the agent, components, schemas, unit and prebuilds, and no tests, bench, lab or maps', () => {
  const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n');
  expect(files).toEqual(
    expect.arrayContaining([
      'package/package.json',
      'package/bin/wiremesh-agent.js',
      'package/dist/agent/cli/wiremesh-agent.js',
      'package/dist/components/index.js',
      'package/agent/systemd/wiremesh-agent.service',
      'package/prebuilds/linux-x64/wiremesh.node',
      'package/schemas/agent-config.schema.json',
    ]),
  );
  expect(
    files.filter((f) =>
      /^package\/(test|examples|bench|lab|scripts)\/|^package\/dist\/(test|bench|lab|scripts)\/|\.map$|\.ts$(?<!\.d\.ts)/.test(
        f,
      ),
    ),
  ).toEqual([]);
  const manifest = JSON.parse(
    execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }),
  ) as Record<string, any>;
  expect(manifest.private).toBeUndefined();
  expect(manifest.scripts.install).toBe('node-gyp-build');
  expect(
    Object.keys(manifest.peerDependencies).every((name) => manifest.peerDependenciesMeta[name]?.optional === true),
  ).toBe(true);
});

test('installs without a compiler and `wiremesh-agent check` works, with the prebuilt addon', async () => {
  const manifest = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
  const content = npmRegistryContent(tarball, manifest, root, join(work, 'registry'));
  let url = '';
  server = createServer(
    (incoming, response) =>
      void readRequest(incoming).then((request) => npmRegistryHandler(content, url)(request, response)),
  );
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const prefix = join(work, 'install');
  // The example configuration, with its key file made real: check verifies owner, mode and content.
  // The path is set in the parsed document (the example's comments name the default path too).
  const keyPath = join(work, 'private.key');
  writeFileSync(keyPath, `${Buffer.alloc(32, 7).toString('base64')}\n`, { mode: 0o600 });
  const config = join(work, 'gateway.yaml');
  const example = parseDocument(readFileSync(join(root, 'examples', 'agent', 'gateway.yaml'), 'utf8'));
  example.setIn(['privateKey', 'path'], keyPath);
  writeFileSync(config, example.toString());
  // A failure shows the script's whole output and exit status: `check` reports on stdout.
  const { stdout, stderr } = await run(
    join(root, 'scripts', 'install-without-toolchain.sh'),
    [tarball, config, prefix],
    {
      env: { ...process.env, npm_config_registry: `${url}/`, npm_config_cache: join(work, 'npm-cache') },
      maxBuffer: 16 * 1024 * 1024,
    },
  ).catch((error: { code?: number; signal?: string; stdout?: string; stderr?: string }) => {
    throw new Error(
      `install-without-toolchain.sh exited ${error.code ?? error.signal}\n--- stdout\n${error.stdout}\n--- stderr\n${error.stderr}`,
    );
  });
  expect(stdout).toMatch(/^interface wm0:/m);
  expect(stderr).toMatch(/installed into .*KiB/);
  const installed = join(prefix, 'node_modules');
  expect(existsSync(join(installed, 'wiremesh', 'build'))).toBe(false);
  expect(existsSync(join(installed, '@pulumi'))).toBe(false);
  // The addon loads from prebuilds/ on this machine.
  const loaded = execFileSync(
    process.execPath,
    [
      '-e',
      `console.log(require(${JSON.stringify(join(installed, 'node-gyp-build'))}).path(${JSON.stringify(join(installed, 'wiremesh'))}))`,
    ],
    { encoding: 'utf8' },
  );
  expect(loaded.trim()).toBe(join(installed, 'wiremesh', 'prebuilds', `linux-${process.arch}`, 'wiremesh.node'));
  const lock = JSON.parse(readFileSync(join(installed, '.package-lock.json'), 'utf8')) as {
    packages: Record<string, unknown>;
  };
  console.log(`installed package: ${Object.keys(lock.packages).length} packages; ${stderr.trim().split('\n').pop()}`);
}, 300_000);
