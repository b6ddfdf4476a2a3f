/**
 * components/gcp/gateway.ts with `createNetwork` under mocks: a custom-mode network (no
 * auto-created subnetworks) and one subnetwork of the given range in the zones' region; the
 * instances, firewall rules, routes and internal LB use them; the checks for both / neither of
 * network+subnetwork and createNetwork; providers reach the new resources.
 */
import * as gcp from '@pulumi/gcp';
import type * as pulumi from '@pulumi/pulumi';
import { GcpGateway } from '../../components/gcp/gateway';
import type { GcpGatewayArgs } from '../../components/gcp/gateway-args';
import { GcpGatewayGroup } from '../../components/gcp/gateway-group';
import { descendantsOf, gcpMockNewResource } from '../../components/gcp/testing';
import { resolve, setupMocks, type MockRecorder, type RecordedResource } from '../../components/testing';

const T = {
  network: 'gcp:compute/network:Network',
  subnetwork: 'gcp:compute/subnetwork:Subnetwork',
  firewall: 'gcp:compute/firewall:Firewall',
  instance: 'gcp:compute/instance:Instance',
  route: 'gcp:compute/route:Route',
  forwardingRule: 'gcp:compute/forwardingRule:ForwardingRule',
  gateway: 'wiremesh:gcp:GcpGateway',
};
const PEER_PUBLIC_KEY = '3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=';

function createdArgs(overrides: Partial<GcpGatewayArgs> = {}): GcpGatewayArgs {
  return {
    zones: ['europe-west1-b', 'europe-west1-c'],
    instanceCount: 2,
    createNetwork: { cidr: '10.40.0.0/24' },
    peerCidrs: ['198.51.100.7/32'],
    remoteCidrs: ['10.10.0.0/16', '10.30.0.0/16'],
    forwardFromCidrs: ['10.40.0.0/24'],
    agent: {
      package: 'wiremesh@0.1.0',
      config: {
        interface: { addresses: ['10.99.0.2/24'] },
        peers: [
          {
            name: 'site-a',
            publicKey: PEER_PUBLIC_KEY,
            endpoint: 'gw-a.example.net:51820',
            allowedIps: ['10.99.0.1/32', '10.10.0.0/16'],
          },
        ],
      },
    },
    ...overrides,
  };
}

let mocks: MockRecorder;
beforeEach(() => {
  mocks = setupMocks({ newResource: gcpMockNewResource() });
});

async function build(
  args: GcpGatewayArgs,
  opts: pulumi.ComponentResourceOptions = {},
): Promise<{ gw: GcpGateway; all: RecordedResource[]; of(type: string): RecordedResource[] }> {
  const gw = new GcpGateway('gw', args, opts);
  await resolve(gw.agentConfig);
  await Promise.all([
    ...gw.routes.map((r) => resolve(r.id)),
    ...gw.instances.map((i) => resolve(i.id)),
    ...gw.firewalls.map((f) => resolve(f.id)),
  ]);
  await mocks.settle();
  const root = mocks.resources.find((r) => r.type === T.gateway && r.name === 'gw')!;
  const all = descendantsOf(mocks.resources, root.urn!);
  const of = (type: string) =>
    all.filter((r) => r.type === type).sort((x, y) => x.name.localeCompare(y.name, 'en', { numeric: true }));
  return { gw, all, of };
}

