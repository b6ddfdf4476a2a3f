/**
 * The example programs (examples/aws-gcp, examples/hub-spoke-ha, examples/existing-vpc) run under
 * Pulumi mocks with stack configuration, and the recorded resource graph is checked:
 * - only the WireGuard UDP port and the agent health port are open (plus the forwarding rule from
 *   the site's own ranges the example asks for), each to exactly the intended ranges;
 * - every private key is a secret in every input it reaches (and reaches its secret store);
 * - each gateway's instance role / service account can read exactly its key and config secrets;
 * - one route per remote CIDR per route table (AWS) or instance (GCP), at that gateway;
 * - load balancers target every gateway of their group;
 * - user data holds references only (snapshots) and no key material;
 * - each gateway's stored agent configuration is the planner's output for it.
 * The root program (pulumi/program.ts) runs the same way with structured stack configuration.
 */
import type * as pulumi from '@pulumi/pulumi';
import type { AgentConfig } from '../../agent/gateway/config-types';
import type { IamPolicyDocument } from '../../components/aws/policy';
import { loadMeshSpecForDeployment, planAgentConfig } from '../../components/mesh';
import {
  isSecretInput,
  resolve,
  unwrapSecrets,
  type MockRecorder,
  type RecordedResource,
} from '../../components/testing';
import { planMesh, type MeshPlan } from '../../mesh/planner';
import { fromRecordedResources, mandatory, runPolicies } from '../../policies/run';
import type { MeshSpec } from '../../mesh/spec';
import { BRANCH, DC, exampleStacks, existingVpcStack, stackConfig } from './example-stacks';
import {
  awsStoredConfig,
  componentTree,
  gcpStoredConfig,
  generatedPrivateKeys,
  meshMocks,
  plainOccurrences,
  remoteStoredConfig,
  T,
  currentKeyPair,
  namedKeyPair,
  withRecordedRotation,
} from './mesh-support';

