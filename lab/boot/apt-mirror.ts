/**
 * The Debian mirror the sealed gateways see as deb.debian.org: the .deb files the image was built
 * from (debootstrap's download cache), indexed as `main/binary-amd64/Packages` for any suite, with
 * an InRelease signed by the lab's own apt key (the image trusts it instead of Debian's). The
 * packages the user data asks for are already installed from the same files, so `apt-get install`
 * finds them current; any other package of the index would really install.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface AptMirror {
  /** Directory of the .deb files, served under /debian/pool/main/. */
  poolDirectory: string;
  /** The Packages index. */
  packages: string;
  /** Signed Release per suite name. */
  inRelease(suite: string): string;
}

/** gpg starts a gpg-agent daemon for its home on first use; the lab leaves no process behind. */
function stopGpgAgent(gnupgHome: string): void {
  execFileSync('gpgconf', ['--homedir', gnupgHome, '--kill', 'gpg-agent'], { stdio: 'ignore' });
}

/** A gpg home holding the lab's apt signing key (made when absent); returns the public key (binary). */
export function labAptKey(gnupgHome: string): Buffer {
  mkdirSync(gnupgHome, { recursive: true, mode: 0o700 });
  const gpg = (args: string[], input?: string) =>
    execFileSync('gpg', ['--homedir', gnupgHome, '--batch', ...args], { input, stdio: ['pipe', 'pipe', 'pipe'] });
  if (!existsSync(join(gnupgHome, 'public.gpg'))) {
    gpg([
      '--passphrase',
      '',
      '--quick-generate-key',
      'wiremesh boot lab apt <lab@wiremesh.invalid>',
      'ed25519',
      'sign',
      'never',
    ]);
    writeFileSync(join(gnupgHome, 'public.gpg'), gpg(['--export']));
    stopGpgAgent(gnupgHome);
  }
  return readFileSync(join(gnupgHome, 'public.gpg'));
}

function controlOf(deb: string): string {
  return execFileSync('dpkg-deb', ['-f', deb], { encoding: 'utf8' }).trimEnd();
}

const IDENTITY_FIELDS = ['Origin', 'Label', 'Suite', 'Version', 'Codename'];

/**
 * The identity fields (Origin, Label, Suite, Version, Codename) of each suite whose Release the
 * image already holds in /var/lib/apt/lists: apt refuses a repository whose identity changed.
 */
export function knownReleaseIdentities(imageRoot: string): Record<string, string[]> {
  const lists = join(imageRoot, 'var', 'lib', 'apt', 'lists');
  const known: Record<string, string[]> = {};
  if (!existsSync(lists)) return known;
  for (const file of readdirSync(lists)) {
    const suite = /_dists_([^_]+)_InRelease$/.exec(file)?.[1];
    if (suite === undefined) continue;
    const lines = readFileSync(join(lists, file), 'utf8').split('\n');
    known[suite] = lines.filter((line) => IDENTITY_FIELDS.some((field) => line.startsWith(`${field}: `)));
  }
  return known;
}

/**
 * Builds the index of `poolDirectory` (cached next to it) and signs Release files with the lab key;
 * suites in `identities` keep the identity the image knows them by.
 */
export function aptMirror(
  poolDirectory: string,
  gnupgHome: string,
  identities: Record<string, string[]> = {},
): AptMirror {
  const indexPath = join(poolDirectory, '..', 'Packages');
  if (!existsSync(indexPath)) {
    const stanzas = readdirSync(poolDirectory)
      .filter((f) => f.endsWith('.deb'))
      .sort()
      .map((file) => {
        const path = join(poolDirectory, file);
        const body = readFileSync(path);
        return [
          controlOf(path),
          `Filename: pool/main/${file}`,
          `Size: ${statSync(path).size}`,
          `SHA256: ${createHash('sha256').update(body).digest('hex')}`,
        ].join('\n');
      });
    writeFileSync(indexPath, `${stanzas.join('\n\n')}\n`);
  }
  const packages = readFileSync(indexPath, 'utf8');
  const signed = new Map<string, string>();
  return {
    poolDirectory,
    packages,
    inRelease(suite) {
      let text = signed.get(suite);
      if (text === undefined) {
        const size = Buffer.byteLength(packages);
        const sha = createHash('sha256').update(packages).digest('hex');
        const release = [
          ...(identities[suite] ?? [
            'Origin: Debian',
            `Label: ${suite.endsWith('-security') ? 'Debian-Security' : 'Debian'}`,
            `Suite: ${suite}`,
            `Codename: ${suite}`,
          ]),
          `Date: ${new Date().toUTCString()}`,
          'Architectures: amd64',
          'Components: main',
          'SHA256:',
          ` ${sha} ${size} main/binary-amd64/Packages`,
          '',
        ].join('\n');
        text = execFileSync('gpg', ['--homedir', gnupgHome, '--batch', '--clearsign', '--digest-algo', 'SHA256'], {
          input: release,
          encoding: 'utf8',
        });
        stopGpgAgent(gnupgHome);
        signed.set(suite, text);
      }
      return text;
    },
  };
}
