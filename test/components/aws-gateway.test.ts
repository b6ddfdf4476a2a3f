/**
 * components/aws/gateway.ts under mocks: the security group opens only the WireGuard and health
 * ports, to the intended ranges; the key is secret wherever it goes; the role reads exactly its
 * two secrets; one route per remote CIDR per route table, at the gateway's ENI; IMDSv2; source/
 * destination check off; user data (snapshot) holds references only; the config document; the
 * argument checks with their messages (one instance: several are an AwsGatewayGroup, whose rolling
 * order and routes at the active aws-gateway-group.test.ts covers); a provider passed in options
 * reaches every child.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import type { AgentConfig } from '../../agent/gateway/config-types';
import { parseAgentConfig } from '../../agent/gateway/config';
import type { GatewayAgentConfig } from '../../components/agent-config';
import { AwsGateway } from '../../components/aws/gateway';
import type { AwsGatewayArgs } from '../../components/aws/gateway-args';
import { AwsGatewayGroup } from '../../components/aws/gateway-group';
import { AwsKeySecret } from '../../components/aws/key-secret';
import type { IamPolicyDocument } from '../../components/aws/policy';
import { awsMockOptions } from '../../components/aws/testing';
import { HEALTH_GATE_TYPE } from '../../components/health-gate';
import { WIREGUARD_KEY_PAIR_TYPE, wireGuardKeyPairFromEntropy } from '../../components/key';
import {
  isSecretInput,
  resolve,
  setupMocks,
  unwrapSecrets,
  type MockRecorder,
  type RecordedResource,
} from '../../components/testing';
import { PEER_KEY } from './aws-support';

const KMS_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

const agentConfig: GatewayAgentConfig = {
  interface: { name: 'wm0', addresses: ['10.99.0.1/24'] },
  peers: [
    {
      name: 'site-b',
      publicKey: PEER_KEY,
      endpoint: '203.0.113.7:51820',
      allowedIps: ['10.20.0.0/16', 'fd20::/48'],
      persistentKeepalive: 25,
    },
  ],
  metrics: { listen: '127.0.0.1:9586' },
};

function baseArgs(overrides: Partial<AwsGatewayArgs> = {}): AwsGatewayArgs {
  return {
    siteName: 'site-a',
    vpcId: 'vpc-0a',
    subnets: [{ subnetId: 'subnet-a', routeTableIds: ['rtb-a1', 'rtb-a2'] }],
    remoteCidrs: ['10.20.0.0/16', '10.30.0.0/16', 'fd20::/48'],
    peerCidrs: ['203.0.113.7/32', '2001:db8::7/128'],
    agent: { package: 'wiremesh@0.1.0', config: agentConfig },
    ...overrides,
  };
}

async function build(
  overrides: Partial<AwsGatewayArgs> = {},
  opts: pulumi.ComponentResourceOptions = {},
): Promise<{ mocks: MockRecorder; gateway: AwsGateway }> {
  const mocks = setupMocks(awsMockOptions({ vpcCidrs: ['10.0.0.0/16', '10.1.0.0/16'] }));
  const gateway = new AwsGateway('site-a', baseArgs(overrides), opts);
  await resolve(gateway.endpoints);
  await resolve(gateway.configSecretArn);
  await mocks.settle();
  return { mocks, gateway };
}

function ingressOf(mocks: MockRecorder): Array<Record<string, unknown>> {
  return mocks.one('aws:ec2/securityGroup:SecurityGroup').inputs.ingress as Array<Record<string, unknown>>;
}

/** Paths at which `needle` occurs in `value` outside any secret wrapper. */
function plainOccurrences(value: unknown, needle: string, path = '$'): string[] {
  if (isSecretInput(value)) return [];
  if (typeof value === 'string') return value.includes(needle) ? [path] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => plainOccurrences(v, needle, `${path}[${i}]`));
  if (typeof value === 'object' && value !== null)
    return Object.entries(value).flatMap(([k, v]) => plainOccurrences(v, needle, `${path}.${k}`));
  return [];
}

