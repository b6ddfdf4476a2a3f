/**
 * components/mesh/ (WireGuardMesh) under mocks:
 * - the agent configuration each gateway stores in its secret store (and the on-prem host's,
 *   written over SSH) equals the planner's output for that gateway, computed here with planMesh
 *   from the recorded public keys and deployed endpoints;
 * - one key per aws/gcp site, shared by the gateways of a load-balanced site; endpoints come from
 *   the deployment (Elastic IP, NLB DNS name, GCP static and load balancer addresses);
 * - WireGuard source ranges: derived where they can be, errors naming the ways out where not;
 * - spec and placement errors throw before anything is registered, with their messages;
 * - external sites' wg-quick configurations are secret, hold no key, and match the planner;
 * - providers given per cloud reach every child; the summary output.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as aws from '@pulumi/aws';
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import type { IamPolicyDocument } from '../../components/aws/policy';
import { ConfigError } from '../../common/validation';
import type { AgentConfig } from '../../agent/gateway/config-types';
import { parseWgQuickConfig } from '../../agent/gateway/wg-quick';
import {
  EXTERNAL_PRIVATE_KEY_PLACEHOLDER,
  presharedKeyPlaceholder,
  WireGuardMesh,
  endpointSourceCidr,
  loadMeshSpecForDeployment,
  planAgentConfig,
  type WireGuardMeshArgs,
} from '../../components/mesh';
import {
  isSecretInput,
  resolve,
  resolveWithSecret,
  unwrapSecrets,
  type MockRecorder,
  type RecordedResource,
} from '../../components/testing';
import { fromRecordedResources, mandatory, runPolicies } from '../../policies/run';
import { agentConfigFor, planMesh, type MeshPlan } from '../../mesh/planner';
import type { MeshSpec, SiteSpec } from '../../mesh/spec';
import {
  awsStoredConfig,
  componentTree,
  fullMesh,
  fullMeshArgs,
  gcpStoredConfig,
  meshMocks,
  OFFICE,
  OTHER,
  PACKAGE,
  PARTNER,
  plainOccurrences,
  remoteStoredConfig,
  T,
  currentKeyPair,
  namedKeyPair,
  withRecordedRotation,
} from './mesh-support';

async function deploy(
  name: string,
  args: WireGuardMeshArgs,
  mocks: MockRecorder,
): Promise<{ mesh: WireGuardMesh; sites: Awaited<ReturnType<typeof resolve<WireGuardMesh['sites']>>> }> {
  const mesh = new WireGuardMesh(name, args);
  const sites = await resolve(mesh.sites);
  await resolve(mesh.externalConfigs);
  for (const host of Object.values(mesh.remoteHosts)) await resolve(host.configHash);
  await mocks.settle();
  return { mesh, sites: sites as never };
}

/** The plan, computed here: the recorded public keys, the deployed endpoints in the spec. */
function expectedPlan(
  mocks: MockRecorder,
  spec: MeshSpec,
  meshName: string,
  endpoints: Record<string, string>,
): MeshPlan {
  const publicKeys = Object.fromEntries(
    spec.sites
      .filter((s) => s.provider !== 'external')
      .map((s) => [s.name, namedKeyPair(mocks, `${meshName}-${s.name}-key`).state!.publicKey as string]),
  );
  return planMesh(
    { ...spec, sites: spec.sites.map((s) => (endpoints[s.name] ? { ...s, endpoint: endpoints[s.name] } : s)) },
    { publicKeys },
  );
}

/** The stored document of a cloud gateway: the planner's, plus the references the component fills in. */
/** A group's shared document is its first gateway's plan without peer endpoints (components/shared-key.ts). */
function expectPlanned(
  stored: AgentConfig,
  plan: MeshPlan,
  id: string,
  sharedKey = false,
  mocks?: MockRecorder,
  mesh = 'corp',
): void {
  const gateway = plan.gateways.find((g) => g.id === id)!;
  // An AWS group's document also holds its failover section (test/components/aws-gateway-group.test.ts).
  const { configSource, privateKey, health, statusFile, failover: _failover, ...rest } = stored;
  const { privateKey: _planKey, ...fromPlanner } = agentConfigFor(gateway, {
    interfaceName: 'wm0',
    privateKey: { source: 'file', path: '/unused' },
    tunnelAddress: false,
  });
  const planned = mocks !== undefined ? withRecordedRotation(fromPlanner, mocks, mesh, stored) : fromPlanner;
  expect(rest).toEqual(
    sharedKey ? { ...planned, peers: planned.peers.map(({ endpoint: _endpoint, ...peer }) => peer) } : planned,
  );
  expect(health).toEqual({ listen: '0.0.0.0:9587' });
  expect(statusFile).toBe('/run/wiremesh/wm0.status.json');
  expect(['aws-secrets-manager', 'gcp-secret-manager']).toContain((privateKey as { source: string }).source);
  expect(configSource!.source).toBe((privateKey as { source: string }).source);
}

/** A spec whose external sites are planned as gateways (to say what they must configure). */
function externalsAsGateways(spec: MeshSpec): { spec: MeshSpec; keys: Record<string, string> } {
  const keys: Record<string, string> = {};
  const sites = spec.sites.map((site): SiteSpec => {
    if (site.provider !== 'external') return site;
    keys[site.name] = site.publicKey!;
    const { publicKey: _k, ...rest } = site;
    return { ...rest, provider: 'gcp' };
  });
  return { spec: { ...spec, sites }, keys };
}