const KEY_LIKE = /[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=/;
const HEALTH = 9587;
const WG = 51820;

function ingress(sg: RecordedResource): Array<[string, number, number, string[], string[]]> {
  return (sg.inputs.ingress as Array<Record<string, any>>).map((r) => [
    r.protocol,
    r.fromPort,
    r.toPort,
    r.cidrBlocks ?? [],
    r.ipv6CidrBlocks ?? [],
  ]);
}

function firewalls(all: RecordedResource[]): Array<[unknown, string[], string[]]> {
  return all
    .filter((r) => r.type === T.firewall)
    .map((f): [unknown, string[], string[]] => [
      unwrapSecrets(f.inputs.allows),
      f.inputs.sourceRanges as string[],
      f.inputs.targetServiceAccounts as string[],
    ])
    .sort((a, b) => JSON.stringify(a[0]).localeCompare(JSON.stringify(b[0])));
}

/** Every private key: nowhere outside a secret, and (secret) in its store. */
function expectKeysSecret(mocks: MockRecorder, keys: string[]): void {
  expect(keys.length).toBeGreaterThan(0);
  for (const key of keys) {
    for (const r of mocks.resources) {
      expect({ resource: `${r.type}::${r.name}`, plain: plainOccurrences(r.inputs, key) }).toEqual({
        resource: `${r.type}::${r.name}`,
        plain: [],
      });
    }
    const holders = mocks.resources.filter((r) => JSON.stringify(unwrapSecrets(r.inputs)).includes(key));
    expect(holders.length).toBeGreaterThan(0);
  }
}

/**
 * What an AWS gateway's role may do: exactly GetSecretValue on its two secrets, s3:GetObject on
 * exactly its agent artifact object, plus SSM core.
 */
function expectAwsRoleReadsExactly(
  mocks: MockRecorder,
  gatewayName: string,
  tree: { of(type: string): RecordedResource[] },
): void {
  const keySecret = mocks.one(T.awsSecret, `${gatewayName.replace(/-gateway$/, '')}-key-secret`);
  const configSecret = mocks.one(T.awsSecret, `${gatewayName}-config`);
  // A failover group's role also has its -failover policy (ReplaceRoute), checked in aws-gateway-group.test.ts.
  const policies = tree.of(T.rolePolicy).filter((p) => !p.name.endsWith('-failover'));
  expect(policies.map((p) => p.name).sort()).toEqual([`${gatewayName}-read-agent`, `${gatewayName}-read-secrets`]);
  const role = mocks.one(T.role, `${gatewayName}-role`);
  const statements = (policy: string) => {
    const found = policies.find((p) => p.name === `${gatewayName}-${policy}`)!;
    expect(found.inputs.role).toBe(role.id);
    const document = JSON.parse(found.inputs.policy as string) as IamPolicyDocument;
    return document.Statement.map((s) => [s.Effect, s.Action, s.Resource]);
  };
  expect(statements('read-secrets')).toEqual([
    ['Allow', 'secretsmanager:GetSecretValue', keySecret.state!.arn],
    ['Allow', 'secretsmanager:GetSecretValue', configSecret.state!.arn],
  ]);
  const bucket = tree.of(T.s3Bucket)[0]!;
  const object = tree.of(T.s3Object)[0]!;
  expect(statements('read-agent')).toEqual([['Allow', 's3:GetObject', `${bucket.state!.arn}/${object.inputs.key}`]]);
  expect(tree.of(T.rolePolicyAttachment).map((a) => a.inputs.policyArn)).toEqual([
    'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore',
  ]);
}

/** What a GCP gateway's service account may read: exactly its key and config secrets. */
function expectGcpAccountReadsExactly(
  tree: { all: RecordedResource[]; of(type: string): RecordedResource[] },
  gatewayName: string,
): void {
  const account = tree.of(T.gcpAccount);
  expect(account).toHaveLength(1);
  const email = account[0]!.state!.email as string;
  const grants = tree
    .of(T.gcpSecretIam)
    .map((g) => [g.inputs.role, unwrapSecrets(g.inputs.member), g.inputs.secretId])
    .sort();
  const keySecret = tree.all.find((r) => r.type === T.gcpSecret && r.name === `${gatewayName}-key-secret`)!;
  const configSecret = tree.all.find((r) => r.type === T.gcpSecret && r.name === `${gatewayName}-config`)!;
  expect(grants).toEqual(
    [
      ['roles/secretmanager.secretAccessor', `serviceAccount:${email}`, keySecret.state!.secretId],
      ['roles/secretmanager.secretAccessor', `serviceAccount:${email}`, configSecret.state!.secretId],
      // The key's version metadata (its createTime: the key's age), never a payload.
      ['roles/secretmanager.viewer', `serviceAccount:${email}`, keySecret.state!.secretId],
    ].sort(),
  );
  // Its agent artifact: objectViewer conditioned on exactly that object. No project-level or other IAM.
  const object = tree.of(T.gcsObject)[0]!;
  expect(
    tree.of(T.gcsIam).map((g) => [g.inputs.role, unwrapSecrets(g.inputs.member), g.inputs.condition?.expression]),
  ).toEqual([
    [
      'roles/storage.objectViewer',
      `serviceAccount:${email}`,
      `resource.name == "projects/_/buckets/${object.inputs.bucket}/objects/${object.inputs.name}"`,
    ],
  ]);
  expect(tree.all.filter((r) => /iam/i.test(r.type) && r.type !== T.gcpSecretIam && r.type !== T.gcsIam)).toEqual([]);
}

function userDataOf(mocks: MockRecorder): Record<string, string> {
  const out: Record<string, string> = {};
  for (const i of mocks.byType(T.instance)) out[i.name] = unwrapSecrets<string>(i.inputs.userData);
  for (const i of mocks.byType(T.gcpInstance)) out[i.name] = unwrapSecrets<string>(i.inputs.metadata['user-data']);
  return out;
}

function expectNoKeyMaterial(texts: Record<string, string>, keys: string[]): void {
  for (const [name, text] of Object.entries(texts)) {
    expect({ name, keyLike: KEY_LIKE.test(text) }).toEqual({ name, keyLike: false });
    for (const key of keys) expect(text.includes(key)).toBe(false);
  }
}

/** The planner's output for the mesh as deployed: the recorded public keys and endpoints. */
function plannedFromRecording(
  mocks: MockRecorder,
  spec: MeshSpec,
  meshName: string,
  endpoints: Record<string, string>,
): MeshPlan {
  const publicKeys: Record<string, string> = {};
  for (const site of spec.sites.filter((s) => s.provider !== 'external')) {
    publicKeys[site.name] = namedKeyPair(mocks, `${meshName}-${site.name}-key`).state!.publicKey as string;
  }
  const deployed = {
    ...spec,
    sites: spec.sites.map((s) => (endpoints[s.name] !== undefined ? { ...s, endpoint: endpoints[s.name] } : s)),
  };
  return planMesh(deployed, { publicKeys });
}

/** The stored document of gateway `id`; a group's (`sharedKey`) has no peer endpoints (components/shared-key.ts). */
function expectedDocument(
  plan: MeshPlan,
  id: string,
  stored: AgentConfig,
  sharedKey = false,
  rotation?: { mocks: MockRecorder; mesh: string },
): AgentConfig {
  const fromPlanner = planAgentConfig(
    plan.gateways.find((g) => g.id === id)!,
    { interfaceName: 'wm0' },
  );
  const planned = rotation ? withRecordedRotation(fromPlanner, rotation.mocks, rotation.mesh, stored) : fromPlanner;
  return {
    ...planned,
    ...(sharedKey ? { peers: planned.peers.map(({ endpoint: _endpoint, ...peer }) => peer) } : {}),
    privateKey: stored.privateKey,
    configSource: stored.configSource!,
    health: { listen: `0.0.0.0:${HEALTH}` },
    ...(stored.failover && { failover: stored.failover }),
    statusFile: '/run/wiremesh/wm0.status.json',
  } as AgentConfig;
}

async function settleOutputs(
  mocks: MockRecorder,
  outputs: Record<string, pulumi.Input<unknown>>,
): Promise<Record<string, unknown>> {
  const values: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(outputs)) values[k] = await resolve(v);
  await mocks.settle();
  return values;
}