describe('AwsGateway security group', () => {
  test('opens only UDP listenPort to the peers and TCP healthPort to the VPC, no SSH', async () => {
    const { mocks } = await build();
    expect(ingressOf(mocks)).toEqual([
      {
        description: 'WireGuard from the peers',
        protocol: 'udp',
        fromPort: 51820,
        toPort: 51820,
        cidrBlocks: ['203.0.113.7/32'],
        ipv6CidrBlocks: ['2001:db8::7/128'],
      },
      {
        description: 'wiremesh-agent health checks',
        protocol: 'tcp',
        fromPort: 9587,
        toPort: 9587,
        cidrBlocks: ['10.0.0.0/16', '10.1.0.0/16'],
        ipv6CidrBlocks: [],
      },
    ]);
    for (const rule of ingressOf(mocks)) {
      expect(Number(rule.fromPort) <= 22 && Number(rule.toPort) >= 22).toBe(false);
      expect(rule.cidrBlocks).not.toContain('0.0.0.0/0');
      expect(rule.ipv6CidrBlocks).not.toContain('::/0');
    }
    // The VPC's CIDRs came from a lookup of exactly this VPC, made as a child of the gateway.
    expect(mocks.invokes.filter((i) => i.token === 'aws:ec2/getVpc:getVpc').map((i) => i.inputs)).toEqual([
      { id: 'vpc-0a' },
    ]);
    // The group is on every ENI, and nothing else is.
    const sg = mocks.one('aws:ec2/securityGroup:SecurityGroup');
    expect(sg.inputs.vpcId).toBe('vpc-0a');
    for (const eni of mocks.byType('aws:ec2/networkInterface:NetworkInterface'))
      expect(eni.inputs.securityGroups).toEqual([sg.id]);
    expect(mocks.byType('aws:ec2/securityGroupRule:SecurityGroupRule')).toEqual([]);
    expect(mocks.byType('aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule')).toEqual([]);
    expect(mocks.byType('aws:ec2/keyPair:KeyPair')).toEqual([]);
    expect(mocks.byType('aws:ec2/instance:Instance').every((i) => i.inputs.keyName === undefined)).toBe(true);
  });

  test('custom ports, explicit health-check ranges and forwarded local ranges', async () => {
    const { mocks } = await build({
      listenPort: 51900,
      healthPort: 8081,
      healthCheckCidrs: ['10.0.1.0/24', '10.0.2.0/24'],
      forwardFromCidrs: ['10.0.0.0/16'],
      agent: { package: 'wiremesh@0.1.0', config: { ...agentConfig, health: { listen: '0.0.0.0:8081' } } },
    });
    expect(ingressOf(mocks).map((r) => [r.protocol, r.fromPort, r.toPort, r.cidrBlocks, r.ipv6CidrBlocks])).toEqual([
      ['udp', 51900, 51900, ['203.0.113.7/32'], ['2001:db8::7/128']],
      ['tcp', 8081, 8081, ['10.0.1.0/24', '10.0.2.0/24'], []],
      ['-1', 0, 0, ['10.0.0.0/16'], []],
    ]);
    expect(mocks.invokes.filter((i) => i.token === 'aws:ec2/getVpc:getVpc')).toEqual([]);
  });

  test('allowFromAnywhere opens the WireGuard port, and only it, to everyone', async () => {
    const { mocks } = await build({ peerCidrs: undefined, allowFromAnywhere: true });
    const [wireguard, health] = ingressOf(mocks);
    expect([wireguard!.protocol, wireguard!.fromPort, wireguard!.cidrBlocks, wireguard!.ipv6CidrBlocks]).toEqual([
      'udp',
      51820,
      ['0.0.0.0/0'],
      ['::/0'],
    ]);
    expect(health!.cidrBlocks).toEqual(['10.0.0.0/16', '10.1.0.0/16']);
  });
});