describe('WireGuardMesh: every kind of site in one full mesh', () => {
  let mocks: MockRecorder;
  let mesh: WireGuardMesh;
  let sites: Record<string, any>;
  let endpoints: Record<string, string>;
  let plan: MeshPlan;

  beforeAll(async () => {
    mocks = meshMocks();
    ({ mesh, sites } = await deploy('corp', fullMeshArgs(), mocks));
    const eipOf = (name: string): string => mocks.one(T.eip, name).state!.publicIp as string;
    endpoints = {
      'aws-a': `${eipOf('corp-aws-a-eip-0')}:51820`,
      'aws-b': `${mocks.one(T.lb, 'corp-aws-b-nlb').state!.dnsName}:51820`,
      'gcp-c': `${mocks.one(T.gcpAddress, 'corp-gcp-c-lb-ip').state!.address}:51820`,
      'gcp-d': `${mocks.one(T.gcpAddress, 'corp-gcp-d-ip-0').state!.address}:51820`,
    };
    plan = expectedPlan(mocks, fullMesh, 'corp', endpoints);
  });

  test('deploys each site with the component of its kind', () => {
    expect(
      mocks
        .byType(T.awsGateway)
        .map((r) => r.name)
        .sort(),
    ).toEqual(['corp-aws-a', 'corp-aws-b-gateway']);
    expect(mocks.byType(T.awsGroup).map((r) => r.name)).toEqual(['corp-aws-b']);
    expect(mocks.byType(T.gcpGroup).map((r) => r.name)).toEqual(['corp-gcp-c']);
    expect(
      mocks
        .byType(T.gcpGateway)
        .map((r) => r.name)
        .sort(),
    ).toEqual(['corp-gcp-c', 'corp-gcp-d']);
    expect(mocks.byType(T.remoteHost).map((r) => r.name)).toEqual(['corp-office']);
    const meshUrn = mocks.one(T.mesh, 'corp').urn!;
    const topLevel = [
      ...mocks.byType(T.awsGroup),
      ...mocks.byType(T.gcpGroup),
      ...mocks.byType(T.remoteHost),
      ...mocks.byType(T.key),
    ];
    topLevel.push(
      mocks.one(T.awsGateway, 'corp-aws-a'),
      mocks.one(T.gcpGateway, 'corp-gcp-d'),
      mocks.one(T.gcpAddress, 'corp-gcp-c-lb-ip'),
    );
    for (const r of topLevel) expect([r.name, r.parent]).toEqual([r.name, meshUrn]);
    // The groups' gateways are theirs.
    expect(mocks.one(T.awsGateway, 'corp-aws-b-gateway').parent).toBe(mocks.one(T.awsGroup, 'corp-aws-b').urn);
    expect(mocks.one(T.gcpGateway, 'corp-gcp-c').parent).toBe(mocks.one(T.gcpGroup, 'corp-gcp-c').urn);
    expect(Object.keys(mesh.awsGateways)).toEqual(['aws-a']);
    expect(Object.keys(mesh.awsGatewayGroups)).toEqual(['aws-b']);
    expect(Object.keys(mesh.gcpGatewayGroups)).toEqual(['gcp-c']);
    expect(Object.keys(mesh.gcpGateways)).toEqual(['gcp-d']);
    expect(Object.keys(mesh.remoteHosts)).toEqual(['office']);
  });

  test('one key per aws/gcp site, under the mesh; the gateways of a load-balanced site share it', () => {
    expect(
      mocks
        .byType(T.key)
        .map((k) => k.name)
        .sort(),
    ).toEqual(['corp-aws-a-key', 'corp-aws-b-key', 'corp-gcp-c-key', 'corp-gcp-d-key']);
    // The group's gateway got the group's key secret, and nobody made a key of their own.
    expect(
      mocks
        .byType(T.awsSecret)
        .filter((s) => s.name.endsWith('-key-secret'))
        .map((s) => s.name)
        .sort(),
    ).toEqual(['corp-aws-a-key-secret', 'corp-aws-b-key-secret']);
    expect(
      mocks
        .byType(T.gcpSecret)
        .filter((s) => s.name.endsWith('-key-secret'))
        .map((s) => s.name)
        .sort(),
    ).toEqual(['corp-gcp-c-key-secret', 'corp-gcp-d-key-secret']);
    expect(componentTree(mocks, T.awsGroup, 'corp-aws-b').of(T.instance)).toHaveLength(2);
    expect(componentTree(mocks, T.gcpGroup, 'corp-gcp-c').of(T.gcpInstance)).toHaveLength(2);
    for (const site of ['aws-a', 'aws-b', 'gcp-c', 'gcp-d']) {
      expect(sites[site].publicKey).toBe(currentKeyPair(mocks, `corp-${site}-key`).state!.publicKey);
    }
  });

  test('endpoints are the deployed addresses: Elastic IP, NLB DNS name, the mesh-made GCP LB address, a static address', () => {
    expect(Object.fromEntries(Object.entries(sites).map(([name, s]) => [name, s.endpoint]))).toEqual({
      ...endpoints,
      office: '192.0.2.10:51820',
      partner: 'vpn.partner.example:51820',
    });
    expect(endpoints['aws-b']).toMatch(/^corp-aws-b-nlb-.*\.elb\..*\.amazonaws\.com:51820$/);
    // The group's forwarding rule uses the address the mesh made (no group-made address).
    const group = componentTree(mocks, T.gcpGroup, 'corp-gcp-c');
    expect(group.of(T.forwardingRule).find((f) => f.inputs.loadBalancingScheme === 'EXTERNAL')!.inputs.ipAddress).toBe(
      endpoints['gcp-c']!.split(':')[0],
    );
    expect(
      group
        .of(T.gcpAddress)
        .map((a) => a.name)
        .sort(),
    ).toEqual(['corp-gcp-c-ip-0', 'corp-gcp-c-ip-1']);
    expect(mocks.one(T.gcpAddress, 'corp-gcp-c-lb-ip').inputs).toMatchObject({
      region: 'europe-west1',
      addressType: 'EXTERNAL',
    });
  });

  test("each cloud gateway stores exactly the planner output for it (a group: its first gateway's)", () => {
    expectPlanned(awsStoredConfig(mocks, 'corp-aws-a'), plan, 'aws-a', false, mocks);
    expectPlanned(awsStoredConfig(mocks, 'corp-aws-b-gateway'), plan, 'aws-b-1', true, mocks);
    expectPlanned(gcpStoredConfig(mocks, 'corp-gcp-c'), plan, 'gcp-c-1', true, mocks);
    expectPlanned(gcpStoredConfig(mocks, 'corp-gcp-d'), plan, 'gcp-d', false, mocks);
    // A group's other gateways differ from the first only in their tunnel address.
    const [first, second] = ['aws-b-1', 'aws-b-2'].map((id) => plan.gateways.find((g) => g.id === id)!);
    expect({ ...second!, id: first!.id, index: 0, address: first!.address }).toEqual(first);
    expect(mocks.byType(T.awsSecretVersion).filter((v) => v.name.endsWith('-config-version'))).toHaveLength(2);
    expect(mocks.byType(T.gcpSecretVersion).filter((v) => v.name.endsWith('-config-version'))).toHaveLength(2);
    // Peers reach each other at the deployed endpoints.
    const aws = awsStoredConfig(mocks, 'corp-aws-a');
    expect(aws.peers.map((p) => [p.name, p.endpoint])).toEqual([
      ['aws-b', endpoints['aws-b']],
      ['gcp-c', endpoints['gcp-c']],
      ['gcp-d', endpoints['gcp-d']],
      ['office', '192.0.2.10:51820'],
      ['partner', 'vpn.partner.example:51820'],
    ]);
  });

  test('the load balancers of both groups: the AWS NLB targets every gateway (only the active passes /active); the GCP NLB backs onto every instance group', () => {
    const awsGroup = componentTree(mocks, T.awsGroup, 'corp-aws-b');
    expect(awsGroup.of(T.targetAttachment).map((a) => a.inputs.targetId)).toEqual(
      awsGroup.of(T.instance).map((i) => i.id),
    );
    const gcpGroup = componentTree(mocks, T.gcpGroup, 'corp-gcp-c');
    const external = gcpGroup.of(T.backend).find((b) => b.inputs.loadBalancingScheme === 'EXTERNAL')!;
    const groups = gcpGroup.of(T.instanceGroup);
    expect((external.inputs.backends as Array<{ group: string }>).map((b) => b.group).sort()).toEqual(
      groups.map((g) => g.id).sort(),
    );
    // The VMs join their zone's group through memberships.
    expect(
      gcpGroup
        .of('gcp:compute/instanceGroupMembership:InstanceGroupMembership')
        .map((m) => m.inputs.instance)
        .sort(),
    ).toEqual(
      gcpGroup
        .of(T.gcpInstance)
        .map((i) => i.state!.selfLink)
        .sort(),
    );
    const rule = gcpGroup.of(T.forwardingRule).find((f) => f.inputs.loadBalancingScheme === 'EXTERNAL')!;
    expect([rule.inputs.ipProtocol, rule.inputs.portRange, rule.inputs.backendService]).toEqual([
      'UDP',
      '51820',
      external.id,
    ]);
  });

  test("the mesh plan output is the planner's", async () => {
    expect(await resolve(mesh.plan)).toEqual(plan);
  });

  test('the on-prem host gets what the planner computes for its site planned as a gateway, with its key file', () => {
    const { spec, keys } = externalsAsGateways(fullMesh);
    const publicKeys = Object.fromEntries(
      plan.gateways.map((g) => [g.site, namedKeyPair(mocks, `corp-${g.site}-key`).state!.publicKey as string]),
    );
    const asGateways = planMesh(
      { ...spec, sites: spec.sites.map((s) => (endpoints[s.name] ? { ...s, endpoint: endpoints[s.name] } : s)) },
      { publicKeys: { ...publicKeys, ...keys } },
    );
    // Planning the external sites as gateways changes nobody else's plan.
    expect(asGateways.gateways.filter((g) => g.site !== 'office' && g.site !== 'partner')).toEqual(plan.gateways);
    const stored = remoteStoredConfig(mocks, 'corp-office');
    expect(stored).toEqual(
      withRecordedRotation(
        agentConfigFor(
          asGateways.gateways.find((g) => g.id === 'office')!,
          {
            interfaceName: 'wm0',
            privateKey: { source: 'file', path: '/etc/wiremesh/private.key' },
            tunnelAddress: false,
          },
        ),
        mocks,
        'corp',
      ),
    );
    expect(stored.peers.map((p) => p.name)).toEqual(['aws-a', 'aws-b', 'gcp-c', 'gcp-d', 'partner']);
    const configure = mocks.one(T.command, 'corp-office-configure');
    expect(unwrapSecrets<string>(configure.inputs.stdin)).toBe(`${OFFICE.privateKey}\n`);
  });

  test('external sites without a host get a secret wg-quick configuration, with a placeholder for their key', async () => {
    const { value, secret } = await resolveWithSecret(mesh.externalConfigs);
    expect(secret).toBe(true);
    expect(Object.keys(value)).toEqual(['partner']);
    const text = value.partner!;
    expect(text).toContain(`PrivateKey = ${EXTERNAL_PRIVATE_KEY_PLACEHOLDER}\n`);
    expect(text).toMatch(/^# wiremesh site=partner provider=external\n/);
    expect(text).toContain(`wg pubkey must print ${PARTNER.publicKey}`);
    // No private key of any site in it.
    for (const r of mocks.byType(T.keyPair)) expect(text).not.toContain(unwrapSecrets<string>(r.state!.privateKey));
    // Filled in, it is a valid wg-quick file with the planner's peers for the partner.
    const parsed = parseWgQuickConfig(
      text.replace(`PrivateKey = ${EXTERNAL_PRIVATE_KEY_PLACEHOLDER}`, `PrivateKey = ${PARTNER.privateKey}`),
      'wg0',
      'partner.conf',
    );
    const { spec, keys } = externalsAsGateways(fullMesh);
    const publicKeys = Object.fromEntries(
      plan.gateways.map((g) => [g.site, namedKeyPair(mocks, `corp-${g.site}-key`).state!.publicKey as string]),
    );
    const asGateways = planMesh(
      { ...spec, sites: spec.sites.map((s) => (endpoints[s.name] ? { ...s, endpoint: endpoints[s.name] } : s)) },
      { publicKeys: { ...publicKeys, ...keys } },
    );
    const partner = asGateways.gateways.find((g) => g.id === 'partner')!;
    expect(parsed.interface.addresses).toEqual([partner.address]);
    expect(parsed.peers.map((p) => [p.publicKey, p.endpoint, p.allowedIps])).toEqual(
      partner.peers.map((p) => [p.publicKey, p.endpoint ?? undefined, p.allowedIps]),
    );
  });

  test('WireGuard source ranges: the declared ones of each peer', () => {
    const sgOf = (gateway: string): unknown[] =>
      componentTree(mocks, T.awsGateway, gateway)
        .of(T.sg)[0]!
        .inputs.ingress.filter((r: any) => r.protocol === 'udp')
        .map((r: any) => r.cidrBlocks);
    expect(sgOf('corp-aws-a')).toEqual([
      ['198.51.100.2/32', '198.51.100.3/32', '203.0.113.0/28', '203.0.113.16/28', '192.0.2.10/32', '192.0.2.128/25'],
    ]);
    const wgRule = (gateway: string): unknown =>
      componentTree(mocks, T.gcpGateway, gateway)
        .of(T.firewall)
        .find((f) => f.name.endsWith('-wg'))!.inputs.sourceRanges;
    expect(wgRule('corp-gcp-d')).toEqual([
      '198.51.100.1/32',
      '198.51.100.2/32',
      '198.51.100.3/32',
      '203.0.113.0/28',
      '192.0.2.10/32',
      '192.0.2.128/25',
    ]);
  });

  test("the summary names every site's gateways, instances, addresses and ranges", () => {
    expect(sites['aws-b']).toMatchObject({
      kind: 'aws-gateway-group',
      provider: 'aws',
      gatewayIds: ['aws-b-1', 'aws-b-2'],
      cidrs: ['10.11.0.0/16'],
    });
    expect(sites['aws-b'].instanceIds).toEqual(
      componentTree(mocks, T.awsGroup, 'corp-aws-b')
        .of(T.instance)
        .map((i) => i.id),
    );
    // A group's addresses are its NLB's Elastic IPs (what its peers see), not its instances'.
    expect(sites['aws-b'].publicIps).toEqual(
      componentTree(mocks, T.awsGroup, 'corp-aws-b')
        .of(T.eip)
        .filter((e) => e.name.includes('-nlb-eip-'))
        .map((e) => e.state!.publicIp),
    );
    expect(sites['aws-b'].publicIps).toHaveLength(2);
    expect(sites['gcp-c']).toMatchObject({ kind: 'gcp-gateway-group', gatewayIds: ['gcp-c-1', 'gcp-c-2'] });
    expect(sites['gcp-c'].publicIps).toHaveLength(3);
    expect(sites.office).toMatchObject({
      kind: 'on-prem',
      publicKey: OFFICE.publicKey,
      gatewayIds: ['office'],
      instanceIds: [],
    });
    expect(sites.partner).toMatchObject({
      kind: 'external',
      publicKey: PARTNER.publicKey,
      gatewayIds: [],
      endpoint: 'vpn.partner.example:51820',
    });
  });
});

// -------------------------------------------------------------------------------------------------

describe("WireGuardMesh: an AWS group hub, its NLB addresses as its peers' sources", () => {
  const spec: MeshSpec = {
    name: 'ha',
    topology: { type: 'hub-and-spoke', hubs: ['hub'] },
    sites: [
      { name: 'hub', provider: 'aws', gateways: 2, cidrs: ['10.0.0.0/16'] },
      { name: 'spoke', provider: 'aws', cidrs: ['10.1.0.0/16'] },
      { name: 'spoke-gcp', provider: 'gcp', cidrs: ['10.2.0.0/16'] },
    ],
  };
  const args = (gcpPlacement: Record<string, unknown> = { allowFromAnywhere: true }): WireGuardMeshArgs => ({
    spec,
    agentPackage: PACKAGE,
    aws: {
      sites: {
        hub: {
          vpcId: 'vpc-hub',
          subnets: [
            { subnetId: 'subnet-h1', routeTableIds: ['rtb-h1'] },
            { subnetId: 'subnet-h2', routeTableIds: ['rtb-h2'] },
          ],
        },
        spoke: { vpcId: 'vpc-spoke', subnets: [{ subnetId: 'subnet-s', routeTableIds: ['rtb-s'] }] },
      },
    },
    gcp: { sites: { 'spoke-gcp': { network: 'n', subnetwork: 's', zones: ['europe-west1-b'], ...gcpPlacement } } },
    sourceCidrs: { spoke: ['198.51.100.77/32'] },
  });

  test("the AWS spoke admits WireGuard from the hub NLB's Elastic IPs (the source of its replies), not the hub instances'", async () => {
    const mocks = meshMocks();
    await deploy('ha', args(), mocks);
    const hub = componentTree(mocks, T.awsGroup, 'ha-hub');
    const nlbIps = hub
      .of(T.eip)
      .filter((e) => e.name.includes('-nlb-eip-'))
      .map((e) => `${e.state!.publicIp}/32`);
    expect(nlbIps).toHaveLength(2);
    const instanceIps = hub
      .of(T.eip)
      .filter((e) => !e.name.includes('-nlb-eip-'))
      .map((e) => `${e.state!.publicIp}/32`);
    const spokeUdp = componentTree(mocks, T.awsGateway, 'ha-spoke')
      .of(T.sg)[0]!
      .inputs.ingress.filter((r: any) => r.protocol === 'udp');
    expect(spokeUdp.map((r: any) => r.cidrBlocks)).toEqual([nlbIps]);
    for (const ip of instanceIps) expect(spokeUdp[0].cidrBlocks).not.toContain(ip);
    // The spoke dials the NLB; the hub's shared document dials nobody.
    expect(awsStoredConfig(mocks, 'ha-spoke').peers.map((p) => p.endpoint)).toEqual([
      expect.stringMatching(/\.elb\..*:51820$/),
    ]);
    expect(awsStoredConfig(mocks, 'ha-hub-gateway').peers.map((p) => p.endpoint)).toEqual([undefined, undefined]);
  });

  test('a GCP spoke needs the NLB addresses as plain CIDRs: the error says so', () => {
    meshMocks();
    expect(() => new WireGuardMesh('ha', args({}))).toThrow(
      'the source addresses of "hub" (its NLB\'s Elastic IPs are allocated by this deployment and GcpGateway takes plain peerCidrs)',
    );
  });
});

describe('WireGuardMesh: hub and spoke, derived source ranges', () => {
  const spec: MeshSpec = {
    name: 'hs',
    topology: { type: 'hub-and-spoke', hubs: ['hub'] },
    sites: [
      { name: 'hub', provider: 'aws', cidrs: ['10.0.0.0/16'] },
      { name: 'spoke-gcp', provider: 'gcp', gateways: 2, cidrs: ['10.1.0.0/16'] },
      {
        name: 'office',
        provider: 'external',
        cidrs: ['192.168.1.0/24'],
        endpoint: '192.0.2.7:51820',
        publicKey: OFFICE.publicKey,
      },
      { name: 'home', provider: 'external', cidrs: ['192.168.2.0/24'], behindNat: true, publicKey: OTHER.publicKey },
    ],
  };
  const baseArgs = (overrides: Partial<WireGuardMeshArgs> = {}): WireGuardMeshArgs => ({
    spec,
    agentPackage: PACKAGE,
    aws: { sites: { hub: { vpcId: 'vpc-hub', subnets: [{ subnetId: 'subnet-hub', routeTableIds: ['rtb-hub'] }] } } },
    gcp: {
      sites: {
        'spoke-gcp': {
          network: 'n',
          subnetwork: 's',
          zones: ['europe-west1-b', 'europe-west1-c'],
          allowFromAnywhere: true,
        },
      },
    },
    sourceCidrs: { home: ['203.0.113.99/32'] },
    ...overrides,
  });

  test("the hub accepts the GCP spoke's instance and LB addresses, the office's endpoint and the declared home address", async () => {
    const mocks = meshMocks();
    await deploy('hs', baseArgs(), mocks);
    const spokeIps = [
      ...componentTree(mocks, T.gcpGroup, 'hs-spoke-gcp')
        .of(T.gcpAddress)
        .map((a) => a.state!.address as string),
      mocks.one(T.gcpAddress, 'hs-spoke-gcp-lb-ip').state!.address as string,
    ];
    const udp = mocks.one(T.sg).inputs.ingress.filter((r: any) => r.protocol === 'udp');
    expect(udp.map((r: any) => r.cidrBlocks)).toEqual([
      ['203.0.113.99/32', '192.0.2.7/32', ...spokeIps.map((ip) => `${ip}/32`)],
    ]);
    // The GCP spoke peers only with the hub: allowFromAnywhere opens just the WireGuard port.
    const firewalls = mocks.byType(T.firewall).map((f) => [unwrapSecrets(f.inputs.allows), f.inputs.sourceRanges]);
    expect(firewalls).toContainEqual([[{ protocol: 'udp', ports: ['51820'] }], ['0.0.0.0/0']]);
    expect(firewalls.filter(([allows]) => JSON.stringify(allows).includes('"tcp"'))).toEqual([
      [
        [{ protocol: 'tcp', ports: ['9587'] }],
        ['130.211.0.0/22', '209.85.152.0/22', '209.85.204.0/22', '35.191.0.0/16'],
      ],
    ]);
    // Spokes route everything else via the hub; the hub routes the spokes.
    expect(mocks.byType(T.route).map((r) => r.inputs.destinationCidrBlock)).toEqual([
      '10.1.0.0/16',
      '192.168.1.0/24',
      '192.168.2.0/24',
    ]);
    // The GCP spoke group routes through its internal LB (which follows the active instance): one route per CIDR.
    expect(
      mocks
        .byType(T.gcpRoute)
        .map((r) => r.inputs.destRange)
        .sort(),
    ).toEqual(['10.0.0.0/16', '192.168.1.0/24', '192.168.2.0/24']);
  });

  test("a GCP gateway cannot take an AWS site's addresses: the error names the ways out, and nothing is registered", () => {
    const mocks = meshMocks();
    const args = baseArgs();
    args.gcp!.sites['spoke-gcp'] = { network: 'n', subnetwork: 's', zones: ['europe-west1-b', 'europe-west1-c'] };
    expect(() => new WireGuardMesh('hs', args)).toThrow(
      'WireGuardMesh "hs": the gateway of site "spoke-gcp" accepts WireGuard from its peers only, but the source addresses of "hub" (its Elastic IPs are allocated inside AwsGateway) are not known before deployment; ' +
        'declare them in sourceCidrs, list the ranges in gcp.sites["spoke-gcp"].peerCidrs, or set gcp.sites["spoke-gcp"].allowFromAnywhere: true',
    );
    expect(mocks.resources).toEqual([]);
  });

  test('a peer behind NAT needs declared sources', () => {
    meshMocks();
    expect(() => new WireGuardMesh('hs', baseArgs({ sourceCidrs: {} }))).toThrow(
      /the source addresses of "home" \(it is behind NAT\) are not known before deployment/,
    );
  });

  test('explicit peerCidrs are used as given', async () => {
    const mocks = meshMocks();
    const args = baseArgs({ sourceCidrs: {} });
    args.aws!.sites.hub!.peerCidrs = ['0.0.0.0/1'];
    await deploy('hs', args, mocks);
    expect(
      mocks
        .one(T.sg)
        .inputs.ingress.filter((r: any) => r.protocol === 'udp')
        .map((r: any) => r.cidrBlocks),
    ).toEqual([['0.0.0.0/1']]);
  });
});

// -------------------------------------------------------------------------------------------------

describe('WireGuardMesh: preshared keys', () => {
  /** Every cloud kind and a plain external site; pairs on AWS only, GCP only, across the clouds, and with the external site. */
  const spec: MeshSpec = {
    ...fullMesh,
    name: 'psk',
    sites: fullMesh.sites.filter((s) => s.name !== 'office'),
    presharedKeys: [
      { sites: ['gcp-d', 'aws-a'] },
      { sites: ['aws-a', 'aws-b'] },
      { sites: ['gcp-c', 'gcp-d'] },
      { sites: ['partner', 'aws-b'] },
      { sites: ['gcp-c', 'partner'] },
    ],
  };
  /** Sorted pair -> the clouds its key is stored in, and the gateway components (AWS role policy / GCP service account owner) that read it. */
  const expected: Record<string, { aws: string[]; gcp: string[] }> = {
    'aws-a|gcp-d': { aws: ['psk-aws-a'], gcp: ['psk-gcp-d'] },
    'aws-a|aws-b': { aws: ['psk-aws-a', 'psk-aws-b-gateway'], gcp: [] },
    'gcp-c|gcp-d': { aws: [], gcp: ['psk-gcp-c', 'psk-gcp-d'] },
    'aws-b|partner': { aws: ['psk-aws-b-gateway'], gcp: [] },
    'gcp-c|partner': { aws: [], gcp: ['psk-gcp-c'] },
  };
  const resourceName = (pair: string): string => `psk-${pair.replace('|', '-')}-psk`;
  let mocks: MockRecorder;
  let mesh: WireGuardMesh;
  let psk: Record<string, string>;

  beforeAll(async () => {
    mocks = meshMocks();
    const { onPrem: _onPrem, ...args } = fullMeshArgs({ spec });
    ({ mesh } = await deploy('psk', args, mocks));
    psk = Object.fromEntries(
      Object.keys(expected).map((pair) => {
        const state = mocks.one(T.pskValue, `${resourceName(pair)}-value`).state!;
        expect(isSecretInput(state.presharedKey)).toBe(true);
        return [pair, unwrapSecrets<string>(state.presharedKey)];
      }),
    );
  });

  test('one 32-byte key per listed pair, generated by the dynamic resource, a secret output of the mesh', async () => {
    expect(
      mocks
        .byType(T.psk)
        .map((r) => r.name)
        .sort(),
    ).toEqual(Object.keys(expected).map(resourceName).sort());
    expect(Object.keys(mesh.presharedKeys).sort()).toEqual(Object.keys(expected).sort());
    for (const pair of Object.keys(expected)) {
      expect(Buffer.from(psk[pair]!, 'base64')).toHaveLength(32);
      expect(mocks.one(T.psk, resourceName(pair)).parent).toBe(mocks.one(T.mesh, 'psk').urn);
      const value = mocks.one(T.pskValue, `${resourceName(pair)}-value`);
      expect(value.additionalSecretOutputs).toEqual(['presharedKey']);
      expect(unwrapSecrets(value.inputs).presharedKey).toBeUndefined();
      const { value: key, secret } = await resolveWithSecret(mesh.presharedKeys[pair]!.presharedKey);
      expect([key, secret]).toEqual([psk[pair], true]);
    }
    expect(new Set(Object.values(psk)).size).toBe(Object.keys(expected).length);
  });

  test('the key is secret in every input it reaches, and stored once per cloud of the pair', () => {
    for (const [pair, key] of Object.entries(psk)) {
      for (const r of mocks.resources)
        expect([r.type, r.name, plainOccurrences(r.inputs, key)]).toEqual([r.type, r.name, []]);
      const holders = mocks.resources
        .filter((r) => JSON.stringify(unwrapSecrets(r.inputs)).includes(key))
        .map((r) => r.name)
        .sort();
      const stores = [
        ...(expected[pair]!.aws.length > 0 ? [`${resourceName(pair)}-aws-version`] : []),
        ...(expected[pair]!.gcp.length > 0 ? [`${resourceName(pair)}-gcp-version`] : []),
      ];
      expect(holders).toEqual(stores.sort());
      for (const name of stores) {
        const version = mocks.one(name.endsWith('-aws-version') ? T.awsSecretVersion : T.gcpSecretVersion, name);
        const data = version.inputs.secretString ?? version.inputs.secretData;
        expect(isSecretInput(data)).toBe(true);
        expect(unwrapSecrets(data)).toBe(key);
      }
      // The secrets carry the preshared-key role and its creation time, and no site tag (they belong to both ends).
      if (expected[pair]!.aws.length > 0) {
        const tags = unwrapSecrets<Record<string, string>>(
          mocks.one(T.awsSecret, `${resourceName(pair)}-aws-secret`).inputs.tags,
        );
        expect(tags['wiremesh:role']).toBe('wireguard-preshared-key');
        expect(tags['wiremesh:key-created-at']).toMatch(/^\d{4}-\d{2}-\d{2}T00:00:00\.000Z$/);
        expect(tags['wiremesh:site']).toBeUndefined();
      }
      if (expected[pair]!.gcp.length > 0) {
        const labels = unwrapSecrets<Record<string, string>>(
          mocks.one(T.gcpSecret, `${resourceName(pair)}-gcp-secret`).inputs.labels,
        );
        expect(labels['wiremesh-role']).toBe('wireguard-preshared-key');
      }
    }
    expect(mocks.byType(T.awsSecret).filter((r) => r.name.endsWith('-psk-aws-secret'))).toHaveLength(3);
    expect(mocks.byType(T.gcpSecret).filter((r) => r.name.endsWith('-psk-gcp-secret'))).toHaveLength(3);
  });

  test("exactly the two sites' gateway roles and service accounts may read it", () => {
    const rolePolicies = mocks.byType(T.rolePolicy).map((r) => ({
      name: r.name,
      document: JSON.parse(unwrapSecrets<string>(r.inputs.policy)) as IamPolicyDocument,
    }));
    for (const pair of Object.keys(expected)) {
      if (expected[pair]!.aws.length > 0) {
        const arn = mocks.one(T.awsSecret, `${resourceName(pair)}-aws-secret`).state!.arn as string;
        const readers = rolePolicies
          .filter((p) =>
            p.document.Statement.some((s) => s.Action === 'secretsmanager:GetSecretValue' && s.Resource === arn),
          )
          .map((p) => p.name)
          .sort();
        expect([pair, readers]).toEqual([pair, expected[pair]!.aws.map((g) => `${g}-read-secrets`).sort()]);
      }
      if (expected[pair]!.gcp.length > 0) {
        const secretId = mocks.one(T.gcpSecret, `${resourceName(pair)}-gcp-secret`).state!.secretId as string;
        const members = mocks
          .byType(T.gcpSecretIam)
          .filter((m) => m.inputs.secretId === secretId)
          .map((m) => [m.inputs.role, m.inputs.member]);
        const accountOf = (gateway: string): string =>
          `serviceAccount:${mocks.one(T.gcpAccount, `${gateway}-sa`).state!.email as string}`;
        expect([pair, members.sort()]).toEqual([
          pair,
          expected[pair]!.gcp.map((g) => ['roles/secretmanager.secretAccessor', accountOf(g)]).sort(),
        ]);
      }
    }
    // The instances wait for their grants (GCP) and their role policy (AWS).
    const instance = mocks.byType(T.gcpInstance).find((i) => i.name.startsWith('psk-gcp-d'))!;
    const grant = mocks.one(T.gcpSecretIam, 'psk-gcp-d-read-0');
    expect(instance.dependencies).toContain(grant.urn);
  });

  test("both ends' agent configurations reference the key in their own cloud's store, never the key", () => {
    const stored: Record<string, AgentConfig> = {
      'aws-a': awsStoredConfig(mocks, 'psk-aws-a'),
      'aws-b': awsStoredConfig(mocks, 'psk-aws-b-gateway'),
      'gcp-c': gcpStoredConfig(mocks, 'psk-gcp-c'),
      'gcp-d': gcpStoredConfig(mocks, 'psk-gcp-d'),
    };
    const sourceOf = (pair: string, cloud: 'aws' | 'gcp'): unknown => {
      if (cloud === 'aws') {
        const arn = mocks.one(T.awsSecret, `${resourceName(pair)}-aws-secret`).state!.arn as string;
        const { versionId } = mocks.one(T.awsSecretVersion, `${resourceName(pair)}-aws-version`).state!;
        return { source: 'aws-secrets-manager', secretId: arn, region: arn.split(':')[3], versionId };
      }
      const secret = mocks.one(T.gcpSecret, `${resourceName(pair)}-gcp-secret`).state!;
      return {
        source: 'gcp-secret-manager',
        name: `projects/${secret.project}/secrets/${secret.secretId}/versions/1`,
      };
    };
    const publicKeyOf = (site: string): string =>
      site === 'partner' ? PARTNER.publicKey : (namedKeyPair(mocks, `psk-${site}-key`).state!.publicKey as string);
    for (const [site, config] of Object.entries(stored)) {
      const cloud = site.startsWith('aws') ? 'aws' : 'gcp';
      for (const peer of config.peers) {
        const other = spec.sites.find((s) => publicKeyOf(s.name) === peer.publicKey)!.name;
        const pair = [site, other].sort().join('|');
        if (expected[pair] === undefined) expect([site, other, peer.presharedKey]).toEqual([site, other, undefined]);
        else expect([site, other, peer.presharedKey]).toEqual([site, other, sourceOf(pair, cloud)]);
      }
      for (const key of Object.values(psk)) expect(JSON.stringify(config)).not.toContain(key);
    }
    // The same references as the planner's, given the same source callback.
    const plan = planMesh(
      {
        ...spec,
        sites: spec.sites.map((s) => (s.provider === 'external' ? s : { ...s, endpoint: `${s.name}.invalid:51820` })),
      },
      { publicKeys: Object.fromEntries(['aws-a', 'aws-b', 'gcp-c', 'gcp-d'].map((s) => [s, publicKeyOf(s)])) },
    );
    for (const [site, config] of Object.entries(stored)) {
      const gateway = plan.gateways.find((g) => g.site === site)!;
      const cloud = site.startsWith('aws') ? 'aws' : 'gcp';
      const planned = agentConfigFor(gateway, {
        interfaceName: 'wm0',
        privateKey: { source: 'file', path: '/unused' },
        tunnelAddress: false,
        presharedKey: (a, b) => sourceOf(`${a}|${b}`, cloud) as never,
      });
      expect(config.peers.map((p) => p.presharedKey)).toEqual(planned.peers.map((p) => p.presharedKey));
    }
  });

  test('an external end gets a placeholder naming the secret, never the key', async () => {
    const { value, secret } = await resolveWithSecret(mesh.externalConfigs);
    expect(secret).toBe(true);
    const text = value.partner!;
    for (const key of Object.values(psk)) expect(text).not.toContain(key);
    const awsArn = mocks.one(T.awsSecret, `${resourceName('aws-b|partner')}-aws-secret`).state!.arn as string;
    const gcpSecret = mocks.one(T.gcpSecret, `${resourceName('gcp-c|partner')}-gcp-secret`).state!;
    expect(text).toContain(
      `kept in AWS Secrets Manager secret ${awsArn}: replace <preshared key with aws-b> with its value`,
    );
    expect(text).toContain(
      `kept in GCP Secret Manager secret projects/${gcpSecret.project}/secrets/${gcpSecret.secretId}: replace <preshared key with gcp-c>`,
    );
    expect(text.match(/^PresharedKey = /gm)).toHaveLength(2);
    // Filled in, a valid wg-quick file whose preshared keys sit with the right peers.
    const filled = text
      .replace(`PrivateKey = ${EXTERNAL_PRIVATE_KEY_PLACEHOLDER}`, `PrivateKey = ${PARTNER.privateKey}`)
      .replace(`PresharedKey = ${presharedKeyPlaceholder('aws-b')}`, `PresharedKey = ${psk['aws-b|partner']!}`)
      .replace(`PresharedKey = ${presharedKeyPlaceholder('gcp-c')}`, `PresharedKey = ${psk['gcp-c|partner']!}`);
    const parsed = parseWgQuickConfig(filled, 'wg0', 'partner.conf');
    const withPsk = parsed.peers
      .filter((p) => p.presharedKey !== undefined)
      .map((p) => p.publicKey)
      .sort();
    expect(withPsk).toEqual(
      [
        namedKeyPair(mocks, 'psk-aws-b-key').state!.publicKey,
        namedKeyPair(mocks, 'psk-gcp-c-key').state!.publicKey,
      ].sort(),
    );
  });

  test('passes every mandatory policy of the wiremesh pack (policies/), key handling and access included', () => {
    expect(mandatory(runPolicies(fromRecordedResources(mocks.resources)))).toEqual([]);
    expect(mandatory(runPolicies(fromRecordedResources(mocks.resources, { use: 'state' })))).toEqual([]);
  });
});

describe('WireGuardMesh: spec errors throw early, with their messages, registering nothing', () => {
  const twoSites = (sites: SiteSpec[], extra: Partial<MeshSpec> = {}): MeshSpec => ({
    name: 'bad',
    topology: { type: 'full-mesh' },
    sites,
    ...extra,
  });
  const awsA: SiteSpec = { name: 'aws-a', provider: 'aws', cidrs: ['10.10.0.0/16'] };
  const awsPlacement = { sites: { 'aws-a': { vpcId: 'vpc-a', subnets: [{ subnetId: 'subnet-a' }] } } };
  const partner: SiteSpec = {
    name: 'partner',
    provider: 'external',
    cidrs: ['172.16.0.0/16'],
    endpoint: '192.0.2.1:51820',
    publicKey: PARTNER.publicKey,
  };

  function refused(
    args: Partial<WireGuardMeshArgs>,
    message: string | RegExp,
    type: new (...a: any[]) => Error = Error,
  ): void {
    const mocks = meshMocks();
    let error: unknown;
    try {
      new WireGuardMesh('bad', { spec: twoSites([awsA, partner]), agentPackage: PACKAGE, aws: awsPlacement, ...args });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(type);
    if (typeof message === 'string') expect((error as Error).message).toBe(message);
    else expect((error as Error).message).toMatch(message);
    expect(mocks.resources).toEqual([]);
  }

  test("the validator's ConfigError, as is", () => {
    refused(
      { spec: twoSites([awsA, { ...partner, cidrs: ['10.10.1.0/24'] }]) },
      'invalid mesh spec:\n  $.sites[1].cidrs[0]: overlaps $.sites[0].cidrs[0] (10.10.0.0/16 of site "aws-a"); sites\' CIDRs must be disjoint',
      ConfigError,
    );
    refused(
      { spec: twoSites([awsA, { ...partner, publicKey: undefined as never }]) },
      /\$\.sites\[1\]\.publicKey: is required for an external site/,
      ConfigError,
    );
  });

  test('what WireGuardMesh refuses: local sites, preshared keys it cannot store, endpoints on cloud sites, uppercase cloud names', () => {
    refused(
      { spec: twoSites([awsA, { name: 'lab', provider: 'local', cidrs: ['10.99.0.0/24'] }]) },
      'invalid mesh spec for WireGuardMesh:\n  $.sites[1].provider: "local" sites run on the local target (`wiremesh up`); WireGuardMesh deploys aws, gcp and external sites',
      ConfigError,
    );
    const office: SiteSpec = {
      name: 'office',
      provider: 'external',
      cidrs: ['192.168.10.0/24'],
      endpoint: '192.0.2.10:51820',
      publicKey: OFFICE.publicKey,
    };
    refused(
      { spec: twoSites([awsA, partner, office], { presharedKeys: [{ sites: ['partner', 'office'] }] }) },
      'invalid mesh spec for WireGuardMesh:\n  $.presharedKeys[0].sites: names two external sites: WireGuardMesh deploys neither end, so it has nowhere to store their preshared key (configure it on both hosts yourself)',
      ConfigError,
    );
    refused(
      {
        spec: twoSites([awsA, partner], { presharedKeys: [{ sites: ['aws-a', 'partner'] }] }),
        onPrem: {
          partner: { connection: { host: '192.0.2.1', user: 'u' }, privateKey: pulumi.secret(PARTNER.privateKey) },
        },
      },
      'WireGuardMesh "bad": presharedKeys: site "partner" is an on-prem host (onPrem["partner"]); WireGuardMesh stores preshared keys only for aws, gcp and plain external sites (remove the pair, or configure that host\'s tunnel outside the mesh)',
    );
    refused(
      { spec: twoSites([{ ...awsA, endpoint: 'old.example:51820' }, partner]) },
      "invalid mesh spec for WireGuardMesh:\n  $.sites[0].endpoint: is assigned by WireGuardMesh (the aws gateway's address or load balancer); leave it out",
      ConfigError,
    );
    refused(
      {
        spec: twoSites([{ ...awsA, name: 'AWS-A' }, partner]),
        aws: { sites: { 'AWS-A': awsPlacement.sites['aws-a'] } },
      },
      /\$\.sites\[0\]\.name: must be lowercase letters, digits and dashes for an aws site/,
      ConfigError,
    );
  });

  test('a full-tunnel hub with a cloud spoke', () => {
    refused(
      {
        spec: {
          name: 'ft',
          topology: { type: 'hub-and-spoke', hubs: ['exit'] },
          sites: [awsA, { name: 'exit', provider: 'gcp', cidrs: ['10.20.0.0/16'], fullTunnel: true }],
        },
        gcp: { sites: { exit: { network: 'n', subnetwork: 's', zones: ['europe-west1-b'], allowFromAnywhere: true } } },
      },
      /\$\.sites\[0\]: an aws spoke of a fullTunnel hub would route 0\.0\.0\.0\/0 through its gateway/,
      ConfigError,
    );
  });

  test('a spec file: read as YAML relative to the working directory; unreadable or invalid files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wiremesh-mesh-'));
    writeFileSync(
      join(dir, 'mesh.yaml'),
      'name: file\ntopology: { type: full-mesh }\nsites:\n  - { name: aws-a, provider: aws, cidrs: [10.10.0.0/16] }\n  - { name: partner, provider: external, cidrs: [172.16.0.0/16], endpoint: "192.0.2.1:51820", publicKey: "' +
        PARTNER.publicKey +
        '" }\n',
    );
    writeFileSync(join(dir, 'broken.yaml'), 'name: [unclosed\n');
    writeFileSync(join(dir, 'empty.yaml'), '');
    const loaded = loadMeshSpecForDeployment('mesh.yaml', dir);
    expect(loaded.spec.sites.map((s) => s.name)).toEqual(['aws-a', 'partner']);
    expect(loaded.spec.sites[0]!.endpoint).toBeUndefined();
    expect(loaded.planning.sites[0]!.endpoint).toBe('aws-a.endpoint.wiremesh.invalid:51820');
    expect(() => loadMeshSpecForDeployment('missing.yaml', dir)).toThrow(
      `invalid mesh spec:\n  $: cannot read the mesh spec file ${join(dir, 'missing.yaml')}: ENOENT`,
    );
    expect(() => loadMeshSpecForDeployment('broken.yaml', dir)).toThrow(
      /^invalid mesh spec:\n {2}\$: is not valid YAML or JSON/,
    );
    expect(() => loadMeshSpecForDeployment('empty.yaml', dir)).toThrow(
      'invalid mesh spec:\n  $: is empty: expected an object with name, topology and sites',
    );

    const mocks = meshMocks();
    const mesh = new WireGuardMesh('file', { spec: join(dir, 'mesh.yaml'), agentPackage: PACKAGE, aws: awsPlacement });
    expect((await resolve(mesh.sites))['aws-a']!.endpoint).toBe('198.51.100.1:51820');
    await mocks.settle();
    refused({ spec: join(dir, 'missing.yaml') }, /cannot read the mesh spec file/, ConfigError);
  });

  test('placement errors', () => {
    refused(
      { aws: undefined },
      'WireGuardMesh "bad": aws.sites["aws-a"] is required: the spec\'s aws site "aws-a" needs a VPC and subnets',
    );
    refused(
      { aws: { sites: { ...awsPlacement.sites, ghost: awsPlacement.sites['aws-a'] } } },
      'WireGuardMesh "bad": aws.sites["ghost"]: the spec has no site "ghost"',
    );
    refused(
      { gcp: { sites: { 'aws-a': { network: 'n', subnetwork: 's', zones: ['europe-west1-b'] } } } },
      'WireGuardMesh "bad": gcp.sites["aws-a"]: site "aws-a" is aws; gcp.sites is for gcp sites',
    );
    refused(
      { onPrem: { 'aws-a': { connection: { host: 'h' }, privateKey: pulumi.secret(OFFICE.privateKey) } } },
      'WireGuardMesh "bad": onPrem["aws-a"]: site "aws-a" is aws; onPrem is for external sites',
    );
    refused(
      { aws: { sites: { 'aws-a': { vpcId: 'vpc-a', subnets: [{ subnetId: 'a' }, { subnetId: 'b' }] } } } },
      'WireGuardMesh "bad": aws.sites["aws-a"].subnets must list 1 subnet, one per gateway of site "aws-a" (the spec\'s gateways: 1)',
    );
    refused({ agentPackage: 'wiremesh@latest' }, /^WireGuardMesh "bad": agentPackage: agentPackage must be pinned/);
    refused(
      { aws: { sites: { 'aws-a': { ...awsPlacement.sites['aws-a'], instanceType: 'huge' } } } },
      /AwsGateway "bad-aws-a": instanceType "huge" is not an EC2 instance type/,
    );
    refused(
      { aws: { sites: { 'aws-a': { ...awsPlacement.sites['aws-a'], crossZoneLoadBalancing: false } } } },
      /crossZoneLoadBalancing is for load-balanced sites/,
    );
  });

  test("an on-prem key that does not belong to the spec's public key", () => {
    refused(
      { onPrem: { partner: { connection: { host: '192.0.2.1', user: 'u' }, privateKey: OTHER.privateKey } } },
      `WireGuardMesh "bad": onPrem["partner"].privateKey belongs to public key ${OTHER.publicKey}, but the spec gives site "partner" the public key ${PARTNER.publicKey}`,
    );
  });
});