// -------------------------------------------------------------------------------------------------

describe('examples/aws-gcp', () => {
  let mocks: MockRecorder;
  let outputs: Record<string, unknown>;
  let spec: MeshSpec;

  beforeAll(async () => {
    mocks = exampleStacks['aws-gcp']();
    const program = require('../../examples/aws-gcp/index') as Record<string, pulumi.Output<unknown>>;
    outputs = await settleOutputs(mocks, program);
    spec = loadMeshSpecForDeployment(`${__dirname}/../../examples/aws-gcp/mesh.yaml`).spec;
  });

  test('passes every mandatory policy of the wiremesh pack (policies/)', () => {
    expect(mandatory(runPolicies(fromRecordedResources(mocks.resources)))).toEqual([]);
  });

  test('deploys one AwsGateway and one GcpGateway, each reached at its own static address', () => {
    expect(mocks.byType(T.awsGateway).map((r) => r.name)).toEqual(['aws-gcp-aws-eu']);
    expect(mocks.byType(T.gcpGateway).map((r) => r.name)).toEqual(['aws-gcp-gcp-eu']);
    expect(
      mocks
        .byType(T.key)
        .map((r) => r.name)
        .sort(),
    ).toEqual(['aws-gcp-aws-eu-key', 'aws-gcp-gcp-eu-key']);
    expect(outputs.awsEndpoint).toBe('198.51.100.1:51820');
    expect(outputs.gcpEndpoint).toBe('203.0.113.1:51820');
  });

  test('the AWS security group opens WireGuard to the GCP gateway only, health to the VPC, forwarding from the site', () => {
    const sg = mocks.one(T.sg);
    expect(ingress(sg)).toEqual([
      ['udp', WG, WG, ['203.0.113.1/32'], []],
      ['tcp', HEALTH, HEALTH, ['10.10.0.0/16'], []],
      ['-1', 0, 0, ['10.10.0.0/16'], []],
    ]);
    expect(mocks.byType(T.sgRule)).toEqual([]);
    expect(mocks.byType(T.sgIngress)).toEqual([]);
  });

  test('the GCP firewall opens WireGuard to the AWS gateway only (no health rule without a load balancer)', () => {
    const tree = componentTree(mocks, T.gcpGateway, 'aws-gcp-gcp-eu');
    const email = tree.of(T.gcpAccount)[0]!.state!.email as string;
    expect(firewalls(tree.all)).toEqual([
      [[{ protocol: 'udp', ports: [String(WG)] }], ['198.51.100.1/32'], [email]],
      [[{ protocol: 'all' }], ['10.20.0.0/16'], [email]],
    ]);
    expect(mocks.byType(T.firewall)).toHaveLength(2);
  });

  test('private keys are secret in every input they reach', () => {
    expectKeysSecret(mocks, generatedPrivateKeys(mocks));
    for (const v of [
      ...mocks.byType(T.awsSecretVersion).filter((r) => r.name.endsWith('-key-version')),
      ...mocks.byType(T.gcpSecretVersion).filter((r) => r.name.includes('-key-')),
    ]) {
      expect(isSecretInput(v.inputs.secretString ?? v.inputs.secretData)).toBe(true);
    }
  });

  test('each gateway reads exactly its own secrets', () => {
    expectAwsRoleReadsExactly(mocks, 'aws-gcp-aws-eu', componentTree(mocks, T.awsGateway, 'aws-gcp-aws-eu'));
    expectGcpAccountReadsExactly(componentTree(mocks, T.gcpGateway, 'aws-gcp-gcp-eu'), 'aws-gcp-gcp-eu');
  });

  test('one route per remote CIDR per route table / instance, at that gateway', () => {
    const eni = mocks.one(T.eni);
    expect(
      mocks
        .byType(T.route)
        .map((r) => [r.inputs.routeTableId, r.inputs.destinationCidrBlock, r.inputs.networkInterfaceId]),
    ).toEqual([
      ['rtb-0private', '10.20.0.0/16', eni.id],
      ['rtb-0public', '10.20.0.0/16', eni.id],
    ]);
    const instance = mocks.one(T.gcpInstance);
    expect(mocks.byType(T.gcpRoute).map((r) => [r.inputs.destRange, r.inputs.nextHopInstance])).toEqual([
      ['10.10.0.0/16', instance.id],
    ]);
  });

  test('each gateway stores the planner output for it', () => {
    const plan = plannedFromRecording(mocks, spec, 'aws-gcp', {
      'aws-eu': '198.51.100.1:51820',
      'gcp-eu': '203.0.113.1:51820',
    });
    const aws = awsStoredConfig(mocks, 'aws-gcp-aws-eu');
    expect(aws).toEqual(expectedDocument(plan, 'aws-eu', aws, false, { mocks, mesh: 'aws-gcp' }));
    const gcp = gcpStoredConfig(mocks, 'aws-gcp-gcp-eu');
    expect(gcp).toEqual(expectedDocument(plan, 'gcp-eu', gcp, false, { mocks, mesh: 'aws-gcp' }));
    expect(gcp.configSource).toEqual({
      source: 'gcp-secret-manager',
      name: `projects/mock-project/secrets/${mocks.one(T.gcpSecret, 'aws-gcp-gcp-eu-config').state!.secretId}`,
      pollSeconds: 60,
    });
  });

  test('user data holds references only', () => {
    const userData = userDataOf(mocks);
    expect(Object.keys(userData).sort()).toEqual(['aws-gcp-aws-eu-instance-0', 'aws-gcp-gcp-eu-0']);
    expectNoKeyMaterial(userData, generatedPrivateKeys(mocks));
    expect(userData).toMatchSnapshot();
  });
});