describe('GcpGateway with a created network', () => {
  it("creates a custom-mode network and one subnetwork of the range in the zones' region, children of the gateway", async () => {
    const b = await build(createdArgs({ project: 'p1' }));
    const [network] = b.of(T.network);
    expect(b.of(T.network)).toHaveLength(1);
    expect(network!.name).toBe('gw-net');
    expect(network!.inputs).toMatchObject({ project: 'p1', autoCreateSubnetworks: false });
    const [subnetwork] = b.of(T.subnetwork);
    expect(b.of(T.subnetwork)).toHaveLength(1);
    expect(subnetwork!.name).toBe('gw-subnet');
    expect(subnetwork!.inputs).toMatchObject({
      project: 'p1',
      region: 'europe-west1',
      network: network!.id,
      ipCidrRange: '10.40.0.0/24',
    });
    const root = mocks.resources.find((r) => r.type === T.gateway)!;
    expect(network!.parent).toBe(root.urn);
    expect(subnetwork!.parent).toBe(root.urn);
    expect(b.gw.network).toBeDefined();
    expect(b.gw.subnetwork).toBeDefined();
  });

  it('puts the instances in the created subnetwork, and the firewall rules and routes in the created network', async () => {
    const b = await build(createdArgs());
    const network = b.of(T.network)[0]!;
    const subnetwork = b.of(T.subnetwork)[0]!;
    const instances = b.of(T.instance);
    expect(instances).toHaveLength(2);
    for (const instance of instances) {
      expect(instance.inputs.networkInterfaces).toHaveLength(1);
      expect(instance.inputs.networkInterfaces[0]).toMatchObject({ network: network.id, subnetwork: subnetwork.id });
    }
    const firewalls = b.of(T.firewall);
    expect(firewalls.map((f) => f.name)).toEqual(['gw-fwd', 'gw-wg']);
    for (const firewall of firewalls) expect(firewall.inputs.network).toBe(network.id);
    const routes = b.of(T.route);
    expect(routes).toHaveLength(4);
    for (const route of routes) expect(route.inputs.network).toBe(network.id);
  });

  it('an internal load balancer in the created subnetwork', async () => {
    const b = await build(createdArgs({ internalLoadBalancer: true }));
    const network = b.of(T.network)[0]!;
    const subnetwork = b.of(T.subnetwork)[0]!;
    const [rule] = b.of(T.forwardingRule);
    expect(rule!.inputs).toMatchObject({
      loadBalancingScheme: 'INTERNAL',
      network: network.id,
      subnetwork: subnetwork.id,
    });
    for (const route of b.of(T.route))
      expect(route.inputs).toMatchObject({ network: network.id, nextHopIlb: rule!.id });
  });

  it('bring your own VPC creates no network', async () => {
    const b = await build(
      createdArgs({
        createNetwork: undefined,
        network: 'projects/net/global/networks/vpc',
        subnetwork: 'projects/net/regions/europe-west1/subnetworks/gw',
      }),
    );
    expect(b.of(T.network)).toEqual([]);
    expect(b.of(T.subnetwork)).toEqual([]);
    expect(b.gw.network).toBeUndefined();
  });

  it('a provider passed in options reaches the created network and subnetwork', async () => {
    const provider = new gcp.Provider('net-project', { project: 'net' });
    const b = await build(createdArgs(), { providers: { gcp: provider } });
    const providerRef = `${await resolve(provider.urn)}::net-project-id`;
    for (const r of [...b.of(T.network), ...b.of(T.subnetwork)])
      expect(`${r.name} ${r.provider}`).toBe(`${r.name} ${providerRef}`);
  });

  it('GcpGatewayGroup passes createNetwork to its gateway', async () => {
    const group = new GcpGatewayGroup('grp', createdArgs());
    await resolve(group.endpoint);
    await Promise.all(group.gateway.instances.map((i) => resolve(i.id)));
    await mocks.settle();
    const network = mocks.one(T.network, 'grp-net');
    const subnetwork = mocks.one(T.subnetwork, 'grp-subnet');
    for (const instance of mocks.byType(T.instance))
      expect(instance.inputs.networkInterfaces[0]).toMatchObject({ network: network.id, subnetwork: subnetwork.id });
  });
});

describe('GcpGateway network argument checks', () => {
  const both =
    'GcpGateway "gw": give either network and subnetwork (bring your own VPC) or createNetwork (a network the gateway creates), not both';
  it.each<[string, Partial<GcpGatewayArgs>, string]>([
    ['createNetwork with network and subnetwork', { network: 'vpc', subnetwork: 'gw' }, both],
    ['createNetwork with network', { network: 'vpc' }, both],
    ['createNetwork with subnetwork', { subnetwork: 'gw' }, both],
    [
      'neither',
      { createNetwork: undefined },
      'GcpGateway "gw": give network and subnetwork (bring your own VPC) or createNetwork: { cidr } (a network the gateway creates)',
    ],
    [
      'network without subnetwork',
      { createNetwork: undefined, network: 'vpc' },
      'GcpGateway "gw": subnetwork is required (bring your own VPC) with network, or give createNetwork instead of both',
    ],
    [
      'subnetwork without network',
      { createNetwork: undefined, subnetwork: 'gw' },
      'GcpGateway "gw": network is required (bring your own VPC) with subnetwork, or give createNetwork instead of both',
    ],
    [
      'a range with host bits',
      { createNetwork: { cidr: '10.40.0.1/24' } },
      'GcpGateway "gw": createNetwork.cidr must be an IPv4 CIDR from /8 to /29 with its host bits zero (e.g. 10.40.0.0/24), got "10.40.0.1/24"',
    ],
    [
      'a /30 range',
      { createNetwork: { cidr: '10.40.0.0/30' } },
      'GcpGateway "gw": createNetwork.cidr must be an IPv4 CIDR from /8 to /29 with its host bits zero (e.g. 10.40.0.0/24), got "10.40.0.0/30"',
    ],
    [
      'an IPv6 range',
      { createNetwork: { cidr: 'fd00::/64' } },
      'GcpGateway "gw": createNetwork.cidr must be an IPv4 CIDR from /8 to /29 with its host bits zero (e.g. 10.40.0.0/24), got "fd00::/64"',
    ],
    [
      'no range',
      { createNetwork: {} as never },
      'GcpGateway "gw": createNetwork.cidr must be an IPv4 CIDR from /8 to /29 with its host bits zero (e.g. 10.40.0.0/24), got undefined',
    ],
  ])('refuses %s, registering nothing', async (_what, overrides, message) => {
    expect(() => new GcpGateway('gw', createdArgs(overrides))).toThrow(message);
    await mocks.settle();
    expect(mocks.resources).toEqual([]);
  });
});
