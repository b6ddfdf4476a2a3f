/**
 * components/gcp/gateway.ts under mocks: firewall rules (WireGuard UDP from the peers only, the
 * health port from Google's probe ranges only, no SSH), the private key secret wherever it goes,
 * a service account that reads exactly its two secrets, the instance hardening (canIpForward,
 * shielded VM, cloud-platform scope, OS Login), equal-priority routes per instance or one route per
 * CIDR to an internal passthrough LB, user data without key material (snapshot), argument errors
 * and provider propagation.
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { completeAgentConfig } from '../../components/agent-config';
import { GcpGateway } from '../../components/gcp/gateway';
import { CLOUD_PLATFORM_SCOPE, type GcpGatewayArgs } from '../../components/gcp/gateway-args';
import { SECRET_ACCESSOR_ROLE, SECRET_VIEWER_ROLE } from '../../components/gcp/key-secret';
import { MOCK_GCP_PROJECT, descendantsOf, gcpMockNewResource, plainOccurrences } from '../../components/gcp/testing';
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
  secret: 'gcp:secretmanager/secret:Secret',
  version: 'gcp:secretmanager/secretVersion:SecretVersion',
  secretIam: 'gcp:secretmanager/secretIamMember:SecretIamMember',
  account: 'gcp:serviceaccount/account:Account',
  group: 'gcp:compute/instanceGroup:InstanceGroup',
  membership: 'gcp:compute/instanceGroupMembership:InstanceGroupMembership',
  gate: HEALTH_GATE_TYPE,
  backend: 'gcp:compute/regionBackendService:RegionBackendService',
  forwardingRule: 'gcp:compute/forwardingRule:ForwardingRule',
  healthCheck: 'gcp:compute/regionHealthCheck:RegionHealthCheck',
  gateway: 'wiremesh:gcp:GcpGateway',
};
/** RFC 7748 6.1 Bob's public key: a fixed, valid peer key (snapshots stay stable). */
const PEER_PUBLIC_KEY = '3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=';
const KEY_LIKE = /[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=/;

function baseArgs(overrides: Partial<GcpGatewayArgs> = {}): GcpGatewayArgs {
  return {
    zones: ['europe-west1-b', 'europe-west1-c'],
    instanceCount: 2,
    network: 'projects/net/global/networks/vpc',
    subnetwork: 'projects/net/regions/europe-west1/subnetworks/gw',
    peerCidrs: ['198.51.100.7/32', '203.0.113.0/24'],
    remoteCidrs: ['10.10.0.0/16', '10.30.0.0/16'],
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

interface Built {
  gw: GcpGateway;
  all: RecordedResource[];
  of(type: string): RecordedResource[];
  named(type: string, name: string): RecordedResource;
  privateKey: string;
}

async function build(name: string, args: GcpGatewayArgs, opts: pulumi.ComponentResourceOptions = {}): Promise<Built> {
  const gw = new GcpGateway(name, args, opts);
  await resolve(gw.userData);
  await resolve(gw.agentConfig);
  await Promise.all([
    ...gw.routes.map((r) => resolve(r.id)),
    ...gw.instances.map((i) => resolve(i.id)),
    ...gw.firewalls.map((f) => resolve(f.id)),
  ]);
  await mocks.settle();
  const root = mocks.resources.find((r) => r.type === T.gateway && r.name === name)!;
  const all = descendantsOf(mocks.resources, root.urn!);
  const pair = all.find((r) => r.type === WIREGUARD_KEY_PAIR_TYPE);
  const privateKey = pair ? (unwrapSecrets<Record<string, string>>(pair.state).privateKey as string) : '';
  const named = (type: string, n: string): RecordedResource => {
    const found = all.filter((r) => r.type === type && r.name === n);
    if (found.length !== 1) throw new Error(`expected one ${type} named ${n}, found ${found.length}`);
    return found[0]!;
  };
  // Registration order follows input resolution: sort by name for stable lookups.
  const of = (type: string): RecordedResource[] =>
    all.filter((r) => r.type === type).sort((x, y) => x.name.localeCompare(y.name, 'en', { numeric: true }));
  return { gw, all, of, named, privateKey };
}

describe('GcpGateway firewall', () => {
  it('opens only the WireGuard UDP port, only to the peers, targeted at the gateway service account', async () => {
    const b = await build('gw', baseArgs());
    const email = await resolve(b.gw.serviceAccountEmail);
    const rules = b.of(T.firewall);
    expect(rules).toHaveLength(1);
    expect(rules[0]!.inputs).toMatchObject({
      direction: 'INGRESS',
      allows: [{ protocol: 'udp', ports: ['51820'] }],
      sourceRanges: ['198.51.100.7/32', '203.0.113.0/24'],
      targetServiceAccounts: [email],
      network: 'projects/net/global/networks/vpc',
    });
    expect(rules[0]!.inputs.targetTags).toBeUndefined();
    expect(rules[0]!.inputs.denies).toBeUndefined();
    // No SSH (or any TCP) rule anywhere in the stack, and nothing open to the world.
    for (const rule of mocks.byType(T.firewall)) {
      expect(JSON.stringify(rule.inputs.allows)).not.toMatch(/"22"|tcp/);
      expect(rule.inputs.sourceRanges).not.toContain('0.0.0.0/0');
    }
  });

  it('adds the agent health port from Google health-check ranges only when an internal LB probes it', async () => {
    const b = await build('gw', baseArgs({ internalLoadBalancer: true, listenPort: 51821, healthPort: 8080 }));
    const email = await resolve(b.gw.serviceAccountEmail);
    const rules = b.of(T.firewall).map((r) => r.inputs);
    expect(rules).toHaveLength(2);
    expect(b.named(T.firewall, 'gw-wg').inputs).toMatchObject({
      allows: [{ protocol: 'udp', ports: ['51821'] }],
      sourceRanges: ['198.51.100.7/32', '203.0.113.0/24'],
    });
    expect(b.named(T.firewall, 'gw-health').inputs).toMatchObject({
      direction: 'INGRESS',
      allows: [{ protocol: 'tcp', ports: ['8080'] }],
      sourceRanges: ['130.211.0.0/22', '35.191.0.0/16'],
      targetServiceAccounts: [email],
    });
    const opened = rules.flatMap((r) =>
      (r.allows as Array<{ protocol: string; ports?: string[] }>).map(
        (a) => `${a.protocol}/${(a.ports ?? ['all']).join(',')}`,
      ),
    );
    expect(opened.sort()).toEqual(['tcp/8080', 'udp/51821']);
  });

  it('opens the WireGuard port to 0.0.0.0/0 only with allowFromAnywhere', async () => {
    const b = await build('gw', baseArgs({ peerCidrs: undefined, allowFromAnywhere: true }));
    expect(b.of(T.firewall).map((r) => r.inputs.sourceRanges)).toEqual([['0.0.0.0/0']]);
  });

  it('adds a forwarding rule from the given local ranges only when asked', async () => {
    const b = await build('gw', baseArgs({ forwardFromCidrs: ['10.20.0.0/16'] }));
    expect(b.of(T.firewall)).toHaveLength(2);
    expect(b.named(T.firewall, 'gw-fwd').inputs).toMatchObject({
      allows: [{ protocol: 'all' }],
      sourceRanges: ['10.20.0.0/16'],
    });
  });
});

describe('GcpGateway secrets and identity', () => {
  it('keeps the private key secret in every input it reaches', async () => {
    const b = await build('gw', baseArgs());
    expect(b.privateKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    const versions = b.of(T.version);
    expect(versions).toHaveLength(2); // key, config
    const keyVersion = versions.find((v) => unwrapSecrets(v.inputs.secretData) === b.privateKey)!;
    expect(keyVersion).toBeDefined();
    expect(isSecretInput(keyVersion.inputs.secretData)).toBe(true);
    for (const r of mocks.resources) {
      if (r.type === WIREGUARD_KEY_PAIR_TYPE) continue; // the generator itself (outputs secret via additionalSecretOutputs)
      expect({ r: `${r.type}::${r.name}`, paths: plainOccurrences(r.inputs, b.privateKey) }).toEqual({
        r: `${r.type}::${r.name}`,
        paths: [],
      });
    }
    const pair = mocks.one(WIREGUARD_KEY_PAIR_TYPE);
    expect(isSecretInput(pair.state!.privateKey)).toBe(true);
    expect(await pulumi.isSecret(b.gw.userData)).toBe(false);
    expect(await resolve(b.gw.userData)).not.toContain(b.privateKey);
    expect(await resolve(b.gw.agentConfig)).not.toContain(b.privateKey);
  });

  it('stores a key given by the caller (no key generated)', async () => {
    const b = await build(
      'gw',
      baseArgs({
        key: { privateKey: pulumi.secret('c2VjcmV0'), publicKey: PEER_PUBLIC_KEY, createdAt: '2025-06-01T00:00:00Z' },
      }),
    );
    expect(b.all.filter((r) => r.type === WIREGUARD_KEY_PAIR_TYPE)).toEqual([]);
    const keyVersion = b.of(T.version).find((v) => unwrapSecrets(v.inputs.secretData) === 'c2VjcmV0')!;
    expect(isSecretInput(keyVersion.inputs.secretData)).toBe(true);
    expect(await resolve(b.gw.publicKey)).toBe(PEER_PUBLIC_KEY);
    const keySecret = b.of(T.secret).find((x) => x.inputs.labels['wiremesh-role'] === 'wireguard-private-key')!;
    expect(keySecret.inputs.labels['wiremesh-key-created-at']).toBe('2025-06-01t00-00-00z');
  });

  it("gives each gateway's service account read access to exactly its two secrets, secret-level, and its key's version metadata", async () => {
    const a = await build('gw-a', baseArgs());
    const b = await build('gw-b', baseArgs({ zones: ['us-east1-b'] }));
    for (const g of [a, b]) {
      const email = await resolve(g.gw.serviceAccountEmail);
      const own = [await resolve(g.gw.keySecret.secretId), await resolve(g.gw.configSecret.secretId)].sort();
      const grants = mocks.byType(T.secretIam).filter((m) => m.inputs.member === `serviceAccount:${email}`);
      const reads = grants.filter((m) => m.inputs.role === SECRET_ACCESSOR_ROLE);
      expect(reads.map((m) => m.inputs.secretId).sort()).toEqual(own);
      // The agent reads the key version's createTime (the key's age): metadata, on the key secret only.
      expect(
        grants.filter((m) => m.inputs.role !== SECRET_ACCESSOR_ROLE).map((m) => [m.inputs.role, m.inputs.secretId]),
      ).toEqual([[SECRET_VIEWER_ROLE, await resolve(g.gw.keySecret.secretId)]]);
      expect(grants.every((m) => m.inputs.project === MOCK_GCP_PROJECT)).toBe(true);
      // Each instance runs as it, with the cloud-platform scope only.
      for (const inst of g.of(T.instance))
        expect(inst.inputs.serviceAccount).toEqual({ email, scopes: [CLOUD_PLATFORM_SCOPE] });
    }
    expect(mocks.byType(T.secretIam)).toHaveLength(6);
    expect(mocks.byType(T.account).map((x) => x.inputs.accountId)).toEqual([
      expect.stringMatching(/^wm-gw-a-[0-9a-f]{6}$/),
      expect.stringMatching(/^wm-gw-b-[0-9a-f]{6}$/),
    ]);
    // No project/folder/org-level IAM at all.
    expect(mocks.resources.filter((r) => /^gcp:(projects|folder|organizations)\//.test(r.type))).toEqual([]);
  });

  it('stores the agent document in a second secret, pointing at both secrets by name', async () => {
    const b = await build(
      'gw',
      baseArgs({ agent: { ...baseArgs().agent, configPollSeconds: 30, metricsListen: '127.0.0.1:9586' } }),
    );
    const doc = JSON.parse(await resolve(b.gw.agentConfig));
    const keyName = await resolve(b.gw.keySecret.secretName);
    const configName = await resolve(b.gw.configSecretName);
    expect(keyName).toBe(`projects/${MOCK_GCP_PROJECT}/secrets/gw-key-secret-mock`);
    expect(configName).toBe(`projects/${MOCK_GCP_PROJECT}/secrets/gw-config-mock`);
    expect(doc).toMatchObject({
      interface: { name: 'wm0', addresses: ['10.99.0.2/24'], listenPort: 51820 },
      privateKey: { source: 'gcp-secret-manager', name: `${keyName}/versions/1` },
      configSource: { source: 'gcp-secret-manager', name: configName, pollSeconds: 30 },
      health: { listen: '0.0.0.0:9587' },
      metrics: { listen: '127.0.0.1:9586' },
    });
    const configVersion = b
      .of(T.version)
      .find((v) => unwrapSecrets(v.inputs.secret) === `projects/${MOCK_GCP_PROJECT}/secrets/gw-config-mock`)!;
    expect(unwrapSecrets(configVersion.inputs.secretData)).toBe(await resolve(b.gw.agentConfig));
    const labels = b
      .of(T.secret)
      .map((s) => s.inputs.labels['wiremesh-role'])
      .sort();
    expect(labels).toEqual(['agent-config', 'wireguard-private-key']);
  });
});

describe('GcpGateway instances', () => {
  it('forwards IP, is a shielded VM with OS Login, static external IPs, spread over the zones', async () => {
    const b = await build('gw', baseArgs({ instanceCount: 3 }));
    const instances = b.of(T.instance);
    expect(instances.map((i) => i.inputs.zone)).toEqual(['europe-west1-b', 'europe-west1-c', 'europe-west1-b']);
    const addresses = b.of(T.address);
    expect(addresses).toHaveLength(3);
    instances.forEach((inst, i) => {
      expect(inst.inputs.canIpForward).toBe(true);
      expect(inst.inputs.shieldedInstanceConfig).toEqual({
        enableSecureBoot: true,
        enableVtpm: true,
        enableIntegrityMonitoring: true,
      });
      expect(inst.inputs.metadata['enable-oslogin']).toBe('TRUE');
      expect(inst.inputs.metadata['block-project-ssh-keys']).toBe('TRUE');
      expect(Object.keys(inst.inputs.metadata).sort()).toEqual([
        'block-project-ssh-keys',
        'enable-oslogin',
        'user-data',
      ]);
      expect(inst.inputs.networkInterfaces[0].accessConfigs).toEqual([
        { natIp: addresses[i]!.state!.address, networkTier: 'PREMIUM' },
      ]);
      expect(inst.inputs.networkInterfaces[0].subnetwork).toBe('projects/net/regions/europe-west1/subnetworks/gw');
      expect(inst.inputs.bootDisk.initializeParams.image).toBe('ubuntu-os-cloud/ubuntu-2404-lts-amd64');
      expect(inst.inputs.tags).toEqual(['wiremesh-gateway']);
    });
    expect(await resolve(b.gw.endpoints)).toEqual(addresses.map((a) => `${a.state!.address}:51820`));
    expect(new Set(addresses.map((a) => a.state!.address)).size).toBe(3);
    // The agent can read its secrets when it boots: the grants and versions come first.
    const grantUrns = b.of(T.secretIam).map((g) => g.urn);
    for (const inst of instances) for (const urn of grantUrns) expect(inst.dependencies).toContain(urn);
  });

  it('replaces each VM when its bootstrap changes (cloud-init runs user-data once per instance)', async () => {
    const first = await build('gw', baseArgs());
    const firstUserData = first.of(T.instance).map((i) => i.inputs.metadata['user-data'] as string);
    for (const inst of first.of(T.instance)) {
      // The path the engine compares: metadata["user-data"], the key holding the cloud-init.
      expect(inst.replaceOnChanges).toEqual(['metadata["user-data"]']);
      expect(inst.inputs.metadata['user-data']).toEqual(expect.stringContaining('#cloud-config'));
      // Its static external address can be on one VM only: the old VM goes first.
      expect(inst.deleteBeforeReplace).toBe(true);
    }
    // One VM at a time: VM i is registered (created, or replaced) only after VM i-1. No load balancer
    // checks the agent here, so there is no health gate: VM i-1 running is what VM i waits for.
    expect(first.of(T.gate)).toEqual([]);
    const instances = first.of(T.instance);
    instances.forEach((inst, i) => {
      const others = instances.filter((_, j) => j !== i);
      expect(others.filter((o) => inst.dependencies.includes(o.urn!)).map((o) => o.name)).toEqual(
        i === 0 ? [] : [instances[i - 1]!.name],
      );
    });
    mocks.reset();
    const upgraded = await build('gw', baseArgs({ agent: { ...baseArgs().agent, package: 'wiremesh@0.2.0' } }));
    const upgradedUserData = upgraded.of(T.instance).map((i) => i.inputs.metadata['user-data'] as string);
    // A new agent version is a user-data change: the replacement trigger fires on every VM.
    upgradedUserData.forEach((u, i) => expect(u).not.toBe(firstUserData[i]));
    mocks.reset();
    const withoutAddresses = await build('gw', baseArgs({ externalAddresses: false }));
    for (const inst of withoutAddresses.of(T.instance)) {
      expect(inst.replaceOnChanges).toEqual(['metadata["user-data"]']);
      // Nothing unique to hand over: the new VM is created before the old one is deleted.
      expect(inst.deleteBeforeReplace).toBe(false);
    }
  });

  it('omits external addresses when asked', async () => {
    const b = await build('gw', baseArgs({ externalAddresses: false }));
    expect(b.of(T.address)).toEqual([]);
    expect(b.of(T.instance).map((i) => i.inputs.networkInterfaces[0].accessConfigs)).toEqual([undefined, undefined]);
  });

  it('puts references only in the user data (snapshot)', async () => {
    const b = await build('gw', baseArgs());
    const userData = await resolve(b.gw.userData);
    expect(userData).not.toContain(b.privateKey);
    expect(userData).not.toMatch(KEY_LIKE);
    expect(userData).toContain(`name: projects/${MOCK_GCP_PROJECT}/secrets/gw-key-secret-mock`);
    expect(userData).toContain(`name: projects/${MOCK_GCP_PROJECT}/secrets/gw-config-mock`);
    expect(b.of(T.instance).map((i) => i.inputs.metadata['user-data'])).toEqual([userData, userData]);
    expect(userData).toMatchSnapshot();
  });

  it('stores the agent document (snapshot; public keys only)', async () => {
    const b = await build('gw', baseArgs());
    const doc = await resolve(b.gw.agentConfig);
    expect(doc).not.toContain(b.privateKey);
    expect(doc).toMatchSnapshot();
  });
});

describe('GcpGateway routes', () => {
  it('creates one equal-priority route per remote CIDR per instance (ECMP)', async () => {
    const b = await build('gw', baseArgs({ routeTags: ['uses-site-a'] }));
    const routes = b.of(T.route);
    const instanceIds = b.of(T.instance).map((i) => i.id);
    expect(routes).toHaveLength(4);
    expect(new Set(routes.map((r) => r.inputs.priority))).toEqual(new Set([900]));
    const pairs = routes.map((r) => `${r.inputs.destRange} -> ${r.inputs.nextHopInstance}`).sort();
    expect(pairs).toEqual(
      ['10.10.0.0/16', '10.30.0.0/16'].flatMap((cidr) => instanceIds.map((id) => `${cidr} -> ${id}`)).sort(),
    );
    for (const r of routes) {
      expect(r.inputs.network).toBe('projects/net/global/networks/vpc');
      expect(r.inputs.tags).toEqual(['uses-site-a']);
      expect(r.inputs.nextHopIlb).toBeUndefined();
    }
    expect(routes.map((r) => r.name)).toContain('gw-r1-10-30-0-0-16');
    expect(b.of(T.forwardingRule)).toEqual([]);
  });

  it('with internalLoadBalancer: one route per CIDR to an internal passthrough LB over every instance', async () => {
    const b = await build('gw', baseArgs({ internalLoadBalancer: true, instanceCount: 3, routePriority: 500 }));
    const instances = b.of(T.instance);
    const groups = b.of(T.group);
    expect(groups.map((g) => g.inputs.zone)).toEqual(['europe-west1-b', 'europe-west1-c']);
    // Members join through memberships (the groups do not wait for the VMs), each in its VM's zone.
    expect(groups.map((g) => g.inputs.instances)).toEqual([undefined, undefined]);
    const memberships = b.of(T.membership);
    expect(memberships.map((m) => m.inputs.instance)).toEqual(instances.map((i) => i.state!.selfLink));
    memberships.forEach((m, i) => {
      expect(m.inputs.zone).toBe(instances[i]!.inputs.zone);
      expect(m.inputs.instanceGroup).toBe(groups.find((g) => g.inputs.zone === m.inputs.zone)!.state!.name);
    });
    const hc = b.of(T.healthCheck);
    expect(hc).toHaveLength(1);
    expect(hc[0]!.inputs.httpHealthCheck).toEqual({ port: 9587, requestPath: '/ready' });
    const backend = b.of(T.backend);
    expect(backend).toHaveLength(1);
    expect(backend[0]!.inputs).toMatchObject({
      loadBalancingScheme: 'INTERNAL',
      protocol: 'UNSPECIFIED',
      region: 'europe-west1',
      healthChecks: hc[0]!.id,
      backends: groups.map((g) => ({ group: g.id, balancingMode: 'CONNECTION' })),
    });
    const fr = b.of(T.forwardingRule);
    expect(fr).toHaveLength(1);
    expect(fr[0]!.inputs).toMatchObject({
      loadBalancingScheme: 'INTERNAL',
      ipProtocol: 'L3_DEFAULT',
      allPorts: true,
      backendService: backend[0]!.id,
    });
    const routes = b.of(T.route);
    expect(routes.map((r) => [r.inputs.destRange, r.inputs.nextHopIlb, r.inputs.priority])).toEqual([
      ['10.10.0.0/16', fr[0]!.id, 500],
      ['10.30.0.0/16', fr[0]!.id, 500],
    ]);
    expect(routes.every((r) => r.inputs.nextHopInstance === undefined)).toBe(true);
  });
});

describe('GcpGateway active/standby', () => {
  it('makes the first zone primary and the others failover backends of the internal LB', async () => {
    const b = await build('gw', baseArgs({ internalLoadBalancer: true, activeStandby: true }));
    const groups = b.of(T.group);
    const [backend] = b.of(T.backend);
    expect(backend!.inputs.failoverPolicy).toEqual({
      failoverRatio: 1,
      disableConnectionDrainOnFailover: true,
      dropTrafficIfUnhealthy: false,
    });
    const byZone = Object.fromEntries(groups.map((g) => [g.inputs.zone, g.id]));
    expect(backend!.inputs.backends).toEqual([
      { group: byZone['europe-west1-b'], balancingMode: 'CONNECTION', failover: false },
      { group: byZone['europe-west1-c'], balancingMode: 'CONNECTION', failover: true },
    ]);
    expect(b.gw.activeStandby).toBe(true);
  });

  it.each<[string, Partial<GcpGatewayArgs>, string]>([
    [
      'without a load balancer',
      { activeStandby: true },
      'GcpGateway "gw": activeStandby needs a load balancer (internalLoadBalancer: true, or a GcpGatewayGroup): routes to instances have no health checks',
    ],
    [
      'with two instances in one zone',
      { activeStandby: true, internalLoadBalancer: true, instanceCount: 3 },
      'GcpGateway "gw": activeStandby takes at most one instance per zone (the first zone\'s is the primary), got 3 instances in 2 zones',
    ],
  ])('refuses active/standby %s', async (_what, overrides, message) => {
    expect(() => new GcpGateway('gw', baseArgs(overrides))).toThrow(message);
    await mocks.settle();
    expect(mocks.resources).toEqual([]);
  });
});

describe('GcpGateway providers', () => {
  it('passes a provider given in the options to every GCP child', async () => {
    const provider = new gcp.Provider('net-project', { project: 'net' });
    const b = await build('gw', baseArgs({ internalLoadBalancer: true }), { providers: { gcp: provider } });
    const providerRef = `${await resolve(provider.urn)}::net-project-id`;
    const gcpChildren = b.all.filter((r) => r.custom && r.type.startsWith('gcp:'));
    expect(gcpChildren.length).toBeGreaterThan(15);
    for (const r of gcpChildren)
      expect(`${r.type}::${r.name} ${r.provider}`).toBe(`${r.type}::${r.name} ${providerRef}`);
  });

  it('accepts a provider as `provider` too', async () => {
    const provider = new gcp.Provider('p2', { project: 'p2' });
    const b = await build('gw', baseArgs(), { provider });
    const providerRef = `${await resolve(provider.urn)}::p2-id`;
    for (const r of b.all.filter((x) => x.custom && x.type.startsWith('gcp:'))) expect(r.provider).toBe(providerRef);
  });
});

describe('GcpGateway argument validation', () => {
  const agent = baseArgs().agent;
  it.each<[string, Partial<GcpGatewayArgs>, string]>([
    [
      'no peer ranges',
      { peerCidrs: [] },
      'GcpGateway "gw": peerCidrs must list where peers connect from (or set allowFromAnywhere: true to open the WireGuard port to 0.0.0.0/0)',
    ],
    [
      '0.0.0.0/0 as a peer range',
      { peerCidrs: ['0.0.0.0/0'] },
      'GcpGateway "gw": peerCidrs: 0.0.0.0/0 is not allowed; set allowFromAnywhere: true to open the WireGuard port to everyone',
    ],
    [
      'both peer ranges and anywhere',
      { allowFromAnywhere: true },
      'GcpGateway "gw": pass either peerCidrs or allowFromAnywhere: true, not both (allowFromAnywhere opens the port to 0.0.0.0/0)',
    ],
    [
      'a CIDR with host bits',
      { peerCidrs: ['10.0.0.1/8'] },
      'GcpGateway "gw": peerCidrs: "10.0.0.1/8" is not an IPv4 CIDR with its host bits zero (e.g. 10.20.0.0/16)',
    ],
    [
      'a duplicate remote CIDR',
      { remoteCidrs: ['10.10.0.0/16', '10.10.0.0/16'] },
      'GcpGateway "gw": remoteCidrs: "10.10.0.0/16" is listed twice',
    ],
    [
      'a default route',
      { remoteCidrs: ['0.0.0.0/0'] },
      'GcpGateway "gw": remoteCidrs: 0.0.0.0/0 is not allowed; a default route through the gateway is not supported',
    ],
    ['no remote CIDRs', { remoteCidrs: [] }, 'GcpGateway "gw": remoteCidrs must not be empty'],
    ['no zones', { zones: [] }, 'GcpGateway "gw": zones must list at least one zone (e.g. ["europe-west1-b"])'],
    [
      'a region as zone',
      { zones: ['europe-west1'] },
      'GcpGateway "gw": zones: "europe-west1" is not a zone name (e.g. europe-west1-b)',
    ],
    [
      'zones in two regions',
      { zones: ['europe-west1-b', 'us-east1-b'] },
      'GcpGateway "gw": zones must all be in one region (the subnetwork\'s), got europe-west1, us-east1',
    ],
    ['zero instances', { instanceCount: 0 }, 'GcpGateway "gw": instanceCount must be an integer from 1 to 16, got 0'],
    [
      'a port out of range',
      { listenPort: 70000 },
      'GcpGateway "gw": listenPort must be an integer from 1 to 65535, got 70000',
    ],
    [
      'a fractional health port',
      { healthPort: 80.5 },
      'GcpGateway "gw": healthPort must be an integer from 1 to 65535, got 80.5',
    ],
    [
      'a negative route priority',
      { routePriority: -1 },
      'GcpGateway "gw": routePriority must be an integer from 0 to 65535, got -1',
    ],
    ['no network', { network: '' }, 'GcpGateway "gw": network is required (bring your own VPC)'],
    [
      'no subnetwork',
      { subnetwork: undefined as never },
      'GcpGateway "gw": subnetwork is required (bring your own VPC)',
    ],
    [
      'a bad route tag',
      { routeTags: ['Web_Servers'] },
      'GcpGateway "gw": routeTags: "Web_Servers" is not a valid network tag (1 to 63 lowercase letters, digits and hyphens, starting with a letter)',
    ],
    [
      'a small boot disk',
      { bootDiskSizeGb: 5 },
      'GcpGateway "gw": bootDiskSizeGb must be an integer from 10 to 65536, got 5',
    ],
    [
      'an unpinned agent package',
      { agent: { ...agent, package: '' } },
      'GcpGateway "gw": agent.artifact is required (the path of the agent tarball made with `npm pack`), or agent.package (a pinned package you publish)',
    ],
    [
      'a long interface name',
      { agent: { ...agent, interfaceName: 'wiremesh-interface0' } },
      'GcpGateway "gw": agent.interfaceName must be 1 to 15 of letters, digits, "_=+.-", got "wiremesh-interface0"',
    ],
    [
      'a plain private key',
      { key: { privateKey: 'aGVsbG8=', publicKey: PEER_PUBLIC_KEY, createdAt: '2025-01-01T00:00:00Z' } },
      'GcpGateway "gw": key.privateKey must be a secret Output (WireGuardKey.privateKey or pulumi.secret(...)), not a plain string: a plain value is stored unencrypted in the stack state',
    ],
    [
      'a zero key age',
      { maxKeyAgeDays: 0 },
      'GcpGateway "gw": maxKeyAgeDays must be a whole number of days from 1 to 3650, got 0',
    ],
    [
      'a bad service account id',
      { serviceAccountId: 'gw' },
      'GcpGateway "gw": serviceAccountId must be 6 to 30 lowercase letters, digits and hyphens, starting with a letter, got "gw"',
    ],
    [
      'a config that sets its own key',
      { agent: { ...agent, config: { ...agent.config, privateKey: { source: 'file', path: '/k' } } as never } },
      'GcpGateway "gw": agent.config.privateKey must be left out: the gateway points the agent at its key secret',
    ],
    [
      'a config with another listen port',
      { agent: { ...agent, config: { interface: { addresses: ['10.99.0.2/24'], listenPort: 51821 }, peers: [] } } },
      'GcpGateway "gw": agent.config.interface.listenPort 51821 differs from listenPort 51820 (the firewall and load balancer port)',
    ],
    [
      'a config with another health port',
      {
        agent: {
          ...agent,
          config: { interface: { addresses: ['10.99.0.2/24'] }, peers: [], health: { listen: '0.0.0.0:9000' } },
        },
      },
      'GcpGateway "gw": agent.config.health.listen "0.0.0.0:9000" must be 0.0.0.0:9587 or [::]:9587: the load balancers\' health checks reach healthPort from outside',
    ],
  ])('refuses %s', async (_what, overrides, message) => {
    expect(() => new GcpGateway('gw', baseArgs(overrides))).toThrow(message);
    await mocks.settle();
    expect(mocks.resources).toEqual([]); // nothing registered, not even the component
  });

  it('refuses names that cannot prefix GCP resource names', async () => {
    const message =
      'the name must be 1 to 30 characters of lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen (it prefixes the names of GCP resources)';
    expect(() => new GcpGateway('Gateway', baseArgs())).toThrow(`GcpGateway "Gateway": ${message}`);
    expect(() => new GcpGateway('a-very-long-gateway-name-for-site-b', baseArgs())).toThrow(
      `GcpGateway "a-very-long-gateway-name-for-site-b": ${message}`,
    );
    await mocks.settle();
    expect(mocks.resources).toEqual([]);
  });

  it('checks a late agent config with the same rules (components/agent-config.ts)', () => {
    expect(() =>
      completeAgentConfig(
        'GcpGateway "gw"',
        { interface: { addresses: [], name: 'wg1' }, peers: [] },
        {
          interfaceName: 'wm0',
          listenPort: 51820,
          healthPort: 9587,
          privateKey: { source: 'gcp-secret-manager', name: 'projects/p/secrets/k' },
          configSource: { source: 'gcp-secret-manager', name: 'projects/p/secrets/c', pollSeconds: 60 },
          dataPlane: undefined,
          metricsListen: undefined,
        },
      ),
    ).toThrow('GcpGateway "gw": agent.config.interface.name "wg1" differs from agent.interfaceName "wm0"');
  });
});