// -------------------------------------------------------------------------------------------------

describe('examples/hub-spoke-ha', () => {
  let mocks: MockRecorder;
  let outputs: Record<string, unknown>;

  beforeAll(async () => {
    mocks = exampleStacks['hub-spoke-ha']();
    const program = require('../../examples/hub-spoke-ha/index') as Record<string, pulumi.Output<unknown>>;
    outputs = await settleOutputs(mocks, program);
  });

  test('passes every mandatory policy of the wiremesh pack (policies/)', () => {
    expect(mandatory(runPolicies(fromRecordedResources(mocks.resources)))).toEqual([]);
  });

  test('the hub is a load-balanced pair behind an NLB; the spokes dial its DNS name', () => {
    const group = componentTree(mocks, T.awsGroup, 'hs-hub');
    const instances = group.of(T.instance);
    expect(instances).toHaveLength(2);
    expect(outputs.hubEndpoint).toBe('hs-hub-nlb-0123456789abcdef.elb.eu-west-1.amazonaws.com:51820');
    // The planner plans wiremesh gateways only: the on-prem branch is an external site.
    expect(outputs.gateways).toEqual(['gcp-spoke', 'hub-1', 'hub-2']);
    // One key for the group.
    expect(group.of(T.key)).toHaveLength(0);
    expect(
      mocks
        .byType(T.key)
        .map((k) => k.name)
        .sort(),
    ).toEqual(['hs-gcp-spoke-key', 'hs-hub-key']);
    expect(group.of(T.awsSecret).filter((s) => s.name.endsWith('-key-secret'))).toHaveLength(1);
  });

  test('the load balancer sends the WireGuard port to the active gateway of the group (GET /active), from its own Elastic IPs', () => {
    const group = componentTree(mocks, T.awsGroup, 'hs-hub');
    const tg = group.of(T.targetGroup)[0]!;
    expect([
      tg.inputs.protocol,
      tg.inputs.port,
      tg.inputs.healthCheck.protocol,
      tg.inputs.healthCheck.port,
      tg.inputs.healthCheck.path,
    ]).toEqual(['UDP', WG, 'HTTP', String(HEALTH), '/active']);
    const attachments = group.of(T.targetAttachment);
    expect(attachments.map((a) => a.inputs.targetId)).toEqual(group.of(T.instance).map((i) => i.id));
    for (const a of attachments) expect([a.inputs.targetGroupArn, a.inputs.port]).toEqual([tg.state!.arn, WG]);
    const listener = group.of(T.listener)[0]!;
    expect([listener.inputs.protocol, listener.inputs.port, listener.inputs.defaultActions[0].targetGroupArn]).toEqual([
      'UDP',
      WG,
      tg.state!.arn,
    ]);
    const eips = group.of(T.eip).filter((e) => e.name.includes('-nlb-eip-'));
    expect(group.of(T.lb)[0]!.inputs.subnetMappings).toEqual(
      ['subnet-0a', 'subnet-0b'].map((subnetId, i) => ({ subnetId, allocationId: eips[i]!.state!.allocationId })),
    );
  });

  test('the hub accepts WireGuard from the GCP spoke and the branch office only', () => {
    expect(ingress(mocks.one(T.sg))).toEqual([
      // Peers in name order: branch (its declared NAT address), gcp-spoke (its static address).
      ['udp', WG, WG, ['203.0.113.10/32', '203.0.113.1/32'], []],
      ['tcp', HEALTH, HEALTH, ['10.0.0.0/16'], []],
      ['-1', 0, 0, ['10.0.0.0/16'], []],
    ]);
  });

  test("the GCP spoke accepts WireGuard from the hub NLB's addresses only (hubSourceCidrs)", () => {
    const tree = componentTree(mocks, T.gcpGateway, 'hs-gcp-spoke');
    const email = tree.of(T.gcpAccount)[0]!.state!.email as string;
    expect(firewalls(tree.all)).toEqual([
      [[{ protocol: 'udp', ports: [String(WG)] }], ['198.51.100.1/32', '198.51.100.2/32'], [email]],
      [[{ protocol: 'all' }], ['10.30.0.0/16'], [email]],
    ]);
  });

  test("one route per remote CIDR per route table, every AZ's at the active gateway; GCP routes at its instance", () => {
    const enis = mocks.byType(T.eni);
    expect(
      mocks
        .byType(T.route)
        .map((r) => [r.inputs.routeTableId, r.inputs.destinationCidrBlock, r.inputs.networkInterfaceId]),
    ).toEqual([
      ['rtb-0a', '10.30.0.0/16', enis[0]!.id],
      ['rtb-0a', '192.168.50.0/24', enis[0]!.id],
      ['rtb-0b1', '10.30.0.0/16', enis[0]!.id],
      ['rtb-0b1', '192.168.50.0/24', enis[0]!.id],
      ['rtb-0b2', '10.30.0.0/16', enis[0]!.id],
      ['rtb-0b2', '192.168.50.0/24', enis[0]!.id],
    ]);
    const instance = mocks.one(T.gcpInstance);
    expect(mocks.byType(T.gcpRoute).map((r) => [r.inputs.destRange, r.inputs.nextHopInstance])).toEqual([
      ['10.0.0.0/16', instance.id],
      ['192.168.50.0/24', instance.id],
    ]);
  });

  test("private keys (generated and the branch host's) are secret in every input they reach", () => {
    expectKeysSecret(mocks, [...generatedPrivateKeys(mocks), BRANCH.privateKey]);
    const configure = mocks.one(T.command, 'hs-branch-configure');
    expect(isSecretInput(configure.inputs.stdin)).toBe(true);
    expect(isSecretInput(configure.inputs.connection)).toBe(true);
    expect(unwrapSecrets<string>(configure.inputs.stdin)).toBe(`${BRANCH.privateKey}\n`);
  });

  test('each gateway reads exactly its own secrets', () => {
    expectAwsRoleReadsExactly(mocks, 'hs-hub-gateway', componentTree(mocks, T.awsGateway, 'hs-hub-gateway'));
    expectGcpAccountReadsExactly(componentTree(mocks, T.gcpGateway, 'hs-gcp-spoke'), 'hs-gcp-spoke');
  });

  test("the stored configurations are the planner's: the hub group gets hub-1's, the branch host its own", () => {
    const spec = loadMeshSpecForDeployment(`${__dirname}/../../examples/hub-spoke-ha/mesh.yaml`).spec;
    const endpoints = { hub: outputs.hubEndpoint as string, 'gcp-spoke': '203.0.113.1:51820' };
    const plan = plannedFromRecording(mocks, spec, 'hs', endpoints);
    const hub = awsStoredConfig(mocks, 'hs-hub-gateway');
    expect(hub).toEqual(expectedDocument(plan, 'hub-1', hub, true, { mocks, mesh: 'hs' }));
    const gcp = gcpStoredConfig(mocks, 'hs-gcp-spoke');
    expect(gcp).toEqual(expectedDocument(plan, 'gcp-spoke', gcp, false, { mocks, mesh: 'hs' }));
    // The hub's shared-key document has no endpoints: the branch and the GCP spoke dial the NLB.
    expect(hub.peers.map((p) => [p.name, p.endpoint])).toEqual([
      ['branch', undefined],
      ['gcp-spoke', undefined],
    ]);
    expect(gcp.peers.map((p) => p.endpoint)).toEqual([expect.stringMatching(/\.elb\..*:51820$/)]);
    const branch = remoteStoredConfig(mocks, 'hs-branch');
    expect(branch.peers).toEqual([
      {
        name: 'hub',
        publicKey: namedKeyPair(mocks, 'hs-hub-key').state!.publicKey,
        endpoint: outputs.hubEndpoint,
        allowedIps: ['10.0.0.0/16', '10.30.0.0/16'],
        persistentKeepalive: 25,
      },
    ]);
    // No tunnel address on deployed gateways: 192.168.50.1 would be the branch LAN's router.
    expect(branch.interface.addresses).toEqual([]);
    expect(branch.privateKey).toEqual({ source: 'file', path: '/etc/wiremesh/private.key' });
  });

  test('user data holds references only', () => {
    const userData = userDataOf(mocks);
    expect(Object.keys(userData).sort()).toEqual([
      'hs-gcp-spoke-0',
      'hs-hub-gateway-instance-0',
      'hs-hub-gateway-instance-1',
    ]);
    expectNoKeyMaterial(userData, [...generatedPrivateKeys(mocks), BRANCH.privateKey]);
    // The instances of a gateway boot alike (one key, one configuration): one snapshot per gateway.
    expect(userData['hs-hub-gateway-instance-1']).toBe(userData['hs-hub-gateway-instance-0']);
    delete userData['hs-hub-gateway-instance-1'];
    expect(userData).toMatchSnapshot();
  });
});