describe('AwsGateway keys and secrets', () => {
  test('the generated private key is secret in every input it reaches, and only there', async () => {
    const { mocks, gateway } = await build();
    const pair = mocks.one(WIREGUARD_KEY_PAIR_TYPE);
    const privateKey = unwrapSecrets<string>(pair.state!.privateKey);
    expect(privateKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    const holders: RecordedResource[] = [];
    for (const resource of mocks.resources) {
      if (resource === pair) continue;
      expect({
        resource: `${resource.type}::${resource.name}`,
        plain: plainOccurrences(resource.inputs, privateKey),
      }).toEqual({
        resource: `${resource.type}::${resource.name}`,
        plain: [],
      });
      if (JSON.stringify(unwrapSecrets(resource.inputs)).includes(privateKey)) holders.push(resource);
    }
    // Exactly one resource holds the key: the key secret's version, as a secret.
    expect(holders.map((r) => r.name)).toEqual([expect.stringMatching(/^site-a-key-version-g\d+$/)]);
    expect(isSecretInput(holders[0]!.inputs.secretString)).toBe(true);
    expect(await pulumi.isSecret(gateway.publicKey)).toBe(false);
    expect(await resolve(gateway.publicKey)).toBe(unwrapSecrets(pair.state!.publicKey));
  });

  test('a given key: secret in the SecretVersion, public key derived', async () => {
    const pair = wireGuardKeyPairFromEntropy(new Uint8Array(32).fill(9));
    const { mocks, gateway } = await build({
      key: { privateKey: pulumi.secret(pair.privateKey), createdAt: '2025-02-01T00:00:00.000Z' },
    });
    expect(mocks.byType(WIREGUARD_KEY_PAIR_TYPE)).toEqual([]);
    const version = mocks.one('aws:secretsmanager/secretVersion:SecretVersion', 'site-a-key-version');
    expect(isSecretInput(version.inputs.secretString)).toBe(true);
    for (const resource of mocks.resources) expect(plainOccurrences(resource.inputs, pair.privateKey)).toEqual([]);
    expect(
      mocks.one('aws:secretsmanager/secret:Secret', 'site-a-key-secret').inputs.tags['wiremesh:key-created-at'],
    ).toBe('2025-02-01T00:00:00.000Z');
    expect(await resolve(gateway.publicKey)).toBe(pair.publicKey);
  });

  test("each gateway's role reads exactly its key secret and its config secret", async () => {
    const { mocks, gateway } = await build();
    const [keyArn, configArn] = await Promise.all([resolve(gateway.keySecretArn), resolve(gateway.configSecretArn)]);
    const policy = JSON.parse(mocks.one('aws:iam/rolePolicy:RolePolicy').inputs.policy) as IamPolicyDocument;
    expect(policy).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'ReadKeySecret', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: keyArn },
        { Sid: 'ReadConfigSecret', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: configArn },
      ],
    });
    const role = mocks.one('aws:iam/role:Role');
    expect(mocks.one('aws:iam/rolePolicy:RolePolicy').inputs.role).toBe(role.id);
    expect(JSON.parse(role.inputs.assumeRolePolicy).Statement).toEqual([
      { Sid: 'Ec2AssumeRole', Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' },
    ]);
    // The only managed policy is SSM's (no SSH: Session Manager).
    expect(mocks.byType('aws:iam/rolePolicyAttachment:RolePolicyAttachment').map((a) => a.inputs.policyArn)).toEqual([
      'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore',
    ]);
    const profile = mocks.one('aws:iam/instanceProfile:InstanceProfile');
    expect(profile.inputs.role).toBe(role.state!.name);
    for (const instance of mocks.byType('aws:ec2/instance:Instance'))
      expect(instance.inputs.iamInstanceProfile).toBe(profile.state!.name);
  });

  test('with a customer KMS key both secrets use it and the role may decrypt only through Secrets Manager, for them', async () => {
    const { mocks, gateway } = await build({ kmsKeyId: KMS_KEY });
    const [keyArn, configArn] = await Promise.all([resolve(gateway.keySecretArn), resolve(gateway.configSecretArn)]);
    for (const secret of mocks.byType('aws:secretsmanager/secret:Secret')) expect(secret.inputs.kmsKeyId).toBe(KMS_KEY);
    const policy = JSON.parse(mocks.one('aws:iam/rolePolicy:RolePolicy').inputs.policy) as IamPolicyDocument;
    const decrypt = (arn: string, sid: string) => ({
      Sid: sid,
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Resource: KMS_KEY,
      Condition: {
        StringEquals: {
          'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com',
          'kms:EncryptionContext:SecretARN': arn,
        },
      },
    });
    expect(policy.Statement).toEqual([
      { Sid: 'ReadKeySecret', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: keyArn },
      decrypt(keyArn, 'DecryptKeySecret'),
      { Sid: 'ReadConfigSecret', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: configArn },
      decrypt(configArn, 'DecryptConfigSecret'),
    ]);
  });

  test('two gateways: each role reads only its own secrets', async () => {
    const mocks = setupMocks(awsMockOptions());
    const a = new AwsGateway('site-a', baseArgs());
    const b = new AwsGateway(
      'site-c',
      baseArgs({ siteName: 'site-c', subnets: [{ subnetId: 'subnet-c', routeTableIds: ['rtb-c'] }] }),
    );
    const arns = await Promise.all(
      [a.keySecretArn, a.configSecretArn, b.keySecretArn, b.configSecretArn].map((o) => resolve(o)),
    );
    await mocks.settle();
    const resourcesOf = (name: string) =>
      (
        JSON.parse(
          mocks.one('aws:iam/rolePolicy:RolePolicy', `${name}-read-secrets`).inputs.policy,
        ) as IamPolicyDocument
      ).Statement.map((s) => s.Resource);
    expect(resourcesOf('site-a')).toEqual([arns[0], arns[1]]);
    expect(resourcesOf('site-c')).toEqual([arns[2], arns[3]]);
    expect(new Set(arns).size).toBe(4);
  });

  test('the config document: the agent parses it; it points at the key and config secrets', async () => {
    const { mocks, gateway } = await build({
      agent: { package: 'wiremesh@0.1.0', config: agentConfig, configPollSeconds: 60 },
    });
    const [keyArn, configArn] = await Promise.all([resolve(gateway.keySecretArn), resolve(gateway.configSecretArn)]);
    const version = mocks.one('aws:secretsmanager/secretVersion:SecretVersion', 'site-a-config-version');
    const configSecret = mocks.one('aws:secretsmanager/secret:Secret', 'site-a-config');
    expect(version.inputs.secretId).toBe(configSecret.id);
    expect(configSecret.inputs.tags).toEqual({ 'wiremesh:site': 'site-a', 'wiremesh:role': 'agent-config' });
    const document: AgentConfig = parseAgentConfig(unwrapSecrets<string>(version.inputs.secretString));
    expect(document.privateKey).toEqual({
      source: 'aws-secrets-manager',
      secretId: keyArn,
      region: 'eu-west-1',
      versionId: mocks
        .byType('aws:secretsmanager/secretVersion:SecretVersion')
        .find((r) => r.name.startsWith('site-a-key-version-g'))!.state!.versionId,
    });
    expect(document.configSource).toEqual({
      source: 'aws-secrets-manager',
      secretId: configArn,
      region: 'eu-west-1',
      pollSeconds: 60,
    });
    expect(document.interface).toEqual({ name: 'wm0', addresses: ['10.99.0.1/24'], listenPort: 51820 });
    expect(document.health).toEqual({ listen: '0.0.0.0:9587' });
    expect(document.peers).toEqual(agentConfig.peers);
  });
});

