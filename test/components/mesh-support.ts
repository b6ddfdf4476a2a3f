/**
 * Test support for the WireGuardMesh and example tests: mocks answering AWS, GCP and command
 * resources together, and lookups over the recorded resource graph (documents in secret stores,
 * security groups, firewalls, IAM grants, routes, load balancer targets).
 */
import * as pulumi from '@pulumi/pulumi';
import type { AgentConfig } from '../../agent/gateway/config-types';
import { awsMockOptions, type AwsMockSettings } from '../../components/aws/testing';
import { gcpMockNewResource } from '../../components/gcp/testing';
import { WIREGUARD_KEY_PAIR_TYPE, wireGuardKeyPairFromEntropy } from '../../components/key';
import type { WireGuardMeshArgs } from '../../components/mesh';
import type { MeshSpec } from '../../mesh/spec';
import { keyRotationPlan, type KeyRotationPlan } from '../../components/rotation';
import { WIREGUARD_PRESHARED_KEY_TYPE } from '../../components/preshared-key';
import { setupMocks, unwrapSecrets, type MockRecorder, type RecordedResource } from '../../components/testing';

export const T = {
  mesh: 'wiremesh:mesh:WireGuardMesh',
  key: 'wiremesh:keys:WireGuardKey',
  keyPair: WIREGUARD_KEY_PAIR_TYPE,
  psk: 'wiremesh:keys:WireGuardPresharedKey',
  pskValue: WIREGUARD_PRESHARED_KEY_TYPE,
  awsGateway: 'wiremesh:aws:AwsGateway',
  awsGroup: 'wiremesh:aws:AwsGatewayGroup',
  gcpGateway: 'wiremesh:gcp:GcpGateway',
  gcpGroup: 'wiremesh:gcp:GcpGatewayGroup',
  remoteHost: 'wiremesh:onprem:RemoteHostAgent',
  command: 'command:remote:Command',
  sg: 'aws:ec2/securityGroup:SecurityGroup',
  sgRule: 'aws:ec2/securityGroupRule:SecurityGroupRule',
  sgIngress: 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule',
  awsSecret: 'aws:secretsmanager/secret:Secret',
  awsSecretVersion: 'aws:secretsmanager/secretVersion:SecretVersion',
  rolePolicy: 'aws:iam/rolePolicy:RolePolicy',
  rolePolicyAttachment: 'aws:iam/rolePolicyAttachment:RolePolicyAttachment',
  role: 'aws:iam/role:Role',
  instance: 'aws:ec2/instance:Instance',
  eni: 'aws:ec2/networkInterface:NetworkInterface',
  eip: 'aws:ec2/eip:Eip',
  route: 'aws:ec2/route:Route',
  lb: 'aws:lb/loadBalancer:LoadBalancer',
  targetGroup: 'aws:lb/targetGroup:TargetGroup',
  targetAttachment: 'aws:lb/targetGroupAttachment:TargetGroupAttachment',
  listener: 'aws:lb/listener:Listener',
  firewall: 'gcp:compute/firewall:Firewall',
  gcpInstance: 'gcp:compute/instance:Instance',
  gcpRoute: 'gcp:compute/route:Route',
  gcpAddress: 'gcp:compute/address:Address',
  gcpSecret: 'gcp:secretmanager/secret:Secret',
  gcpSecretVersion: 'gcp:secretmanager/secretVersion:SecretVersion',
  gcpSecretIam: 'gcp:secretmanager/secretIamMember:SecretIamMember',
  gcpAccount: 'gcp:serviceaccount/account:Account',
  instanceGroup: 'gcp:compute/instanceGroup:InstanceGroup',
  backend: 'gcp:compute/regionBackendService:RegionBackendService',
  forwardingRule: 'gcp:compute/forwardingRule:ForwardingRule',
  s3Bucket: 'aws:s3/bucket:Bucket',
  s3Object: 'aws:s3/bucketObjectv2:BucketObjectv2',
  gcsObject: 'gcp:storage/bucketObject:BucketObject',
  gcsIam: 'gcp:storage/bucketIAMMember:BucketIAMMember',
} as const;

export interface MeshMockOptions {
  project?: string;
  config?: Record<string, string>;
  secretConfigKeys?: string[];
  aws?: AwsMockSettings;
  /** Extra invoke answers, tried before the AWS ones. */
  call?(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult | undefined;
}

/** setupMocks answering aws (ARNs, EIPs, NLB names, getVpc/getAmi), gcp (names, addresses) and the rest by echo. */
export function meshMocks(options: MeshMockOptions = {}): MockRecorder {
  const awsAnswers = awsMockOptions({ vpcCidrs: ['10.10.0.0/16'], ...(options.aws ?? {}) });
  const gcpAnswers = gcpMockNewResource();
  return setupMocks({
    ...(options.project !== undefined ? { project: options.project } : {}),
    ...(options.config !== undefined ? { config: options.config } : {}),
    ...(options.secretConfigKeys !== undefined ? { secretConfigKeys: options.secretConfigKeys } : {}),
    newResource: (args) => awsAnswers.newResource!(args) ?? gcpAnswers(args),
    call: (args) => options.call?.(args) ?? awsAnswers.call!(args),
  });
}

/** Every resource under the resource with URN `root` (children, grandchildren...). */
export function descendants(mocks: MockRecorder, root: string): RecordedResource[] {
  const inside = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const r of mocks.resources) {
      if (r.urn && r.parent && inside.has(r.parent) && !inside.has(r.urn)) {
        inside.add(r.urn);
        grew = true;
      }
    }
  }
  return mocks.resources.filter((r) => r.urn !== root && r.parent !== undefined && inside.has(r.parent));
}