// -------------------------------------------------------------------------------------------------

/** Runs examples/existing-vpc under the stack `mocks` installs; its outputs. */
async function runExistingVpc(mocks: MockRecorder): Promise<Record<string, unknown>> {
  const program = require('../../examples/existing-vpc/index') as () => Promise<Record<string, pulumi.Output<unknown>>>;
  return settleOutputs(mocks, await program());
}

/** The stored document of examples/existing-vpc's gateway (`edge`, or the group's `edge-gateway`). */
function existingVpcDocument(
  mocks: MockRecorder,
  gatewayName: string,
  keyName: string,
  endpoint: boolean,
): AgentConfig {
  const stored = awsStoredConfig(mocks, gatewayName);
  return {
    interface: { name: 'wm0', addresses: ['10.255.0.1/32'], mtu: 1420, listenPort: WG },
    peers: [
      {
        name: 'dc',
        publicKey: DC.publicKey,
        ...(endpoint ? { endpoint: '192.0.2.50:51820' } : {}),
        allowedIps: ['172.16.0.0/16', '172.20.0.0/16'],
      },
    ],
    routes: ['172.16.0.0/16', '172.20.0.0/16'],
    forwarding: true,
    privateKey: {
      source: 'aws-secrets-manager',
      secretId: mocks.one(T.awsSecret, `${keyName}-secret`).state!.arn,
      region: 'eu-west-1',
      versionId: mocks.one(
        T.awsSecretVersion,
        `${keyName}-version-g${currentKeyPair(mocks, keyName).name.split('-g').pop()}`,
      ).state!.versionId,
    },
    ...(stored.nextPrivateKey !== undefined ? { nextPrivateKey: stored.nextPrivateKey } : {}),
    configSource: {
      source: 'aws-secrets-manager',
      secretId: mocks.one(T.awsSecret, `${gatewayName}-config`).state!.arn,
      region: 'eu-west-1',
    },
    health: { listen: `0.0.0.0:${HEALTH}` },
    statusFile: '/run/wiremesh/wm0.status.json',
    ...(stored.failover && { failover: stored.failover }),
  } as AgentConfig;
}

