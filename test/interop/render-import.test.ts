/**
 * `wiremesh render` writes wg-quick files that plain WireGuard accepts (`wg setconf` after
 * `wg-quick strip`, into a real interface), and `wiremesh import` of them gives back the spec.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { packageRoot } from '../../agent/package-root';
import { Lab } from '../../lab/netns';
import { describeWithRoot } from '../support/root-only';
import { parsePrefix } from '../../common/ip';
import { AddressSet } from '../../mesh/aggregate';
import type { MeshSpec } from '../../mesh/spec';
import { parseMeshSpec } from '../../mesh/validate';

const CLI = join(packageRoot(), 'bin', 'wiremesh.js');
const describeRender = describeWithRoot('render tests', ['wg', 'wg-quick']);
jest.setTimeout(60_000);

const FULL_MESH = `
name: clouds
topology: { type: full-mesh }
defaults: { listenPort: 51821, mtu: 1380 }
sites:
  - { name: aws-east, provider: aws, cidrs: [198.19.40.0/24, 198.19.41.0/24], endpoint: "198.18.40.1:51821" }
  - { name: gcp-west, provider: gcp, cidrs: [198.19.50.0/23], endpoint: "198.18.50.1:51821" }
  - { name: office, provider: local, cidrs: [198.19.60.0/24], behindNat: true }
`;

function cli(...args: string[]): string {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`wiremesh ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/** What makes two specs the same mesh: sites, providers, ranges (as address sets: 2 x /24 = /23), endpoints, topology. */
function essence(spec: MeshSpec): unknown {
  return {
    topology: spec.topology,
    sites: spec.sites
      .map((site) => ({
        name: site.name,
        provider: site.provider,
        cidrs: AddressSet.of(site.cidrs.map(parsePrefix)).strings(),
        endpoint: site.provider === 'local' ? undefined : site.endpoint,
        behindNat: site.behindNat ?? false,
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
  };
}

describeRender('wiremesh render and import', () => {
  const lab = new Lab('rd');
  const dir = mkdtempSync(join(tmpdir(), 'wiremesh-render-'));
  afterAll(async () => {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['the default local mesh', null],
    ['a full mesh of cloud sites with a NATed office', FULL_MESH],
  ])('%s: wg setconf accepts every file, and import gives back the spec', async (_label, text) => {
    const out = mkdtempSync(join(dir, 'out-'));
    let specPath = join(packageRoot(), 'examples', 'local', 'mesh.yaml');
    if (text) {
      specPath = join(out, 'spec.yaml');
      writeFileSync(specPath, text);
    }
    const files = cli('render', specPath, '--out', out).trim().split('\n');
    const spec = parseMeshSpec(text ?? execFileSync('cat', [specPath], { encoding: 'utf8' }));
    expect(files).toHaveLength(spec.sites.length);
    for (const file of files) {
      const ns = lab.namespace('n'); // every gateway listens on the mesh's port
      expect(statSync(file).mode & 0o077).toBe(0);
      const iface = lab.name('rw');
      await lab.wireguard(ns, 'wiremesh', iface);
      const stripped = execFileSync('wg-quick', ['strip', file], { encoding: 'utf8' });
      lab.wgConfig(ns, 'setconf', iface, stripped);
      const shown = lab.wg(ns, ['showconf', iface]);
      expect(shown).toContain('PrivateKey');
      expect(shown.match(/\[Peer\]/g)).toHaveLength(
        spec.topology.type === 'full-mesh' ? spec.sites.length - 1 : file.includes('hub') ? 2 : 1,
      );
    }
    const imported = parseYaml(
      cli(
        'import',
        ...readdirSync(out)
          .filter((f) => f.endsWith('.conf'))
          .map((f) => join(out, f)),
      ),
    ) as MeshSpec;
    expect(essence(imported)).toEqual(essence(spec));
    expect(() => parseMeshSpec(JSON.stringify(imported))).not.toThrow();
  });
});
