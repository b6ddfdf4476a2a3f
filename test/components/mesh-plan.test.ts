/**
 * components/mesh/plan.ts: the deployment plan of a WireGuardMesh, pure (no mocks, no resources):
 * what each site becomes, its routes and WireGuard sources, the preshared-key pairs, and every
 * refusal with the argument it names.
 */
import { ConfigError } from '../../common/validation';
import { ComponentArgumentError } from '../../components/errors';
import { planMeshDeployment } from '../../components/mesh';
import type { MeshSpec } from '../../mesh/spec';
import { fullMesh, fullMeshArgs, OFFICE, PACKAGE, PARTNER } from './mesh-support';

const label = 'WireGuardMesh "corp"';

describe('planMeshDeployment', () => {
  test('each site: its kind, gateway ids, component name and VPC routes', () => {
    const plan = planMeshDeployment('corp', fullMeshArgs());
    expect(plan.sites.map((s) => [s.site.name, s.kind, s.gatewayIds, s.componentName])).toEqual([
      ['aws-a', 'aws-gateway', ['aws-a'], 'corp-aws-a'],
      ['aws-b', 'aws-gateway-group', ['aws-b-1', 'aws-b-2'], 'corp-aws-b'],
      ['gcp-c', 'gcp-gateway-group', ['gcp-c-1', 'gcp-c-2'], 'corp-gcp-c'],
      ['gcp-d', 'gcp-gateway', ['gcp-d'], 'corp-gcp-d'],
      ['office', 'on-prem', ['office'], 'corp-office'],
      ['partner', 'external', [], 'corp-partner'],
    ]);
    // Full mesh: every cloud site routes every other site's CIDRs.
    expect(plan.sites.find((s) => s.site.name === 'aws-a')!.remoteCidrs.sort()).toEqual([
      '10.11.0.0/16',
      '10.20.0.0/15',
      '172.16.0.0/16',
      '192.168.10.0/24',
    ]);
    expect(plan.sites.find((s) => s.site.name === 'partner')!.remoteCidrs).toEqual([]);
    expect([plan.interfaceName, plan.listenPort, plan.healthPort]).toEqual(['wm0', 51820, 9587]);
  });

  test("WireGuard sources: the peers' sourceCidrs, an external IP endpoint, a gcp site's allocated addresses (AWS only)", () => {
    const { sourceCidrs: _none, ...given } = fullMeshArgs();
    const sourceCidrs = { 'aws-a': ['198.51.100.1/32'], 'aws-b': ['198.51.100.2/32'], partner: ['192.0.2.128/25'] };
    const open = {
      sites: {
        'gcp-c': { ...given.gcp!.sites['gcp-c']!, allowFromAnywhere: true },
        'gcp-d': { ...given.gcp!.sites['gcp-d']!, allowFromAnywhere: true },
      },
    };
    const args = { ...given, gcp: open };
    const plan = planMeshDeployment('corp', { ...args, sourceCidrs });
    // gcp sites without sourceCidrs allocate addresses: instances, then the LB's.
    expect(plan.addressSlots).toEqual({ 'gcp-c': 3, 'gcp-d': 1 });
    const awsA = plan.sites.find((s) => s.site.name === 'aws-a')!;
    expect(awsA.peerSources).toEqual([
      { cidr: '198.51.100.2/32' },
      { site: 'gcp-c', slot: 0 },
      { site: 'gcp-c', slot: 1 },
      { site: 'gcp-c', slot: 2 },
      { site: 'gcp-d', slot: 0 },
      { cidr: '192.0.2.10/32' },
      { cidr: '192.0.2.128/25' },
    ]);
    // A GCP firewall takes plain ranges only: the other gcp site's addresses cannot be used.
    expect(() =>
      planMeshDeployment('corp', {
        ...args,
        sourceCidrs,
        gcp: { sites: { ...open.sites, 'gcp-c': given.gcp!.sites['gcp-c']! } },
      }),
    ).toThrow(
      `${label}: the gateway of site "gcp-c" accepts WireGuard from its peers only, but the source addresses of "gcp-d" (its addresses are allocated by this deployment and GcpGateway takes plain peerCidrs) are not known before deployment`,
    );
  });

  test("peerCidrs or allowFromAnywhere in a placement: the sources are the placement's", () => {
    const args = fullMeshArgs();
    const plan = planMeshDeployment('corp', {
      ...args,
      aws: { sites: { ...args.aws!.sites, 'aws-a': { ...args.aws!.sites['aws-a']!, allowFromAnywhere: true } } },
    });
    expect(plan.sites.find((s) => s.site.name === 'aws-a')!.peerSources).toBeUndefined();
    expect(plan.sites.find((s) => s.site.name === 'gcp-d')!.peerSources).toEqual(
      [
        '198.51.100.1/32',
        '198.51.100.2/32',
        '198.51.100.3/32',
        '203.0.113.0/28',
        '192.0.2.10/32',
        '192.0.2.128/25',
      ].map((cidr) => ({ cidr })),
    );
  });

  test('preshared-key pairs, each sorted', () => {
    const spec: MeshSpec = {
      ...fullMesh,
      presharedKeys: [{ sites: ['partner', 'aws-a'] }, { sites: ['gcp-d', 'aws-b'] }],
    };
    expect(planMeshDeployment('corp', fullMeshArgs({ spec })).presharedKeyPairs).toEqual([
      ['aws-a', 'partner'],
      ['aws-b', 'gcp-d'],
    ]);
  });

  test.each<[string, () => ReturnType<typeof fullMeshArgs>, string]>([
    ['no agent package', () => fullMeshArgs({ agentPackage: '' }), 'agentArtifact is required'],
    [
      'an unpinned gcp agent package',
      () => fullMeshArgs({ gcp: { ...fullMeshArgs().gcp!, agentPackage: 'wiremesh' } }),
      'gcp.agentPackage: agentPackage must be pinned',
    ],
    [
      'a long interface name',
      () => fullMeshArgs({ interfaceName: 'wiremesh-interface0' }),
      'interfaceName must be 1 to 15',
    ],
    [
      'a missing aws placement',
      () => fullMeshArgs({ aws: { sites: { 'aws-a': fullMeshArgs().aws!.sites['aws-a']! } } }),
      'aws.sites["aws-b"] is required',
    ],
    [
      'a placement of an unknown site',
      () =>
        fullMeshArgs({
          gcp: {
            sites: {
              ...fullMeshArgs().gcp!.sites,
              nowhere: { network: 'n', subnetwork: 's', zones: ['us-central1-a'] },
            },
          },
        }),
      'gcp.sites["nowhere"]: the spec has no site "nowhere"',
    ],
    [
      'onPrem for a cloud site',
      () => fullMeshArgs({ onPrem: { 'aws-a': fullMeshArgs().onPrem!.office! } }),
      'onPrem["aws-a"]: site "aws-a" is aws; onPrem is for external sites',
    ],
    [
      'empty sourceCidrs',
      () => fullMeshArgs({ sourceCidrs: { 'aws-a': [] } }),
      'sourceCidrs["aws-a"] must be a non-empty list of CIDR blocks',
    ],
    [
      'one subnet for two gateways',
      () =>
        fullMeshArgs({
          aws: {
            sites: { ...fullMeshArgs().aws!.sites, 'aws-b': { vpcId: 'vpc-b', subnets: [{ subnetId: 'subnet-b1' }] } },
          },
        }),
      'aws.sites["aws-b"].subnets must list 2 subnets, one per gateway of site "aws-b" (the spec\'s gateways: 2)',
    ],
    [
      'a load balancer setting on a single gateway',
      () =>
        fullMeshArgs({
          aws: {
            sites: {
              ...fullMeshArgs().aws!.sites,
              'aws-a': { ...fullMeshArgs().aws!.sites['aws-a']!, crossZoneLoadBalancing: false },
            },
          },
        }),
      'aws.sites["aws-a"].crossZoneLoadBalancing is for load-balanced sites (gateways > 1); site "aws-a" has one gateway',
    ],
    [
      'session affinity on a single gcp gateway',
      () =>
        fullMeshArgs({
          gcp: {
            sites: {
              ...fullMeshArgs().gcp!.sites,
              'gcp-d': { ...fullMeshArgs().gcp!.sites['gcp-d']!, sessionAffinity: 'NONE' },
            },
          },
        }),
      'gcp.sites["gcp-d"].sessionAffinity is for load-balanced sites (gateways > 1); site "gcp-d" has one gateway',
    ],
    [
      'a gcp resource name that is too long',
      () =>
        fullMeshArgs({
          gcp: {
            sites: {
              ...fullMeshArgs().gcp!.sites,
              'gcp-d': { ...fullMeshArgs().gcp!.sites['gcp-d']!, resourceName: 'a-very-long-gateway-name-for-gcp-d' },
            },
          },
        }),
      'the GCP resources of site "gcp-d" would be named "a-very-long-gateway-name-for-gcp-d"',
    ],
    [
      'an on-prem host without a connection',
      () => fullMeshArgs({ onPrem: { office: { privateKey: 'k' } as never } }),
      'onPrem["office"].connection is required',
    ],
    [
      'an on-prem key of another site',
      () => fullMeshArgs({ onPrem: { office: { connection: { host: 'h' }, privateKey: PARTNER.privateKey } } }),
      `onPrem["office"].privateKey belongs to public key ${PARTNER.publicKey}`,
    ],
    [
      'a preshared key with an on-prem host',
      () => fullMeshArgs({ spec: { ...fullMesh, presharedKeys: [{ sites: ['office', 'aws-a'] }] } }),
      'presharedKeys: site "office" is an on-prem host',
    ],
  ])('refuses %s, naming the argument', (_what, args, message) => {
    expect(() => planMeshDeployment('corp', args())).toThrow(ComponentArgumentError);
    expect(() => planMeshDeployment('corp', args())).toThrow(`${label}: ${message}`);
  });

  test("spec problems are the spec's ConfigError (a fullTunnel hub with cloud spokes)", () => {
    const spec: MeshSpec = {
      name: 'corp',
      topology: { type: 'hub-and-spoke', hubs: ['office'] },
      sites: [
        {
          name: 'office',
          provider: 'external',
          cidrs: ['192.168.10.0/24'],
          endpoint: '192.0.2.10:51820',
          publicKey: OFFICE.publicKey,
          fullTunnel: true,
        },
        { name: 'aws-a', provider: 'aws', cidrs: ['10.10.0.0/16'] },
      ],
    };
    expect(() =>
      planMeshDeployment('corp', {
        spec,
        agentPackage: PACKAGE,
        aws: { sites: { 'aws-a': { vpcId: 'v', subnets: [{ subnetId: 's' }] } } },
      }),
    ).toThrow(ConfigError);
  });
});
