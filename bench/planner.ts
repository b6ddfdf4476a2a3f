/**
 * Mesh planner: planning a 10,000-site hub-and-spoke mesh (one hub, a /24 per spoke in 10.0.0.0/8,
 * a third of the spokes behind NAT) and a 200-site full mesh, validation included; and turning
 * every planned gateway into its agent configuration. In-memory data only.
 */
import { WIREGUARD_PORT } from '../common/defaults';
import { joinHostPort } from '../common/hostport';
import { agentConfigFor, planMesh, type MeshPlan } from '../mesh/planner';
import type { MeshSpec, SiteSpec } from '../mesh/spec';
import { validateMeshSpec } from '../mesh/validate';
import { measure, type BenchResult } from './harness';

/** A distinct valid base64 key per index. */
function keyOf(index: number): string {
  const bytes = Buffer.alloc(32, 7);
  bytes.writeUInt32BE(index, 0);
  return bytes.toString('base64');
}

interface Mesh {
  spec: MeshSpec;
  publicKeys: Record<string, string>;
}

function hubAndSpoke(spokes: number): Mesh {
  const sites: SiteSpec[] = [
    {
      name: 'hub',
      provider: 'aws',
      cidrs: ['10.255.0.0/16'],
      endpoint: joinHostPort('hub.example.net', WIREGUARD_PORT),
      gateways: 2,
    },
  ];
  for (let i = 0; i < spokes; i++) {
    const name = `spoke-${String(i).padStart(5, '0')}`;
    const site: SiteSpec = { name, provider: i % 2 === 0 ? 'aws' : 'gcp', cidrs: [`10.${i >> 8}.${i & 255}.0/24`] };
    if (i % 3 === 0) site.behindNat = true;
    else site.endpoint = joinHostPort(`${name}.example.net`, WIREGUARD_PORT);
    sites.push(site);
  }
  return {
    spec: { name: 'large', topology: { type: 'hub-and-spoke', hubs: ['hub'] }, sites },
    publicKeys: keys(sites),
  };
}

function fullMesh(count: number): Mesh {
  const sites: SiteSpec[] = [];
  for (let i = 0; i < count; i++) {
    const name = `site-${String(i).padStart(3, '0')}`;
    const site: SiteSpec = { name, provider: 'gcp', cidrs: [`10.${i}.0.0/16`, `fd00:${i.toString(16)}::/48`] };
    if (i === 0) site.behindNat = true;
    else site.endpoint = joinHostPort(`${name}.example.net`, WIREGUARD_PORT);
    sites.push(site);
  }
  return { spec: { name: 'flat', topology: { type: 'full-mesh' }, sites }, publicKeys: keys(sites) };
}

function keys(sites: SiteSpec[]): Record<string, string> {
  return Object.fromEntries(sites.map((site, i) => [site.name, keyOf(i)]));
}

function describe(plan: MeshPlan): string {
  const peers = plan.gateways.reduce((sum, g) => sum + g.peers.length, 0);
  const prefixes = plan.gateways.reduce((sum, g) => sum + g.peers.reduce((n, p) => n + p.allowedIps.length, 0), 0);
  return `${plan.gateways.length.toLocaleString('en-US')} gateways, ${peers.toLocaleString('en-US')} peer entries, ${prefixes.toLocaleString('en-US')} allowed-IP prefixes`;
}

function timed(name: string, operation: () => void, note: string): BenchResult {
  const result = measure(name, operation, { rounds: 3, roundMs: 50 });
  return { ...result, note: `${(result.microsPerOp / 1000).toFixed(1)} ms each; ${note}` };
}

export function runPlannerBench(): BenchResult[] {
  const large = hubAndSpoke(10_000);
  const flat = fullMesh(200);
  const largePlan = planMesh(large.spec, { publicKeys: large.publicKeys });
  const flatPlan = planMesh(flat.spec, { publicKeys: flat.publicKeys });
  const privateKey = { source: 'file' as const, path: '/etc/wiremesh/private.key' };
  return [
    timed('validate hub-and-spoke, 10,001 sites', () => validateMeshSpec(large.spec), 'schema and semantic checks'),
    timed(
      'plan hub-and-spoke, 10,001 sites',
      () => planMesh(large.spec, { publicKeys: large.publicKeys }),
      describe(largePlan),
    ),
    timed(
      'agent configs, 10,002 gateways',
      () => largePlan.gateways.forEach((g) => agentConfigFor(g, { interfaceName: 'wm0', privateKey })),
      'agentConfigFor of every gateway',
    ),
    timed('plan full-mesh, 200 sites', () => planMesh(flat.spec, { publicKeys: flat.publicKeys }), describe(flatPlan)),
  ];
}

if (require.main === module) {
  for (const result of runPlannerBench()) console.log(`${result.name}: ${result.note}`);
}
