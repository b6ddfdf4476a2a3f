/**
 * The agent artifact: the packed wiremesh package (`npm pack`, or `npm run pack:package` in a
 * checkout, which builds the prebuilt addons first) that a gateway installs. The deploying program
 * reads it from a local file (`agent.artifact`); the gateway uploads it to its cloud's object store
 * under a name made of its sha256 (aws/artifact.ts, gcp/artifact.ts), lets exactly its instances read
 * exactly that object, and the user data checks the sha256 before `npm install` (bootstrap.ts). So
 * the VMs run the very package the program was deployed with, from no public registry under our
 * name, and need no compiler (the tarball must hold the addon prebuilt for the VMs' architecture).
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ComponentArgumentError, describe } from './errors';

/** A checked artifact file. */
export interface AgentArtifact {
  /** Absolute path of the tarball on the deploying machine. */
  path: string;
  /** Hex sha256 of the tarball. */
  sha256: string;
  /** The object name in the bucket: content-addressed, so a new artifact is a new object. */
  objectName: string;
}

/** The CPU architectures the prebuilt addon is looked up for (node-gyp-build's names). */
export type ArtifactArchitecture = 'x64' | 'arm64';

const checked = new Map<string, AgentArtifact>();

/**
 * Reads and checks the tarball at `path` (relative to the working directory): an `npm pack` of a
 * package with bin/wiremesh-agent.js, its systemd unit and a prebuilt addon for `architecture`.
 * Throws a ComponentArgumentError naming `field` and what is wrong.
 */
export function readAgentArtifact(
  label: string,
  field: string,
  path: unknown,
  architecture: ArtifactArchitecture = 'x64',
): AgentArtifact {
  const fail = (message: string): never => {
    throw new ComponentArgumentError(`${label}: ${field} ${message}`);
  };
  if (typeof path !== 'string' || !/\.(tgz|tar\.gz)$/.test(path)) {
    return fail(`must be the path of the agent tarball (a .tgz made with npm pack), got ${describe(path)}`);
  }
  const absolute = resolve(path);
  let stat;
  try {
    stat = statSync(absolute);
  } catch {
    return fail(`${JSON.stringify(path)} does not exist (make it with \`npm pack\` of the wiremesh package)`);
  }
  const cacheKey = `${absolute}:${stat.size}:${stat.mtimeMs}:${architecture}`;
  const known = checked.get(cacheKey);
  if (known !== undefined) return known;
  const bytes = readFileSync(absolute);
  let entries: Set<string>;
  try {
    entries = tarEntries(gunzipSync(bytes));
  } catch {
    return fail(`${JSON.stringify(path)} is not a gzip-compressed tar file`);
  }
  for (const required of [
    'package/package.json',
    'package/bin/wiremesh-agent.js',
    'package/agent/systemd/wiremesh-agent.service',
  ]) {
    if (!entries.has(required)) fail(`${JSON.stringify(path)} is not a packed wiremesh agent: it has no ${required}`);
  }
  const addonDirectory = `package/prebuilds/linux-${architecture}/`;
  if (![...entries].some((entry) => entry.startsWith(addonDirectory) && entry.endsWith('.node'))) {
    fail(
      `${JSON.stringify(path)} has no prebuilt addon for linux-${architecture} (${addonDirectory}): the VMs have no compiler; pack it with \`npm run pack:package\`, which builds the prebuilds`,
    );
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const artifact = { path: absolute, sha256, objectName: `wiremesh-agent/${sha256}.tgz` };
  checked.set(cacheKey, artifact);
  return artifact;
}

/** The file names in a tar archive (ustar headers: name, and the prefix of long names). */
function tarEntries(tar: Buffer): Set<string> {
  const names = new Set<string>();
  let offset = 0;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const field = (start: number, length: number) =>
      header.toString('utf8', start, start + length).replace(/\0[\s\S]*$/, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    if (!Number.isFinite(size) || field(257, 5) !== 'ustar') throw new Error('not a ustar archive');
    const prefix = field(345, 155);
    names.add(prefix === '' ? field(0, 100) : `${prefix}/${field(0, 100)}`);
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  if (names.size === 0) throw new Error('empty archive');
  return names;
}