/** The component of `type` named `name`, and what lies under it. */
export function componentTree(
  mocks: MockRecorder,
  type: string,
  name: string,
): { root: RecordedResource; all: RecordedResource[]; of(type: string): RecordedResource[] } {
  const root = mocks.one(type, name);
  const all = descendants(mocks, root.urn!);
  return { root, all, of: (t) => all.filter((r) => r.type === t) };
}

/** The agent configuration document an AWS gateway stored in its config secret. */
export function awsStoredConfig(mocks: MockRecorder, gatewayName: string): AgentConfig {
  const version = mocks.one(T.awsSecretVersion, `${gatewayName}-config-version`);
  return JSON.parse(unwrapSecrets<string>(version.inputs.secretString)) as AgentConfig;
}

/** The agent configuration document a GCP gateway stored in its config secret. */
export function gcpStoredConfig(mocks: MockRecorder, gatewayName: string): AgentConfig {
  const version = mocks.one(T.gcpSecretVersion, `${gatewayName}-config-version`);
  return JSON.parse(unwrapSecrets<string>(version.inputs.secretData)) as AgentConfig;
}

/** The configuration document a RemoteHostAgent writes (decoded from its configure command). */
export function remoteStoredConfig(mocks: MockRecorder, hostName: string): AgentConfig {
  const configure = mocks.one(T.command, `${hostName}-configure`);
  const script = unwrapSecrets<string>(configure.inputs.create);
  // `printf %s '<base64>' | base64 -d`, quoted once more by asRoot's `bash -c '...'`.
  const match = /printf %s [^A-Za-z0-9+/=]*([A-Za-z0-9+/=]{16,})[^A-Za-z0-9+/=]* \| base64 -d/.exec(script);
  if (!match) throw new Error(`no configuration in ${hostName}-configure`);
  return JSON.parse(Buffer.from(match[1]!, 'base64').toString('utf8')) as AgentConfig;
}

/** The private keys the mocks generated (WireGuardKeyPair states). */
export function generatedPrivateKeys(mocks: MockRecorder): string[] {
  return mocks.byType(T.keyPair).map((r) => unwrapSecrets<string>(r.state!.privateKey));
}

/** Paths at which `needle` occurs in a deserialized value outside every secret wrapper. */
export { plainOccurrences } from '../../components/gcp/testing';

// The six-site mesh of the WireGuardMesh tests (test/components/mesh*.test.ts).

export const OFFICE = wireGuardKeyPairFromEntropy(new Uint8Array(32).fill(21));
export const PARTNER = wireGuardKeyPairFromEntropy(new Uint8Array(32).fill(22));
export const OTHER = wireGuardKeyPairFromEntropy(new Uint8Array(32).fill(23));
export const PACKAGE = 'wiremesh@0.1.0';

/** Six sites, every kind: single and load-balanced on both clouds, an on-prem host, a plain WireGuard partner. */
export const fullMesh: MeshSpec = {
  name: 'corp',
  topology: { type: 'full-mesh' },
  sites: [
    { name: 'aws-a', provider: 'aws', cidrs: ['10.10.0.0/16'] },
    { name: 'aws-b', provider: 'aws', gateways: 2, cidrs: ['10.11.0.0/16'] },
    { name: 'gcp-c', provider: 'gcp', gateways: 2, cidrs: ['10.20.0.0/16'] },
    { name: 'gcp-d', provider: 'gcp', cidrs: ['10.21.0.0/16'] },
    {
      name: 'office',
      provider: 'external',
      cidrs: ['192.168.10.0/24'],
      endpoint: '192.0.2.10:51820',
      publicKey: OFFICE.publicKey,
    },
    {
      name: 'partner',
      provider: 'external',
      cidrs: ['172.16.0.0/16'],
      endpoint: 'vpn.partner.example:51820',
      publicKey: PARTNER.publicKey,
    },
  ],
};