// -------------------------------------------------------------------------------------------------

describe('WireGuardMesh: providers and helpers', () => {
  test('providers given per cloud reach every child of the sites', async () => {
    const mocks = meshMocks();
    const euw1 = new aws.Provider('euw1', { region: 'eu-west-1' });
    const project = new gcp.Provider('proj', { project: 'proj' });
    const spec: MeshSpec = {
      name: 'p',
      topology: { type: 'full-mesh' },
      sites: [
        { name: 'a', provider: 'aws', cidrs: ['10.10.0.0/16'] },
        { name: 'g', provider: 'gcp', gateways: 2, cidrs: ['10.20.0.0/16'] },
      ],
    };
    await deploy(
      'p',
      {
        spec,
        agentPackage: PACKAGE,
        aws: { provider: euw1, sites: { a: { vpcId: 'v', subnets: [{ subnetId: 's', routeTableIds: ['r'] }] } } },
        gcp: {
          sites: {
            g: {
              provider: project,
              network: 'n',
              subnetwork: 's',
              zones: ['europe-west1-b', 'europe-west1-c'],
              allowFromAnywhere: true,
            },
          },
        },
      },
      mocks,
    );
    const providerOf = (r: RecordedResource): string => r.provider!.split('::').slice(0, -1).join('::');
    const custom = mocks.resources.filter(
      (r) => r.custom && !r.type.startsWith('pulumi:providers:') && !r.type.startsWith('pulumi-nodejs:'),
    );
    const awsUrn = await resolve(euw1.urn);
    const gcpUrn = await resolve(project.urn);
    for (const r of custom.filter((x) => x.type.startsWith('aws:')))
      expect([r.name, providerOf(r)]).toEqual([r.name, awsUrn]);
    for (const r of custom.filter((x) => x.type.startsWith('gcp:')))
      expect([r.name, providerOf(r)]).toEqual([r.name, gcpUrn]);
    expect(custom.filter((x) => x.type.startsWith('gcp:')).map((r) => r.name)).toContain('p-g-lb-ip');
    expect(mocks.invokes.filter((i) => i.token.startsWith('aws:')).every((i) => i.provider?.startsWith(awsUrn))).toBe(
      true,
    );
  });

  test('endpointSourceCidr: IP literals only', () => {
    expect(endpointSourceCidr('192.0.2.1:51820')).toBe('192.0.2.1/32');
    expect(endpointSourceCidr('[2001:db8::1]:51820')).toBe('2001:db8::1/128');
    expect(endpointSourceCidr('vpn.example:51820')).toBeUndefined();
    expect(endpointSourceCidr(undefined)).toBeUndefined();
  });

  test('planAgentConfig is agentConfigFor without the private key', () => {
    const plan = planMesh(
      {
        name: 'x',
        topology: { type: 'full-mesh' },
        sites: [
          { name: 'a', provider: 'aws', cidrs: ['10.0.0.0/24'], endpoint: 'a.example:51820' },
          { name: 'b', provider: 'aws', cidrs: ['10.0.1.0/24'], endpoint: 'b.example:51820' },
        ],
      },
      { publicKeys: { a: OFFICE.publicKey, b: OTHER.publicKey } },
    );
    const gateway = plan.gateways[0]!;
    const { privateKey: _k, ...expected } = agentConfigFor(gateway, {
      interfaceName: 'wm0',
      privateKey: { source: 'file', path: '/k' },
      metrics: { listen: '127.0.0.1:9586' },
      tunnelAddress: false,
    });
    expect(planAgentConfig(gateway, { interfaceName: 'wm0', metricsListen: '127.0.0.1:9586' })).toEqual(expected);
  });
});