describe('examples/existing-vpc with one gateway subnet (subnetIds): an AwsGateway', () => {
  let mocks: MockRecorder;
  let outputs: Record<string, unknown>;

  beforeAll(async () => {
    mocks = existingVpcStack(['subnet-0a']);
    outputs = await runExistingVpc(mocks);
  });

  test('passes every mandatory policy of the wiremesh pack (policies/)', () => {
    expect(mandatory(runPolicies(fromRecordedResources(mocks.resources)))).toEqual([]);
  });

  test("looks up the VPC by Name tag and the given subnet's route table; one gateway, one instance", () => {
    const calls = mocks.invokes.map((i) => [i.token, unwrapSecrets(i.inputs)]);
    expect(calls[0]).toEqual(['aws:ec2/getVpc:getVpc', { tags: { Name: 'production' } }]);
    expect(calls.filter(([token]) => token === 'aws:ec2/getSubnets:getSubnets')).toEqual([]);
    expect(outputs.vpcId).toBe('vpc-0existing');
    expect(mocks.one(T.awsGateway).name).toBe('edge');
    expect(mocks.byType(T.awsGroup)).toEqual([]);
    expect(mocks.byType(T.mesh)).toEqual([]);
    expect(mocks.byType(T.instance)).toHaveLength(1);
  });

  test('opens WireGuard to the remote site only, health and forwarding to the VPC', () => {
    expect(ingress(mocks.one(T.sg))).toEqual([
      ['udp', WG, WG, ['192.0.2.50/32'], []],
      ['tcp', HEALTH, HEALTH, ['10.50.0.0/16', '10.51.0.0/16'], []],
      ['-1', 0, 0, ['10.50.0.0/16', '10.51.0.0/16'], []],
    ]);
  });

  test("one route per remote CIDR in the subnet's route table, at the gateway", () => {
    const enis = mocks.byType(T.eni);
    expect(enis.map((e) => e.inputs.subnetId)).toEqual(['subnet-0a']);
    expect(
      mocks
        .byType(T.route)
        .map((r) => [r.inputs.routeTableId, r.inputs.destinationCidrBlock, r.inputs.networkInterfaceId]),
    ).toEqual([
      ['rtb-0a', '172.16.0.0/16', enis[0]!.id],
      ['rtb-0a', '172.20.0.0/16', enis[0]!.id],
    ]);
  });

  test("the hand-built configuration is stored as written, completed with the gateway's references; the remote dials the Elastic IP", () => {
    expect(awsStoredConfig(mocks, 'edge')).toEqual(existingVpcDocument(mocks, 'edge', 'edge-key', true));
    expect(outputs.endpoints).toEqual(['198.51.100.1:51820']);
    expect(outputs.remotePeerConfig).toBe(
      `[Peer]\n# wiremesh gateway "edge" in vpc-0existing\nPublicKey = ${mocks.one(T.keyPair).state!.publicKey}\nEndpoint = 198.51.100.1:51820\nAllowedIPs = 10.255.0.1/32, 10.50.0.0/16, 10.51.0.0/16\n`,
    );
  });

  test('the private key is secret everywhere; the role reads exactly its secrets; user data holds references only', () => {
    expectKeysSecret(mocks, generatedPrivateKeys(mocks));
    expectAwsRoleReadsExactly(mocks, 'edge', componentTree(mocks, T.awsGateway, 'edge'));
    const userData = userDataOf(mocks);
    expect(Object.keys(userData)).toEqual(['edge-instance-0']);
    expectNoKeyMaterial(userData, generatedPrivateKeys(mocks));
    expect(userData['edge-instance-0']).toMatchSnapshot();
  });
});