export function fullMeshArgs(overrides: Partial<WireGuardMeshArgs> = {}): WireGuardMeshArgs {
  return {
    spec: fullMesh,
    agentPackage: PACKAGE,
    aws: {
      sites: {
        'aws-a': { vpcId: 'vpc-a', subnets: [{ subnetId: 'subnet-a', routeTableIds: ['rtb-a'] }] },
        'aws-b': {
          vpcId: 'vpc-b',
          subnets: [
            { subnetId: 'subnet-b1', routeTableIds: ['rtb-b1'] },
            { subnetId: 'subnet-b2', routeTableIds: ['rtb-b2'] },
          ],
        },
      },
    },
    gcp: {
      sites: {
        'gcp-c': { network: 'net-c', subnetwork: 'sub-c', zones: ['europe-west1-b', 'europe-west1-c'] },
        'gcp-d': { network: 'net-d', subnetwork: 'sub-d', zones: ['us-central1-a'] },
      },
    },
    onPrem: {
      office: {
        connection: { host: '192.0.2.10', user: 'admin', privateKey: pulumi.secret('ssh-key') },
        privateKey: pulumi.secret(OFFICE.privateKey),
      },
    },
    sourceCidrs: {
      'aws-a': ['198.51.100.1/32'],
      'aws-b': ['198.51.100.2/32', '198.51.100.3/32'],
      'gcp-c': ['203.0.113.0/28'],
      'gcp-d': ['203.0.113.16/28'],
      partner: ['192.0.2.128/25'],
    },
    ...overrides,
  };
}

/** The current generation's key pair of WireGuardKey `keyName` (`<keyName>-g<N>`, the lowest N registered). */
export function currentKeyPair(mocks: MockRecorder, keyName: string): RecordedResource {
  const generations = mocks
    .byType(T.keyPair)
    .filter((r) => new RegExp(`^${keyName.replace(/[-]/g, '\\-')}-g\\d+$`).test(r.name))
    .sort((a, b) => Number(a.name.slice(keyName.length + 2)) - Number(b.name.slice(keyName.length + 2)));
  if (generations.length === 0) throw new Error(`no key pair of ${keyName}`);
  return generations[0]!;
}

/** The rotation plan of WireGuardKey `keyName` at the real clock (what the tests' meshes use), from its recorded inputs. */
function planNow(mocks: MockRecorder, keyName: string): KeyRotationPlan {
  const { maxAgeDays, overlapDays } = currentKeyPair(mocks, keyName).inputs as {
    maxAgeDays: number;
    overlapDays: number;
  };
  return keyRotationPlan(keyName, new Date(), maxAgeDays, overlapDays);
}

function switchingNow(mocks: MockRecorder, keyName: string): boolean {
  return planNow(mocks, keyName).phase === 'switch';
}

/**
 * The generation of WireGuardKey `keyName` that one-key peers name as its `publicKey` at the real
 * clock: the next one in phase switch, else the current one (components/mesh/plan.ts, peersNameNextKey).
 */
export function namedKeyPair(mocks: MockRecorder, keyName: string): RecordedResource {
  const current = currentKeyPair(mocks, keyName);
  if (!switchingNow(mocks, keyName)) return current;
  return mocks.byType(T.keyPair).find((r) => r.name.startsWith(`${keyName}-g`) && r !== current) ?? current;
}

/** Key name -> the next generation's public key, for every WireGuardKey the run registered two generations of. */
export function recordedNextKeys(mocks: MockRecorder): Record<string, string> {
  const byKey = new Map<string, RecordedResource[]>();
  for (const pair of mocks.byType(T.keyPair)) {
    const key = pair.name.replace(/-g\d+$/, '');
    byKey.set(key, [...(byKey.get(key) ?? []), pair]);
  }
  return Object.fromEntries(
    [...byKey.entries()]
      .filter(([, pairs]) => pairs.length === 2)
      .map(([key, pairs]) => {
        const next = pairs.sort((a, b) => Number(b.name.split('-g').pop()) - Number(a.name.split('-g').pop()))[0]!;
        return [key, next.state!.publicKey as string];
      }),
  );
}

/**
 * A planned document (planned with {@link namedKeyPair}'s keys) as WireGuardMesh stores it at the
 * run's clock (the tests use the real one) in a mesh of one-key peers (`dataPlane` unset): peers
 * whose key is in phase next also carry its next public key and its scheduled switch (one-key
 * peers name it as their key in phase switch, already planned), and the gateway's own
 * `nextPrivateKey` reference and `switchAt` (`stored`'s) while it holds its next key. The rotation
 * itself is tested in rotation-sequence.test.ts.
 */
export function withRecordedRotation<T extends { peers: AgentConfig['peers'] }>(
  planned: T,
  mocks: MockRecorder,
  mesh: string,
  stored?: AgentConfig,
): T {
  const next = recordedNextKeys(mocks);
  return {
    ...planned,
    peers: planned.peers.map((peer) => {
      const keyName = `${mesh}-${peer.name}-key`;
      const nextKey = next[keyName];
      if (nextKey === undefined || switchingNow(mocks, keyName)) return peer;
      return { ...peer, nextPublicKey: nextKey, switchAt: planNow(mocks, keyName).switchAt };
    }),
    ...(stored?.nextPrivateKey !== undefined ? { nextPrivateKey: stored.nextPrivateKey } : {}),
    ...(stored?.switchAt !== undefined ? { switchAt: stored.switchAt } : {}),
  };
}
