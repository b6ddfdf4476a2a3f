/**
 * The gateways' disk image: a Debian 12 (bookworm) root file system made once with debootstrap and
 * cached under a key that hashes every input (suite, mirror, package list, the Node.js binary and
 * npm it pre-seeds, the lab CA and apt key it trusts, the customization code). Each gateway boots a throwaway
 * overlay of it (vm.ts). What the image holds beyond debootstrap is what a cloud image plus the
 * lab's edge substitutions need (README.md lists them):
 * - the packages the user data installs, pre-installed (the lab's Debian mirror serves the same
 *   .deb files, kept next to the image as its pool);
 * - Node.js 24 and npm at /usr/bin (NodeSource's layout), so the bootstrap's "node of that major
 *   or later is installed" check skips NodeSource, which the sealed lab cannot reach;
 * - the lab CA in the system store, and NODE_EXTRA_CA_CERTS pointing Node at that store for every
 *   unit (systemd DefaultEnvironment), so npm and the agent's SDK clients trust the lab's HTTPS edge;
 * - the lab apt key (the mirror's InRelease is signed with it);
 * - a persistent journal, so the logs survive the VM for the artifacts.
 * (cloud-init's datasource settings are written per VM, vm.ts.)
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';

export const SUITE = 'bookworm';
export const MIRROR = 'http://deb.debian.org/debian';
/** systemd + cloud-init as the issue's working set, then what the gateways' user data installs. */
export const IMAGE_PACKAGES = [
  'systemd',
  'systemd-sysv',
  'dbus',
  'cloud-init',
  'python3-cffi-backend',
  'iproute2',
  'ca-certificates',
  'curl',
  'gnupg',
  'wireguard-tools',
];

export interface ImageInputs {
  cacheDirectory: string;
  /** The Node.js binary to pre-seed (the project's Node 24). */
  nodeBinary: string;
  /** The npm package directory to pre-seed. */
  npmDirectory: string;
  caCertificatePath: string;
  aptPublicKey: Buffer;
}

export interface Image {
  key: string;
  root: string;
  /** The .deb files the image was made from: the lab mirror's pool. */
  poolDirectory: string;
  /** Seconds the build took (0 when cached). */
  buildSeconds: number;
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function imageKey(inputs: ImageInputs): string {
  const npmVersion = (
    JSON.parse(readFileSync(join(inputs.npmDirectory, 'package.json'), 'utf8')) as { version: string }
  ).version;
  return sha256(
    JSON.stringify({
      suite: SUITE,
      mirror: MIRROR,
      packages: IMAGE_PACKAGES,
      node: sha256(readFileSync(inputs.nodeBinary)),
      npm: npmVersion,
      ca: sha256(readFileSync(inputs.caCertificatePath)),
      apt: sha256(inputs.aptPublicKey),
      recipe: sha256(customize.toString()),
    }),
  ).slice(0, 16);
}

function chroot(root: string, command: string[]): void {
  execFileSync('chroot', [root, ...command], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' },
  });
}

/** The cached image for `inputs`, built first when absent (debootstrap needs the network: run it before sealing). */
export function ensureImage(inputs: ImageInputs, log: (line: string) => void = () => undefined): Image {
  const key = imageKey(inputs);
  const directory = join(inputs.cacheDirectory, `image-${key}`);
  const root = join(directory, 'root');
  const poolDirectory = join(directory, 'pool', 'main');
  if (existsSync(join(directory, 'complete'))) return { key, root, poolDirectory, buildSeconds: 0 };
  const started = Date.now();
  const partial = `${directory}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const partialRoot = join(partial, 'root');
  log(`image ${key}: debootstrap ${SUITE} (${IMAGE_PACKAGES.join(', ')})`);
  execFileSync(
    'debootstrap',
    ['--variant=minbase', `--include=${IMAGE_PACKAGES.join(',')}`, SUITE, partialRoot, MIRROR],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  customize(partialRoot, join(partial, 'pool', 'main'), inputs);
  writeFileSync(join(partial, 'complete'), `${new Date().toISOString()}\n`);
  rmSync(directory, { recursive: true, force: true });
  renameSync(partial, directory);
  const buildSeconds = (Date.now() - started) / 1000;
  log(`image ${key}: built in ${buildSeconds.toFixed(1)} s`);
  return { key, root, poolDirectory, buildSeconds };
}

function write(root: string, path: string, content: string | Buffer, mode = 0o644): void {
  const full = join(root, path);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, content, { mode });
}

function customize(root: string, pool: string, inputs: ImageInputs): void {
  // The mirror's pool: the exact files debootstrap installed.
  const archives = join(root, 'var', 'cache', 'apt', 'archives');
  mkdirSync(pool, { recursive: true });
  for (const file of readdirSync(archives).filter((f) => f.endsWith('.deb')))
    renameSync(join(archives, file), join(pool, file));

  // Node.js 24 and npm where NodeSource's nodejs package puts them.
  cpSync(inputs.nodeBinary, join(root, 'usr', 'bin', 'node'));
  cpSync(inputs.npmDirectory, join(root, 'usr', 'lib', 'node_modules', 'npm'), { recursive: true, dereference: true });
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'usr', 'bin', 'npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(root, 'usr', 'bin', 'npx'));

  // Trust the lab CA (system store) and make Node use that store in every unit.
  write(root, 'usr/local/share/ca-certificates/wiremesh-lab-ca.crt', readFileSync(inputs.caCertificatePath));
  chroot(root, ['update-ca-certificates']);
  write(
    root,
    'etc/systemd/system.conf.d/wiremesh-lab.conf',
    '[Manager]\nDefaultEnvironment=NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt\n',
  );
  write(root, 'etc/apt/trusted.gpg.d/wiremesh-lab.gpg', inputs.aptPublicKey);

  mkdirSync(join(root, 'var', 'log', 'journal'), { recursive: true });
  // No getty on the console: nothing logs in, and its prompt would only clutter the console log.
  rmSync(join(root, 'etc', 'systemd', 'system', 'getty.target.wants'), { recursive: true, force: true });
  writeFileSync(join(root, 'etc', 'machine-id'), '');
}