describe('examples/existing-vpc with two tagged subnets: an AwsGatewayGroup', () => {
  let mocks: MockRecorder;
  let outputs: Record<string, unknown>;

  beforeAll(async () => {
    mocks = exampleStacks['existing-vpc']();
    outputs = await runExistingVpc(mocks);
  });

  test('passes every mandatory policy of the wiremesh pack (policies/)', () => {
    expect(mandatory(runPolicies(fromRecordedResources(mocks.resources)))).toEqual([]);
  });

  test('looks up the VPC by Name tag, its tagged subnets and their route tables; one group, one key', () => {
    const calls = mocks.invokes.map((i) => [i.token, unwrapSecrets(i.inputs)]);
    expect(calls[0]).toEqual(['aws:ec2/getVpc:getVpc', { tags: { Name: 'production' } }]);
    expect(calls[1]).toEqual([
      'aws:ec2/getSubnets:getSubnets',
      {
        filters: [
          { name: 'vpc-id', values: ['vpc-0existing'] },
          { name: 'tag:wiremesh-gateway', values: ['true'] },
        ],
      },
    ]);
    expect(outputs.vpcId).toBe('vpc-0existing');
    const group = componentTree(mocks, T.awsGroup, 'edge');
    expect(mocks.byType(T.awsGateway).map((g) => g.name)).toEqual(['edge-gateway']);
    expect(group.of(T.instance).map((i) => i.inputs.primaryNetworkInterface.networkInterfaceId)).toEqual(
      mocks.byType(T.eni).map((e) => e.id),
    );
    expect(mocks.byType(T.eni).map((e) => e.inputs.subnetId)).toEqual(['subnet-0a', 'subnet-0b']);
    expect(mocks.byType(T.key).map((k) => k.name)).toEqual(['edge-key']);
    expect(mocks.byType(T.awsSecret).filter((s) => s.name.endsWith('-key-secret'))).toHaveLength(1);
  });

  test('opens WireGuard to the remote site only (the NLB keeps its address), health and forwarding to the VPC', () => {
    expect(ingress(mocks.one(T.sg))).toEqual([
      ['udp', WG, WG, ['192.0.2.50/32'], []],
      ['tcp', HEALTH, HEALTH, ['10.50.0.0/16', '10.51.0.0/16'], []],
      ['-1', 0, 0, ['10.50.0.0/16', '10.51.0.0/16'], []],
    ]);
  });

  test('every route table (the main table for the unassociated subnet) at the active gateway, moved by failover', () => {
    const enis = mocks.byType(T.eni);
    const routes = mocks.byType(T.route);
    expect(
      routes.map((r) => [r.inputs.routeTableId, r.inputs.destinationCidrBlock, r.inputs.networkInterfaceId]),
    ).toEqual([
      ['rtb-0a', '172.16.0.0/16', enis[0]!.id],
      ['rtb-0a', '172.20.0.0/16', enis[0]!.id],
      ['rtb-0main', '172.16.0.0/16', enis[0]!.id],
      ['rtb-0main', '172.20.0.0/16', enis[0]!.id],
    ]);
    for (const route of routes) expect(route.ignoreChanges).toEqual(['networkInterfaceId']);
    expect(awsStoredConfig(mocks, 'edge-gateway').failover).toMatchObject({
      provider: 'aws-ec2',
      members: enis.map((eni) => ({ networkInterfaceId: eni.id, address: eni.state!.privateIp })),
      routeTableIds: ['rtb-0a', 'rtb-0main'],
      destinations: ['172.16.0.0/16', '172.20.0.0/16'],
    });
  });

  test('the NLB checks GET /active on both gateways and answers from its static addresses', () => {
    const group = componentTree(mocks, T.awsGroup, 'edge');
    const tg = group.of(T.targetGroup)[0]!;
    expect([tg.inputs.protocol, tg.inputs.port, tg.inputs.healthCheck.protocol, tg.inputs.healthCheck.path]).toEqual([
      'UDP',
      WG,
      'HTTP',
      '/active',
    ]);
    expect(group.of(T.targetAttachment).map((a) => a.inputs.targetId)).toEqual(group.of(T.instance).map((i) => i.id));
    const eips = group.of(T.eip).filter((e) => e.name.includes('-nlb-eip-'));
    expect(outputs.loadBalancerAddresses).toEqual(eips.map((e) => e.state!.publicIp));
    expect(eips).toHaveLength(2);
  });

  test('the stored document has no endpoint (the group never initiates); the remote dials the NLB with a keepalive', () => {
    expect(awsStoredConfig(mocks, 'edge-gateway')).toEqual(
      existingVpcDocument(mocks, 'edge-gateway', 'edge-key', false),
    );
    const endpoint = 'edge-nlb-0123456789abcdef.elb.eu-west-1.amazonaws.com:51820';
    expect(outputs.endpoints).toEqual([endpoint]);
    expect(outputs.remotePeerConfig).toBe(
      `[Peer]\n# wiremesh gateway "edge" in vpc-0existing\nPublicKey = ${mocks.one(T.keyPair).state!.publicKey}\nEndpoint = ${endpoint}\nAllowedIPs = 10.255.0.1/32, 10.50.0.0/16, 10.51.0.0/16\nPersistentKeepalive = 25\n`,
    );
  });

  test('the private key is secret everywhere; the role reads exactly its secrets; user data holds references only', () => {
    expectKeysSecret(mocks, generatedPrivateKeys(mocks));
    expectAwsRoleReadsExactly(mocks, 'edge-gateway', componentTree(mocks, T.awsGateway, 'edge-gateway'));
    const userData = userDataOf(mocks);
    expect(Object.keys(userData)).toEqual(['edge-gateway-instance-0', 'edge-gateway-instance-1']);
    expectNoKeyMaterial(userData, generatedPrivateKeys(mocks));
    expect(userData['edge-gateway-instance-1']).toBe(userData['edge-gateway-instance-0']);
    expect(userData['edge-gateway-instance-0']).toMatchSnapshot();
  });
});