describe('AwsGateway instances and routes', () => {
  test("one route per remote CIDR per route table, targeting the gateway's ENI", async () => {
    const { mocks, gateway } = await build();
    const enis = mocks.byType('aws:ec2/networkInterface:NetworkInterface');
    expect(enis.map((e) => e.inputs.subnetId)).toEqual(['subnet-a']);
    const routes = mocks.byType('aws:ec2/route:Route').map((r) => ({
      table: r.inputs.routeTableId,
      destination: r.inputs.destinationCidrBlock ?? r.inputs.destinationIpv6CidrBlock,
      ipv6: r.inputs.destinationIpv6CidrBlock !== undefined,
      eni: r.inputs.networkInterfaceId,
      targets: ['instanceId', 'gatewayId', 'natGatewayId', 'transitGatewayId', 'vpcPeeringConnectionId'].filter(
        (k) => r.inputs[k] !== undefined,
      ),
    }));
    const expected = [
      ['rtb-a1', enis[0]!.id],
      ['rtb-a2', enis[0]!.id],
    ].flatMap(([table, eni]) =>
      [
        ['10.20.0.0/16', false],
        ['10.30.0.0/16', false],
        ['fd20::/48', true],
      ].map(([destination, ipv6]) => ({ table, destination, ipv6, eni, targets: [] })),
    );
    expect(routes).toEqual(expected);
    expect(new Set(routes.map((r) => `${r.table} ${r.destination}`)).size).toBe(routes.length);
    expect(mocks.byType('aws:ec2/route:Route').map((r) => r.name)).toContain('site-a-route-0-1-10-20-0-0-16');
    expect(await resolve(gateway.networkInterfaceIds)).toEqual(enis.map((e) => e.id));
  });

  test('IMDSv2 only, source/destination check off, Elastic IPs on the ENIs, booted after its dependencies', async () => {
    const { mocks, gateway } = await build();
    const enis = mocks.byType('aws:ec2/networkInterface:NetworkInterface');
    const eips = mocks.byType('aws:ec2/eip:Eip');
    const instances = mocks.byType('aws:ec2/instance:Instance');
    expect(instances).toHaveLength(1);
    instances.forEach((instance, i) => {
      expect(instance.inputs.metadataOptions).toEqual({
        httpEndpoint: 'enabled',
        httpTokens: 'required',
        httpPutResponseHopLimit: 1,
        instanceMetadataTags: 'disabled',
      });
      expect(instance.inputs.sourceDestCheck).toBe(false);
      expect(instance.inputs.primaryNetworkInterface).toEqual({ networkInterfaceId: enis[i]!.id });
      expect(instance.inputs.subnetId).toBeUndefined();
      expect(instance.inputs.associatePublicIpAddress).toBeUndefined();
      expect(instance.inputs.rootBlockDevice).toEqual({ encrypted: true, volumeType: 'gp3' });
      expect(instance.inputs.instanceType).toBe('t3.small');
      expect(instance.inputs.ami).toBe('ami-0123456789abcdef0');
      expect(instance.inputs.userDataReplaceOnChange).toBe(true);
      expect(instance.deleteBeforeReplace).toBe(true);
      expect(instance.ignoreChanges).toEqual(['ami']);
      expect(instance.dependencies).toEqual(
        expect.arrayContaining([
          eips[i]!.urn,
          mocks.one('aws:iam/rolePolicy:RolePolicy').urn,
          mocks.one('aws:secretsmanager/secretVersion:SecretVersion', 'site-a-config-version').urn,
        ]),
      );
    });
    enis.forEach((eni, i) => {
      expect(eni.inputs.sourceDestCheck).toBe(false);
      expect(eips[i]!.inputs).toMatchObject({ domain: 'vpc', networkInterface: eni.id });
    });
    expect(await resolve(gateway.endpoints)).toEqual(['198.51.100.1:51820']);
    // The AMI lookup: Canonical's Ubuntu 24.04 (apt + systemd for the bootstrap, SSM agent included).
    const lookups = mocks.invokes.filter((i) => i.token === 'aws:ec2/getAmi:getAmi');
    expect(lookups).toHaveLength(1);
    expect(lookups[0]!.inputs).toMatchObject({ mostRecent: true, owners: ['099720109477'] });
  });

  test("the instance's health gate: EC2 status checks in its region, waiting for it through its id", async () => {
    // Rolling order among several instances is a group's (aws-gateway-group.test.ts "rolling replacement").
    const { mocks } = await build();
    const instance = mocks.one('aws:ec2/instance:Instance');
    const gate = mocks.one(HEALTH_GATE_TYPE);
    expect([instance.name, gate.name]).toEqual(['site-a-instance-0', 'site-a-serving-0']);
    expect(instance.dependencies).not.toContain(gate.urn);
    // Delete-first stays: the primary ENI (what the routes and the Elastic IP point at) is fixed at launch.
    expect(instance.deleteBeforeReplace).toBe(true);
    // The instance's id is an input: a replaced instance replaces the gate. Not an NLB target: EC2's status checks.
    expect(gate.dependencies).toContain(instance.urn);
    expect(gate.inputs).toMatchObject({
      label: 'site-a-instance-0',
      check: { kind: 'aws-instance-status', region: 'eu-west-1', instanceId: instance.id },
      timeoutSeconds: 900,
      pollSeconds: 10,
    });
    expect(gate.inputs.check.endpoint).toBeUndefined();
  });

  test('a pinned AMI is used as is, without a lookup', async () => {
    const { mocks } = await build({ ami: 'ami-0fedcba9876543210', instanceType: 'c7gn.medium', architecture: 'arm64' });
    expect(mocks.invokes.filter((i) => i.token === 'aws:ec2/getAmi:getAmi')).toEqual([]);
    for (const instance of mocks.byType('aws:ec2/instance:Instance')) {
      expect(instance.inputs.ami).toBe('ami-0fedcba9876543210');
      expect(instance.inputs.instanceType).toBe('c7gn.medium');
      expect(instance.ignoreChanges).toEqual([]);
    }
  });

  test('user data holds references only (snapshot)', async () => {
    const { mocks, gateway } = await build();
    const pair = mocks.one(WIREGUARD_KEY_PAIR_TYPE);
    const privateKey = unwrapSecrets<string>(pair.state!.privateKey);
    const userData = mocks.one('aws:ec2/instance:Instance').inputs.userData as string;
    expect(typeof userData).toBe('string'); // not a secret: nothing in it is
    expect(userData).not.toContain(privateKey);
    expect(userData).not.toMatch(/[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=/);
    expect(userData).toContain(await resolve(gateway.keySecretArn));
    expect(userData).toContain(await resolve(gateway.configSecretArn));
    expect(userData).toMatchSnapshot();
  });
});

describe('AwsGateway providers', () => {
  test('a provider passed in options reaches every child resource and lookup', async () => {
    const mocks = setupMocks(awsMockOptions());
    const provider = new aws.Provider('euw1', { region: 'eu-west-1' });
    const gateway = new AwsGateway('site-a', baseArgs(), { providers: [provider] });
    await resolve(gateway.endpoints);
    await mocks.settle();
    const children = mocks.resources.filter((r) => r.custom && !r.type.startsWith('pulumi:providers:'));
    expect(children.length).toBeGreaterThan(15);
    for (const child of children) {
      // Dynamic resources: the nodejs provider (the gate reads the region from the instance's ARN).
      if (child.type === WIREGUARD_KEY_PAIR_TYPE || child.type === HEALTH_GATE_TYPE) continue;
      expect({ child: `${child.type}::${child.name}`, provider: child.provider }).toEqual({
        child: `${child.type}::${child.name}`,
        provider: expect.stringMatching(/::pulumi:providers:aws::euw1::/),
      });
    }
    expect(mocks.invokes.length).toBe(2);
    for (const invoke of mocks.invokes) expect(invoke.provider).toMatch(/::pulumi:providers:aws::euw1::/);
  });

  test('`provider` on the component works the same', async () => {
    const mocks = setupMocks(awsMockOptions());
    const provider = new aws.Provider('use2', { region: 'us-east-2' });
    const gateway = new AwsGateway('site-a', baseArgs(), { provider });
    await resolve(gateway.endpoints);
    await mocks.settle();
    for (const child of mocks.resources.filter((r) => r.type.startsWith('aws:')))
      expect(child.provider).toMatch(/::pulumi:providers:aws::use2::/);
  });
});

describe('AwsGateway argument checks', () => {
  beforeEach(() => setupMocks(awsMockOptions()));
  const label = 'AwsGateway "gw"';

  test.each<[string, Partial<AwsGatewayArgs>, string]>([
    [
      'no subnets',
      { subnets: [] },
      `${label}: subnets must list at least one subnet (one gateway instance runs in each)`,
    ],
    [
      'a repeated subnet',
      { subnets: [{ subnetId: 'subnet-a' }, { subnetId: 'subnet-a' }] },
      `${label}: subnets[1] repeats subnets[0] (subnet-a)`,
    ],
    [
      'a route table for two subnets',
      {
        subnets: [
          { subnetId: 'subnet-a', routeTableIds: ['rtb-1'] },
          { subnetId: 'subnet-b', routeTableIds: ['rtb-1'] },
        ],
      },
      `${label}: route table rtb-1 is listed for subnets[0] and subnets[1]; VPC route tables have no ECMP (one target per destination), so each route table points at one gateway`,
    ],
    [
      'two subnets (two instances on one key)',
      { subnets: [{ subnetId: 'subnet-a' }, { subnetId: 'subnet-b' }] },
      `${label}: subnets lists 2 subnets, but an AwsGateway is one instance holding its WireGuard key (instances sharing a key displace each other's sessions with every peer): give one, or use AwsGatewayGroup for several (one active key holder behind a network load balancer, with automatic failover)`,
    ],
    [
      'two created zones (two instances on one key)',
      {
        vpcId: undefined,
        subnets: undefined,
        createNetwork: { cidr: '10.40.0.0/16', availabilityZones: ['eu-west-1a', 'eu-west-1b'] },
      },
      `${label}: createNetwork.availabilityZones lists 2 zones, but an AwsGateway is one instance holding its WireGuard key (instances sharing a key displace each other's sessions with every peer): give one, or use AwsGatewayGroup (in a VPC of yours: vpcId and subnets) for several`,
    ],
    ['no remote CIDRs', { remoteCidrs: [] }, `${label}: remoteCidrs must list at least one remote prefix`],
    [
      'overlapping remote CIDRs',
      { remoteCidrs: ['10.20.0.0/16', '10.30.0.0/16', '10.20.128.0/17'] },
      `${label}: remoteCidrs overlap: remoteCidrs[0] 10.20.0.0/16 and remoteCidrs[2] 10.20.128.0/17`,
    ],
    [
      'repeated remote CIDRs',
      { remoteCidrs: ['fd20::/48', 'FD20:0::/48'] },
      `${label}: remoteCidrs repeat: remoteCidrs[0] fd20::/48 and remoteCidrs[1] fd20::/48`,
    ],
    [
      'a remote CIDR with host bits',
      { remoteCidrs: ['10.20.1.0/16'] },
      `${label}: remoteCidrs[0] "10.20.1.0/16" has host bits set (did you mean 10.20.0.0/16?)`,
    ],
    [
      'a remote address without a length',
      { remoteCidrs: ['10.20.0.1'] },
      `${label}: remoteCidrs[0] "10.20.0.1" is not a CIDR block (it has no prefix length)`,
    ],
    [
      'a malformed remote CIDR',
      { remoteCidrs: ['10.20.0.0/33'] },
      `${label}: remoteCidrs[0] "10.20.0.0/33" is not a CIDR block`,
    ],
    [
      'a default route as remote CIDR',
      { remoteCidrs: ['0.0.0.0/0'] },
      `${label}: remoteCidrs[0] 0.0.0.0/0 would route all traffic through the tunnel; list the remote prefixes instead`,
    ],
    ['listenPort 0', { listenPort: 0 }, `${label}: listenPort must be a whole number from 1 to 65535, got 0`],
    [
      'listenPort 70000',
      { listenPort: 70000 },
      `${label}: listenPort must be a whole number from 1 to 65535, got 70000`,
    ],
    [
      'a fractional healthPort',
      { healthPort: 9587.5 },
      `${label}: healthPort must be a whole number from 1 to 65535, got 9587.5`,
    ],
    [
      'no peer ranges',
      { peerCidrs: undefined },
      `${label}: peerCidrs must list the ranges allowed to reach WireGuard (the remote gateways' public addresses), or set allowFromAnywhere: true`,
    ],
    [
      '0.0.0.0/0 among the peers without allowFromAnywhere',
      { peerCidrs: ['203.0.113.7/32', '0.0.0.0/0'] },
      `${label}: peerCidrs[1] 0.0.0.0/0 opens the WireGuard port to the whole internet; set allowFromAnywhere: true to mean it`,
    ],
    [
      '::/0 among the peers',
      { peerCidrs: ['::/0'] },
      `${label}: peerCidrs[0] ::/0 opens the WireGuard port to the whole internet; set allowFromAnywhere: true to mean it`,
    ],
    [
      'a repeated peer range',
      { peerCidrs: ['203.0.113.7/32', '203.0.113.7/32'] },
      `${label}: peerCidrs[1] repeats peerCidrs[0] (203.0.113.7/32)`,
    ],
    [
      'health checks from anywhere',
      { healthCheckCidrs: ['0.0.0.0/0'] },
      `${label}: healthCheckCidrs[0] 0.0.0.0/0 is not allowed here; list the actual source ranges`,
    ],
    [
      'forwarding from anywhere',
      { forwardFromCidrs: ['0.0.0.0/0'] },
      `${label}: forwardFromCidrs[0] 0.0.0.0/0 is not allowed here; list the actual source ranges`,
    ],
    [
      'a plain private key',
      { key: { privateKey: 'gJqVbqkFAfHpSbTcvG5mbw0dH3xFt0HdQe3E6LwT8Wc=', createdAt: '2025-01-01T00:00:00Z' } },
      `${label}: key.privateKey must be a secret Output (WireGuardKey.privateKey or pulumi.secret(...)), not a plain string: a plain value is stored unencrypted in the stack state`,
    ],
    [
      'a private key without its creation time',
      { key: { privateKey: pulumi.secret('k') } as never },
      `${label}: key must have privateKey (a secret Output) and createdAt, and may have publicKey (a WireGuardKey fits)`,
    ],
    [
      'an invalid site name',
      { siteName: 'Site A' },
      `${label}: siteName must be 1 to 32 lowercase letters, digits or hyphens (not at either end), got "Site A"`,
    ],
    ['no VPC', { vpcId: '' }, `${label}: vpcId is required`],
    [
      'no agent package',
      { agent: { package: '', config: agentConfig } },
      `${label}: agent.artifact is required (the path of the agent tarball made with \`npm pack\`), or agent.package (a pinned package you publish)`,
    ],
    [
      'an unpinned agent package',
      { agent: { package: 'wiremesh@latest', config: agentConfig } },
      `${label}: agent.package: agentPackage must be pinned: an exact version like "@acme/wiremesh@1.2.3" or an https URL of a .tgz, got "wiremesh@latest"`,
    ],
    [
      'Node.js 22',
      { agent: { package: 'wiremesh@0.1.0', config: agentConfig, nodeVersion: '22' } },
      `${label}: agent.nodeVersion must be a Node.js major version of 24 or later, e.g. "24", got "22"`,
    ],
    [
      'an AMI that is not an AMI id',
      { ami: 'ubuntu-24.04' },
      `${label}: ami must be an AMI id (ami-...), got "ubuntu-24.04"`,
    ],
    [
      'an instance type that is not one',
      { instanceType: 'large' },
      `${label}: instanceType "large" is not an EC2 instance type (e.g. t3.small)`,
    ],
    [
      'a KMS alias',
      { kmsKeyId: 'alias/aws/secretsmanager' },
      `${label}: kmsKeyId must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), got "alias/aws/secretsmanager": the read policy grants kms:Decrypt on the key ARN, which an alias or a bare key id cannot name`,
    ],
    [
      'a reserved tag',
      { tags: { 'wiremesh:site': 'other' } },
      `${label}: tags may not set wiremesh:site; the component sets it`,
    ],
  ])('refuses %s', (_what, overrides, message) => {
    expect(() => new AwsGateway('gw', baseArgs(overrides))).toThrow(message);
  });

  test("an AwsGatewayGroup still builds its gateway's two instances on the group's key", async () => {
    const mocks = setupMocks(awsMockOptions());
    const { subnets: _one, vpcId: _vpc, ...shared } = baseArgs();
    const group = new AwsGatewayGroup('g', {
      ...shared,
      vpcId: 'vpc-0a',
      subnets: [
        { subnetId: 'subnet-a', routeTableIds: ['rtb-a'] },
        { subnetId: 'subnet-b', routeTableIds: ['rtb-b'] },
      ],
    });
    expect(await resolve(group.instanceIds)).toHaveLength(2);
    await mocks.settle();
    expect(mocks.byType('aws:ec2/instance:Instance').map((i) => i.name)).toEqual([
      'g-gateway-instance-0',
      'g-gateway-instance-1',
    ]);
    expect(mocks.byType('wiremesh:aws:AwsGateway')).toHaveLength(1);
  });

  test('refuses key together with keySecret, and keySecret without publicKey', async () => {
    const mocks = setupMocks(awsMockOptions());
    const secret = new AwsKeySecret('shared', { privateKey: pulumi.secret('k'), createdAt: '2025-01-01T00:00:00Z' });
    expect(
      () =>
        new AwsGateway(
          'gw',
          baseArgs({
            keySecret: { secret, publicKey: 'p' },
            key: { privateKey: pulumi.secret('k'), createdAt: '2025-01-01T00:00:00Z' },
          }),
        ),
    ).toThrow(`${label}: give key or keySecret, not both`);
    expect(() => new AwsGateway('gw', baseArgs({ keySecret: { secret } as never }))).toThrow(
      `${label}: keySecret.publicKey is required (the public key of the key it holds)`,
    );
    await mocks.settle();
  });

  test('nothing is registered when the arguments are refused', async () => {
    const mocks = setupMocks(awsMockOptions());
    expect(() => new AwsGateway('gw', baseArgs({ remoteCidrs: ['10.0.0.0/8', '10.1.0.0/16'] }))).toThrow(
      /remoteCidrs overlap/,
    );
    expect(() => new AwsGateway('gw2', baseArgs({ agent: { package: 'wiremesh', config: agentConfig } }))).toThrow(
      /agentPackage must be pinned/,
    );
    expect(
      () => new AwsGateway('gw3', baseArgs({ subnets: [{ subnetId: 'subnet-a', routeTableIds: ['rtb-1', 'rtb-1'] }] })),
    ).toThrow(`AwsGateway "gw3": subnets[0].routeTableIds repeats rtb-1`);
    await mocks.settle();
    expect(mocks.resources.filter((r) => r.custom)).toEqual([]);
  });
});
