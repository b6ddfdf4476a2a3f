/**
 * components/gcp/gateway-group.ts under mocks: one key for the whole group, an external
 * passthrough NLB (UDP forwarding rule on the WireGuard port, backend service over every
 * instance, TCP health check on the agent health port), the health firewall opened to the NLB
 * and internal LB probe ranges, active/standby by default (one active holder of the key), no peer
 * endpoints in the shared document, the endpoint output, argument errors and provider propagation.
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { GcpGatewayGroup, type GcpGatewayGroupArgs } from '../../components/gcp/gateway-group';
import { descendantsOf, gcpMockNewResource, plainOccurrences } from '../../components/gcp/testing';
import { HEALTH_GATE_TYPE } from '../../components/health-gate';
import { WIREGUARD_KEY_PAIR_TYPE } from '../../components/key';
import {
  isSecretInput,
  resolve,
  setupMocks,
  unwrapSecrets,
  type MockRecorder,
  type RecordedResource,
} from '../../components/testing';

const T = {
  firewall: 'gcp:compute/firewall:Firewall',
  instance: 'gcp:compute/instance:Instance',
  route: 'gcp:compute/route:Route',
  address: 'gcp:compute/address:Address',
  version: 'gcp:secretmanager/secretVersion:SecretVersion',
  secret: 'gcp:secretmanager/secret:Secret',
  account: 'gcp:serviceaccount/account:Account',
  group: 'gcp:compute/instanceGroup:InstanceGroup',
  membership: 'gcp:compute/instanceGroupMembership:InstanceGroupMembership',
  gate: HEALTH_GATE_TYPE,
  backend: 'gcp:compute/regionBackendService:RegionBackendService',
  forwardingRule: 'gcp:compute/forwardingRule:ForwardingRule',
  healthCheck: 'gcp:compute/regionHealthCheck:RegionHealthCheck',
  keySecret: 'wiremesh:gcp:GcpKeySecret',
  key: 'wiremesh:keys:WireGuardKey',
  root: 'wiremesh:gcp:GcpGatewayGroup',
};
const PEER_PUBLIC_KEY = '3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=';

function groupArgs(overrides: Partial<GcpGatewayGroupArgs> = {}): GcpGatewayGroupArgs {
  return {
    zones: ['europe-west1-b', 'europe-west1-c', 'europe-west1-d'],
    network: 'vpc',
    subnetwork: 'projects/net/regions/europe-west1/subnetworks/gw',
    peerCidrs: ['198.51.100.0/24'],
    remoteCidrs: ['10.10.0.0/16'],
    agent: {
      package: 'wiremesh@0.1.0',
      config: {
        interface: { addresses: ['10.99.0.2/24'] },
        peers: [
          {
            name: 'site-a',
            publicKey: PEER_PUBLIC_KEY,
            allowedIps: ['10.99.0.1/32', '10.10.0.0/16'],
            persistentKeepalive: 25,
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

async function build(name: string, args: GcpGatewayGroupArgs, opts: pulumi.ComponentResourceOptions = {}) {
  const group = new GcpGatewayGroup(name, args, opts);
  await resolve(group.endpoint);
  await resolve(group.gateway.userData);
  await Promise.all([
    ...group.gateway.routes.map((r) => resolve(r.id)),
    ...group.gateway.firewalls.map((f) => resolve(f.id)),
  ]);
  await mocks.settle();
  const root = mocks.resources.find((r) => r.type === T.root && r.name === name)!;
  const all = descendantsOf(mocks.resources, root.urn!);
  const of = (type: string): RecordedResource[] =>
    all.filter((r) => r.type === type).sort((x, y) => x.name.localeCompare(y.name, 'en', { numeric: true }));
  return { group, all, of };
}

describe('GcpGatewayGroup', () => {
  it('rolls a replacement one VM at a time, each waiting until the previous one is HEALTHY behind the internal LB', async () => {
    const b = await build('edge', groupArgs());
    const instances = b.of(T.instance);
    const gates = b.of(T.gate);
    const memberships = b.of(T.membership);
    const groups = b.of(T.group);
    const internalBackend = b.of(T.backend).find((s) => s.inputs.loadBalancingScheme === 'INTERNAL')!;
    expect(gates.map((g) => g.name)).toEqual(['edge-serving-0', 'edge-serving-1', 'edge-serving-2']);
    instances.forEach((vm, i) => {
      const others = [...instances, ...gates].filter((o) => o !== vm);
      // VM i is registered (created or replaced) after gate i-1 only: VM i-1 serves.
      expect(others.filter((o) => vm.dependencies.includes(o.urn!)).map((o) => o.name)).toEqual(
        i === 0 ? [] : [`edge-serving-${i - 1}`],
      );
      // The group's VMs hold static external addresses: delete-first (one address, one VM).
      expect(vm.deleteBeforeReplace).toBe(true);
      expect(gates[i]!.inputs.check).toEqual({
        kind: 'gcp-backend-health',
        backendService: internalBackend.id,
        instanceGroup: groups[i]!.state!.selfLink,
        instance: vm.state!.selfLink,
        instanceId: vm.state!.instanceId,
      });
      expect(gates[i]!.inputs.label).toBe(`edge-${i}`);
      // The gate asks only once the VM is a member, and once the internal LB (its rule, over the backend
      // service, both made after the VMs) exists.
      const internalRule = b.of(T.forwardingRule).find((r) => r.name === 'edge-ilb-fr')!;
      expect(internalRule.dependencies).toContain(internalBackend.urn);
      expect(gates[i]!.dependencies).toEqual(
        expect.arrayContaining([vm.urn, memberships[i]!.urn, internalRule.urn, groups[i]!.urn]),
      );
    });
    // Nothing the backend services need waits for a VM: the groups have no member list.
    for (const backend of b.of(T.backend))
      for (const vm of instances) expect(backend.dependencies).not.toContain(vm.urn);
  });

  it('puts an external passthrough NLB (UDP, HTTP /ready health check) in front of every gateway instance', async () => {
    const b = await build('edge', groupArgs());
    const instances = b.of(T.instance);
    expect(instances).toHaveLength(3);
    expect(instances.map((i) => i.inputs.zone)).toEqual(['europe-west1-b', 'europe-west1-c', 'europe-west1-d']);

    const groups = b.of(T.group);
    expect(groups.map((g) => g.inputs.zone)).toEqual(['europe-west1-b', 'europe-west1-c', 'europe-west1-d']);
    const memberships = b.of(T.membership);
    expect(memberships.map((m) => m.inputs.instance)).toEqual(instances.map((i) => i.state!.selfLink));
    memberships.forEach((m, i) => {
      expect(m.inputs.instance).toContain(`/zones/${m.inputs.zone}/`);
      expect(m.inputs.instanceGroup).toBe(groups[i]!.state!.name);
    });

    const [hc, ...moreHc] = b.of(T.healthCheck).filter((h) => h.name === 'edge-nlb-hc');
    expect(moreHc).toEqual([]);
    expect(hc!.inputs).toMatchObject({
      region: 'europe-west1',
      httpHealthCheck: { port: 9587, requestPath: '/ready' },
    });
    expect(hc!.inputs.tcpHealthCheck).toBeUndefined();

    const [backend, ...moreBackends] = b.of(T.backend).filter((x) => x.inputs.loadBalancingScheme === 'EXTERNAL');
    expect(moreBackends).toEqual([]);
    expect(backend!.inputs).toMatchObject({
      loadBalancingScheme: 'EXTERNAL',
      protocol: 'UDP',
      region: 'europe-west1',
      sessionAffinity: 'CLIENT_IP',
      healthChecks: hc!.id,
    });
    expect(
      (backend!.inputs.backends as Array<{ group: string; balancingMode: string }>).map((x) => x.group).sort(),
    ).toEqual(groups.map((g) => g.id!).sort());
    expect(new Set((backend!.inputs.backends as Array<{ balancingMode: string }>).map((x) => x.balancingMode))).toEqual(
      new Set(['CONNECTION']),
    );

    const [fr, ...moreFr] = b.of(T.forwardingRule).filter((f) => f.inputs.loadBalancingScheme === 'EXTERNAL');
    expect(moreFr).toEqual([]);
    const lbAddress = b.all.find((r) => r.type === T.address && r.name === 'edge-nlb-ip')!;
    expect(fr!.inputs).toMatchObject({
      loadBalancingScheme: 'EXTERNAL',
      ipProtocol: 'UDP',
      portRange: '51820',
      region: 'europe-west1',
      backendService: backend!.id,
      ipAddress: lbAddress.state!.address,
      networkTier: 'PREMIUM',
    });
    expect(await resolve(b.group.loadBalancerIp)).toBe(lbAddress.state!.address);
    expect(await resolve(b.group.endpoint)).toBe(`${lbAddress.state!.address}:51820`);
  });

  it('shares ONE key (one secret, one service account, one document) across the group', async () => {
    const b = await build('edge', groupArgs());
    const instances = b.of(T.instance);
    expect(instances).toHaveLength(3);
    expect(b.of(T.key)).toHaveLength(1);
    expect(b.of(WIREGUARD_KEY_PAIR_TYPE)).toHaveLength(1);
    expect(b.of(T.keySecret)).toHaveLength(1);
    expect(b.of(T.account)).toHaveLength(1);
    expect(b.of(T.secret)).toHaveLength(2); // key + config
    expect(new Set(instances.map((i) => i.inputs.serviceAccount.email)).size).toBe(1);
    expect(new Set(instances.map((i) => i.inputs.metadata['user-data'])).size).toBe(1);
    const keyName = await resolve(b.group.gateway.keySecret.secretName);
    expect(instances[0]!.inputs.metadata['user-data']).toContain(`name: ${keyName}`);
    expect(await resolve(b.group.publicKey)).toBe(
      unwrapSecrets<Record<string, string>>(b.of(WIREGUARD_KEY_PAIR_TYPE)[0]!.state).publicKey,
    );

    const privateKey = unwrapSecrets<Record<string, string>>(b.of(WIREGUARD_KEY_PAIR_TYPE)[0]!.state).privateKey!;
    const keyVersion = b.of(T.version).find((v) => unwrapSecrets(v.inputs.secretData) === privateKey)!;
    expect(isSecretInput(keyVersion.inputs.secretData)).toBe(true);
    for (const r of mocks.resources.filter((x) => x.type !== WIREGUARD_KEY_PAIR_TYPE)) {
      expect({ r: r.name, paths: plainOccurrences(r.inputs, privateKey) }).toEqual({ r: r.name, paths: [] });
    }
  });

  it('opens the health port to the probe ranges of both load balancers (the internal LB is the default)', async () => {
    const both = await build('edge2', groupArgs({ healthPort: 9600 }));
    const health2 = both.all.find((r) => r.type === T.firewall && r.name === 'edge2-health')!;
    expect(health2.inputs.allows).toEqual([{ protocol: 'tcp', ports: ['9600'] }]);
    expect(health2.inputs.sourceRanges).toEqual([
      '130.211.0.0/22',
      '209.85.152.0/22',
      '209.85.204.0/22',
      '35.191.0.0/16',
    ]);
    expect(both.of(T.firewall).map((r) => r.name)).toEqual(['edge2-health', 'edge2-wg']);
    const wg = both.all.find((r) => r.type === T.firewall && r.name === 'edge2-wg')!;
    expect(wg.inputs).toMatchObject({
      allows: [{ protocol: 'udp', ports: ['51820'] }],
      sourceRanges: ['198.51.100.0/24'],
    });
    // The same instance groups back both load balancers; routes go to the internal one.
    const backends = both.of(T.backend);
    expect(backends.map((x) => x.inputs.loadBalancingScheme).sort()).toEqual(['EXTERNAL', 'INTERNAL']);
    const groupIds = both
      .of(T.group)
      .map((g) => g.id)
      .sort();
    for (const backend of backends)
      expect((backend.inputs.backends as Array<{ group: string }>).map((x) => x.group).sort()).toEqual(groupIds);
    const ilb = both.of(T.forwardingRule).find((f) => f.inputs.loadBalancingScheme === 'INTERNAL')!;
    expect(both.of(T.route).map((r) => r.inputs.nextHopIlb)).toEqual([ilb.id]);
    expect(both.of(T.healthCheck).map((h) => h.inputs.httpHealthCheck)).toEqual([
      { port: 9600, requestPath: '/ready' },
      { port: 9600, requestPath: '/ready' },
    ]);
  });

  it('the shared document has no peer endpoints: no instance of the group initiates', async () => {
    const args = groupArgs();
    const config = args.agent.config as unknown as { peers: Array<Record<string, unknown>> };
    const b = await build('edge', {
      ...args,
      agent: {
        ...args.agent,
        config: { ...config, peers: config.peers.map((p) => ({ ...p, endpoint: '192.0.2.9:51820' })) } as never,
      },
    });
    const documents = b
      .of(T.version)
      .map((v) => unwrapSecrets(v.inputs.secretData) as string)
      .filter((d) => d.startsWith('{'));
    expect(documents).toHaveLength(1);
    const document = JSON.parse(documents[0]!) as { peers: Array<Record<string, unknown>> };
    expect(document.peers).toHaveLength(1);
    expect(document.peers[0]!.endpoint).toBeUndefined();
  });

  it('active/standby by default: one primary instance for both load balancers, the others failover backends (one active holder of the key)', async () => {
    const b = await build('edge', groupArgs({ zones: ['europe-west1-c', 'europe-west1-b'] }));
    const groups = b.of(T.group);
    const primary = groups.find((g) => g.inputs.zone === 'europe-west1-c')!.id;
    const standby = groups.find((g) => g.inputs.zone === 'europe-west1-b')!.id;
    const backends = b.of(T.backend);
    expect(backends.map((x) => x.inputs.loadBalancingScheme).sort()).toEqual(['EXTERNAL', 'INTERNAL']);
    for (const backend of backends) {
      expect(backend.inputs.failoverPolicy).toEqual({
        failoverRatio: 1,
        disableConnectionDrainOnFailover: true,
        dropTrafficIfUnhealthy: false,
      });
      expect(backend.inputs.backends).toEqual([
        { group: primary, balancingMode: 'CONNECTION', failover: false },
        { group: standby, balancingMode: 'CONNECTION', failover: true },
      ]);
    }
  });

  it('uses a given address for the forwarding rule instead of creating one', async () => {
    const b = await build(
      'edge',
      groupArgs({ loadBalancerAddress: '34.1.2.3', sessionAffinity: 'NONE', listenPort: 443 }),
    );
    expect(b.all.find((r) => r.name === 'edge-nlb-ip')).toBeUndefined();
    expect(b.of(T.forwardingRule).find((f) => f.inputs.loadBalancingScheme === 'EXTERNAL')!.inputs).toMatchObject({
      ipAddress: '34.1.2.3',
      portRange: '443',
    });
    expect(b.of(T.backend).find((x) => x.inputs.loadBalancingScheme === 'EXTERNAL')!.inputs.sessionAffinity).toBe(
      'NONE',
    );
    expect(await resolve(b.group.endpoint)).toBe('34.1.2.3:443');
  });

  it('passes a provider given in the options to every GCP resource of the group', async () => {
    const provider = new gcp.Provider('edge-project', { project: 'edge' });
    const b = await build('edge', groupArgs({ internalLoadBalancer: true }), { providers: { gcp: provider } });
    const ref = `${await resolve(provider.urn)}::edge-project-id`;
    const children = b.all.filter((r) => r.custom && r.type.startsWith('gcp:'));
    expect(children.length).toBeGreaterThan(20);
    for (const r of children) expect(`${r.name} ${r.provider}`).toBe(`${r.name} ${ref}`);
  });

  it.each<[string, Partial<GcpGatewayGroupArgs>, string]>([
    [
      'a single instance',
      { instanceCount: 1 },
      'GcpGatewayGroup "edge": instanceCount must be at least 2 for a load-balanced group, got 1 (use GcpGateway for one instance)',
    ],
    [
      'an unknown session affinity',
      { sessionAffinity: 'COOKIE' as never },
      'GcpGatewayGroup "edge": sessionAffinity must be NONE, CLIENT_IP, CLIENT_IP_PROTO or CLIENT_IP_PORT_PROTO, got "COOKIE"',
    ],
    [
      'externalLoadBalancer',
      { externalLoadBalancer: false } as never,
      'GcpGatewayGroup "edge": externalLoadBalancer is set by the group itself',
    ],
    [
      'gateway arguments (reported under the group)',
      { peerCidrs: ['0.0.0.0/0'] },
      'GcpGatewayGroup "edge": peerCidrs: 0.0.0.0/0 is not allowed; set allowFromAnywhere: true to open the WireGuard port to everyone',
    ],
    [
      'active-active (no state sync)',
      { activeStandby: false },
      'GcpGatewayGroup "edge": activeStandby: false is refused: the instances share one key and no session state',
    ],
    [
      'routes at every instance',
      { internalLoadBalancer: false },
      'GcpGatewayGroup "edge": internalLoadBalancer: false is refused',
    ],
    ['more instances than zones', { instanceCount: 4 }, 'activeStandby takes at most one instance per zone'],
    [
      'zones across regions',
      { zones: ['europe-west1-b', 'europe-west4-a'] },
      'GcpGatewayGroup "edge": zones must all be in one region (the subnetwork\'s), got europe-west1, europe-west4',
    ],
  ])('refuses %s', async (_what, overrides, message) => {
    expect(() => new GcpGatewayGroup('edge', groupArgs(overrides))).toThrow(message);
    await mocks.settle();
    expect(mocks.resources).toEqual([]); // nothing registered, not even the component
  });
});