// -------------------------------------------------------------------------------------------------

describe('the root program (pulumi/program.ts, Pulumi.yaml main dist/pulumi/program.js)', () => {
  const project = 'wiremesh';
  let mocks: MockRecorder;
  let outputs: Record<string, unknown>;
  let program: typeof import('../../pulumi/program');

  beforeAll(async () => {
    mocks = meshMocks({
      project,
      config: stackConfig(project, {
        // wiremesh:spec left out: the default, examples/aws-gcp/mesh.yaml.
        agentPackage: 'wiremesh@0.1.0',
        aws: {
          region: 'eu-central-1',
          sites: {
            'aws-eu': { vpcId: 'vpc-0root', subnets: [{ subnetId: 'subnet-0root', routeTableIds: ['rtb-0root'] }] },
          },
        },
        gcp: {
          project: 'root-project',
          sites: { 'gcp-eu': { network: 'n', subnetwork: 's', zones: ['europe-west1-b'] } },
        },
        sourceCidrs: { 'aws-eu': ['198.51.100.1/32'] },
      }),
    });
    program = require('../../pulumi/program') as typeof import('../../pulumi/program');
    outputs = await settleOutputs(mocks, {
      sites: program.sites,
      externalConfigs: program.externalConfigs,
      gateways: program.gateways,
    });
  });

  test('deploys the default spec with the placement of the stack configuration, through explicit providers', async () => {
    expect(outputs.gateways).toEqual(['aws-eu', 'gcp-eu']);
    expect(Object.keys(outputs.sites as object)).toEqual(['aws-eu', 'gcp-eu']);
    expect(outputs.externalConfigs).toEqual({});
    expect(mocks.one(T.mesh).name).toBe('wm');
    const awsProvider = mocks.one('pulumi:providers:aws', 'aws-eu-central-1');
    expect(awsProvider.inputs.region).toBe('eu-central-1');
    const gcpProvider = mocks.one('pulumi:providers:gcp', 'gcp');
    expect(gcpProvider.inputs.project).toBe('root-project');
    for (const r of mocks.resources.filter((x) => x.custom && x.type.startsWith('aws:')))
      expect(r.provider).toMatch(/::pulumi:providers:aws::aws-eu-central-1::/);
    for (const r of mocks.resources.filter((x) => x.custom && x.type.startsWith('gcp:')))
      expect(r.provider).toMatch(/::pulumi:providers:gcp::gcp::/);
    expect(ingress(mocks.one(T.sg))[0]).toEqual(['udp', WG, WG, ['203.0.113.1/32'], []]);
    expect(firewalls(mocks.byType(T.firewall))[0]).toEqual([
      [{ protocol: 'udp', ports: [String(WG)] }],
      ['198.51.100.1/32'],
      [expect.stringContaining('@root-project.iam.gserviceaccount.com')],
    ]);
  });

  test('resolves a relative spec path against the project directory, and refuses unknown placement keys', () => {
    const root = program.projectRoot();
    expect(root).toBe(require('node:path').resolve(__dirname, '../..'));
    expect(program.resolveSpecPath('examples/hub-spoke-ha/mesh.yaml', '/srv/proj')).toBe(
      '/srv/proj/examples/hub-spoke-ha/mesh.yaml',
    );
    expect(program.resolveSpecPath('/abs/mesh.yaml', '/srv/proj')).toBe('/abs/mesh.yaml');
    const pulumiSdk = require('@pulumi/pulumi') as typeof pulumi;
    pulumiSdk.runtime.setAllConfig(
      stackConfig(project, {
        agentPackage: 'wiremesh@0.1.0',
        aws: { sites: { 'aws-eu': { vpcId: 'v', subnets: [], privateKey: 'x' } } },
      }),
    );
    expect(() => program.meshArgsFromConfig(new pulumiSdk.Config('wiremesh'))).toThrow(
      /^wiremesh:aws\.sites\.aws-eu\.privateKey is not a known setting/,
    );
  });
});
