/**
 * components/aws/gateway-group.ts under mocks: one key for the whole group, the NLB (network,
 * internet-facing, cross-zone), the UDP listener and target group (with failover every gateway a
 * target checked with GET /active; without, the active one with TCP checks), the NLB's Elastic IPs,
 * the rolling replacement order, the routes at the active, the endpoint, providers, and the argument checks.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { AwsGatewayGroup, type AwsGatewayGroupArgs } from '../../components/aws/gateway-group';
import { awsMockOptions } from '../../components/aws/testing';
import { HEALTH_GATE_TYPE } from '../../components/health-gate';
import { WIREGUARD_KEY_PAIR_TYPE, wireGuardKeyPairFromEntropy } from '../../components/key';
import { isSecretInput, resolve, setupMocks, unwrapSecrets, type MockRecorder } from '../../components/testing';
import { agentConfig } from './aws-support';

function groupArgs(overrides: Partial<AwsGatewayGroupArgs> = {}): AwsGatewayGroupArgs {
  return {
    siteName: 'site-a',
    vpcId: 'vpc-0a',
    subnets: [
      { subnetId: 'subnet-a', routeTableIds: ['rtb-a'] },
      { subnetId: 'subnet-b', routeTableIds: ['rtb-b'] },
      { subnetId: 'subnet-c', routeTableIds: ['rtb-c'] },
    ],
    remoteCidrs: ['10.20.0.0/16'],
    peerCidrs: ['203.0.113.7/32'],
    agent: { package: 'wiremesh@0.1.0', config: agentConfig },
    ...overrides,
  };
}

async function build(
  overrides: Partial<AwsGatewayGroupArgs> = {},
  opts: pulumi.ComponentResourceOptions = {},
): Promise<{ mocks: MockRecorder; group: AwsGatewayGroup }> {
  const mocks = setupMocks(awsMockOptions());
  const group = new AwsGatewayGroup('site-a', groupArgs(overrides), opts);
  await Promise.all([resolve(group.endpoint), resolve(group.instanceIds), resolve(group.gateway.configSecretArn)]);
  await mocks.settle();
  return { mocks, group };
}

describe('AwsGatewayGroup', () => {
  test('failover (the default): one document naming every member, ReplaceRoute on exactly the route tables, /active checks, every gateway a target', async () => {
    const { mocks, group } = await build({ failover: { probeIntervalSeconds: 1 } });
    const enis = mocks.byType('aws:ec2/networkInterface:NetworkInterface');
    const document = JSON.parse(
      unwrapSecrets(
        mocks.byType('aws:secretsmanager/secretVersion:SecretVersion').find((v) => v.name.endsWith('-config-version'))!
          .inputs.secretString,
      ) as string,
    ) as { failover: Record<string, unknown> };
    expect(document.failover).toEqual({
      provider: 'aws-ec2',
      region: 'eu-west-1',
      members: enis.map((eni) => ({ networkInterfaceId: eni.id, address: eni.state!.privateIp })),
      routeTableIds: ['rtb-a', 'rtb-b', 'rtb-c'],
      destinations: ['10.20.0.0/16'],
      probeIntervalSeconds: 1,
    });
    // Least IAM: ReplaceRoute on exactly the group's route tables; DescribeRouteTables has no resource scoping.
    const policy = mocks.one('aws:iam/rolePolicy:RolePolicy', 'site-a-gateway-failover');
    expect(JSON.parse(policy.inputs.policy as string)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'MoveGroupRoutes',
          Effect: 'Allow',
          Action: 'ec2:ReplaceRoute',
          Resource: ['rtb-a', 'rtb-b', 'rtb-c'].map((id) => `arn:aws:ec2:eu-west-1:123456789012:route-table/${id}`),
        },
        { Sid: 'ReadRouteTables', Effect: 'Allow', Action: 'ec2:DescribeRouteTables', Resource: '*' },
      ],
    });
    expect(policy.inputs.role).toBe(mocks.one('aws:iam/role:Role', 'site-a-gateway-role').id);
    // Every instance waits for the grant; the routes (at the first ENI at creation) are the agents' to move.
    for (const instance of mocks.byType('aws:ec2/instance:Instance'))
      expect(instance.dependencies).toContain(policy.urn);
    for (const route of mocks.byType('aws:ec2/route:Route')) {
      expect(route.inputs.networkInterfaceId).toBe(enis[0]!.id);
      expect(route.ignoreChanges).toEqual(['networkInterfaceId']);
    }
    const targetGroup = mocks.one('aws:lb/targetGroup:TargetGroup');
    expect(targetGroup.inputs.healthCheck).toMatchObject({ protocol: 'HTTP', path: '/active', matcher: '200' });
    expect(mocks.byType('aws:lb/targetGroupAttachment:TargetGroupAttachment').map((a) => a.inputs.targetId)).toEqual(
      await resolve(group.instanceIds),
    );
  });

  test('failover: TCP health checks and bad settings are refused, naming the argument', async () => {
    await expect(build({ healthCheckProtocol: 'TCP' })).rejects.toThrow(
      /healthCheckProtocol "TCP" cannot tell the active/,
    );
    await expect(build({ failover: { failedProbes: 0 } })).rejects.toThrow(
      /failover\.failedProbes must be a whole number from 1 to 20, got 0/,
    );
    await expect(build({ failover: { probeEvery: 1 } as never })).rejects.toThrow(
      /failover\.probeEvery is not a failover setting/,
    );
  });

  test('rolling replacement: instance i waits until instance i-1 serves as NLB target, each delete-first on its fixed ENI', async () => {
    const { mocks } = await build();
    const instances = mocks.byType('aws:ec2/instance:Instance');
    const gates = mocks.byType(HEALTH_GATE_TYPE);
    const targetGroup = mocks.one('aws:lb/targetGroup:TargetGroup');
    expect(gates).toHaveLength(instances.length);
    instances.forEach((instance, i) => {
      expect(instance.deleteBeforeReplace).toBe(true);
      const others = [...instances, ...gates].filter((o) => o !== instance);
      // Instance i is registered (created, or replaced) only after gate i-1 (instance i-1 serves), and after no other.
      expect(others.filter((o) => instance.dependencies.includes(o.urn!)).map((o) => o.name)).toEqual(
        i === 0 ? [] : [`site-a-gateway-serving-${i - 1}`],
      );
      // Through dependsOn only: no input of it comes from another instance or gate, so the engine does not
      // delete it along with a replaced predecessor (only property dependents cascade a delete-before-replace).
      for (const o of others) expect(JSON.stringify(instance.inputs)).not.toContain(o.id!);
      // Every member boots the same references (the same key, document and agent).
      expect(instance.inputs.userData).toBe(instances[0]!.inputs.userData);
      // Failover: every instance is a target checked with GET /active; a standby's 503 means its agent answers.
      expect(gates[i]!.inputs.check).toEqual({
        kind: 'aws-target-health',
        region: 'eu-west-1',
        instanceId: instance.id,
        targetGroupArn: targetGroup.state!.arn,
        port: 51820,
        standbyAnswers: true,
      });
      expect(gates[i]!.dependencies).toEqual(expect.arrayContaining([instance.urn, targetGroup.urn]));
    });
    expect(instances[0]!.dependencies.some((urn) => urn.includes('serving-'))).toBe(false);
    const order = mocks.resources.map((r) => r.name);
    expect(order.indexOf('site-a-gateway-serving-0')).toBeLessThan(order.indexOf('site-a-gateway-instance-1'));
    expect(order.indexOf('site-a-gateway-serving-1')).toBeLessThan(order.indexOf('site-a-gateway-instance-2'));
  });

  test('rolling replacement without failover: the one target must be healthy, the others pass EC2 status checks', async () => {
    const { mocks } = await build({ failover: false });
    const gates = mocks.byType(HEALTH_GATE_TYPE);
    expect(gates.map((g) => g.inputs.check.kind)).toEqual([
      'aws-target-health',
      'aws-instance-status',
      'aws-instance-status',
    ]);
    expect(gates[0]!.inputs.check.standbyAnswers).toBe(false);
  });

  test('without failover: every route table points at the first gateway, one NLB target', async () => {
    const { mocks } = await build({ failover: false });
    const enis = mocks.byType('aws:ec2/networkInterface:NetworkInterface');
    const routes = mocks.byType('aws:ec2/route:Route');
    expect(routes.map((r) => r.inputs.routeTableId).sort()).toEqual(['rtb-a', 'rtb-b', 'rtb-c']);
    for (const route of routes) expect(route.inputs.networkInterfaceId).toBe(enis[0]!.id);
    expect(mocks.byType('aws:lb/targetGroupAttachment:TargetGroupAttachment')).toHaveLength(1);
  });

  test('the shared document has no peer endpoints: no instance of the group initiates', async () => {
    const { mocks } = await build({
      agent: {
        package: 'wiremesh@0.1.0',
        config: { ...agentConfig, peers: agentConfig.peers.map((peer) => ({ ...peer, endpoint: '192.0.2.9:51820' })) },
      },
    });
    const documents = mocks
      .byType('aws:secretsmanager/secretVersion:SecretVersion')
      .filter((v) => v.name.endsWith('-config-version'));
    expect(documents).toHaveLength(1);
    const document = JSON.parse(unwrapSecrets(documents[0]!.inputs.secretString) as string) as {
      peers: Array<Record<string, unknown>>;
    };
    expect(document.peers.length).toBeGreaterThan(0);
    for (const peer of document.peers) expect(peer.endpoint).toBeUndefined();
  });

  test('given NLB Elastic IPs are mapped, and must be one per NLB subnet', async () => {
    const loadBalancerAddresses = ['a', 'b', 'c'].map((x) => ({
      allocationId: `eipalloc-kept-${x}`,
      publicIp: `192.0.2.${x.charCodeAt(0)}`,
    }));
    const { mocks, group } = await build({ loadBalancerAddresses });
    expect(mocks.byType('aws:ec2/eip:Eip').filter((e) => e.name.includes('-nlb-eip-'))).toHaveLength(0);
    expect(
      (mocks.one('aws:lb/loadBalancer:LoadBalancer').inputs.subnetMappings as Array<{ allocationId: string }>).map(
        (m) => m.allocationId,
      ),
    ).toEqual(loadBalancerAddresses.map((a) => a.allocationId));
    expect(await resolve(group.loadBalancerAddresses)).toEqual(loadBalancerAddresses.map((a) => a.publicIp));
    setupMocks(awsMockOptions());
    expect(
      () => new AwsGatewayGroup('site-a', groupArgs({ loadBalancerAddresses: loadBalancerAddresses.slice(1) })),
    ).toThrow('loadBalancerAddresses must give one Elastic IP per load balancer subnet (3)');
  });

  test('the gateways of the group share one key: one WireGuardKey, one AwsKeySecret', async () => {
    const { mocks, group } = await build();
    expect(mocks.byType('wiremesh:keys:WireGuardKey')).toHaveLength(1);
    expect(mocks.byType(WIREGUARD_KEY_PAIR_TYPE).length).toBeGreaterThanOrEqual(1); // two during an overlap
    expect(mocks.byType('wiremesh:aws:AwsKeySecret')).toHaveLength(1);
    expect(mocks.byType('wiremesh:aws:AwsGateway')).toHaveLength(1);
    const keyVersions = mocks
      .byType('aws:secretsmanager/secretVersion:SecretVersion')
      .filter((v) => /-key-version-g\d+$/.test(v.name));
    // One version per generation (two during a rotation's overlap), of one secret.
    expect(keyVersions.length).toBeGreaterThanOrEqual(1);
    expect(new Set(keyVersions.map((v) => JSON.stringify(v.inputs.secretId))).size).toBe(1);
    expect(isSecretInput(keyVersions[0]!.inputs.secretString)).toBe(true);
    // Every instance boots from the same key secret (and the same config secret).
    const keyArn = await resolve(group.keySecret.arn);
    const instances = mocks.byType('aws:ec2/instance:Instance');
    expect(instances).toHaveLength(3);
    for (const instance of instances) expect(instance.inputs.userData).toContain(keyArn);
    expect(new Set(instances.map((i) => i.inputs.userData)).size).toBe(1);
    expect(await resolve(group.publicKey)).toBe(unwrapSecrets(mocks.one(WIREGUARD_KEY_PAIR_TYPE).state!.publicKey));
    expect(await resolve(group.gateway.keySecretArn)).toBe(keyArn);
    // The group's key secret is a child of the group, the gateway makes none of its own.
    expect(mocks.one('wiremesh:aws:AwsKeySecret').parent).toBe(mocks.one('wiremesh:aws:AwsGatewayGroup').urn);
  });

  test('an internet-facing NLB with a UDP listener forwarding to a UDP target group (without failover: TCP checks, one target)', async () => {
    const { mocks, group } = await build({ failover: false });
    const nlb = mocks.one('aws:lb/loadBalancer:LoadBalancer');
    expect(nlb.inputs).toMatchObject({
      loadBalancerType: 'network',
      internal: false,
      ipAddressType: 'ipv4',
      enableCrossZoneLoadBalancing: true,
    });
    // Static addresses: one Elastic IP per NLB subnet through subnet mappings.
    const nlbEips = mocks.byType('aws:ec2/eip:Eip').filter((e) => e.name.startsWith('site-a-nlb-eip-'));
    expect(nlbEips.map((e) => e.name)).toEqual(['site-a-nlb-eip-0', 'site-a-nlb-eip-1', 'site-a-nlb-eip-2']);
    expect(nlb.inputs.subnetMappings).toEqual(
      ['subnet-a', 'subnet-b', 'subnet-c'].map((subnetId, i) => ({
        subnetId,
        allocationId: nlbEips[i]!.state!.allocationId,
      })),
    );
    expect(nlb.inputs.subnets).toBeUndefined();
    expect(await resolve(group.loadBalancerAddresses)).toEqual(nlbEips.map((e) => e.state!.publicIp));
    const targetGroup = mocks.one('aws:lb/targetGroup:TargetGroup');
    expect(targetGroup.inputs).toMatchObject({
      protocol: 'UDP',
      port: 51820,
      targetType: 'instance',
      vpcId: 'vpc-0a',
      connectionTermination: true,
    });
    expect(targetGroup.inputs.healthCheck).toEqual({
      enabled: true,
      protocol: 'TCP',
      port: '9587',
      interval: 10,
      timeout: 5,
      healthyThreshold: 2,
      unhealthyThreshold: 2,
    });
    const instanceIds = mocks.byType('aws:ec2/instance:Instance').map((i) => i.id);
    const attachments = mocks.byType('aws:lb/targetGroupAttachment:TargetGroupAttachment');
    // Without failover: one target, the first gateway (the one holder of the key's sessions).
    expect(attachments.map((a) => a.inputs)).toEqual([
      { targetGroupArn: targetGroup.state!.arn, targetId: instanceIds[0], port: 51820 },
    ]);
    expect(await resolve(group.activeInstanceId)).toBe(instanceIds[0]);
    expect(await resolve(group.instanceIds)).toEqual(instanceIds);
    const listener = mocks.one('aws:lb/listener:Listener');
    expect(listener.inputs).toMatchObject({
      loadBalancerArn: nlb.state!.arn,
      port: 51820,
      protocol: 'UDP',
      defaultActions: [{ type: 'forward', targetGroupArn: targetGroup.state!.arn }],
    });
    // The health port is open to the VPC (where the NLB nodes are), WireGuard only to the peers.
    const ingress = mocks.one('aws:ec2/securityGroup:SecurityGroup').inputs.ingress as Array<Record<string, unknown>>;
    expect(ingress.map((r) => [r.protocol, r.fromPort, r.cidrBlocks])).toEqual([
      ['udp', 51820, ['203.0.113.7/32']],
      ['tcp', 9587, ['10.0.0.0/16']],
    ]);
    expect(await resolve(group.dnsName)).toBe('site-a-nlb-0123456789abcdef.elb.eu-west-1.amazonaws.com');
    expect(await resolve(group.endpoint)).toBe('site-a-nlb-0123456789abcdef.elb.eu-west-1.amazonaws.com:51820');
  });

  test('custom ports, HTTP health checks on /healthz, cross-zone off, own NLB subnets', async () => {
    const { mocks, group } = await build({
      listenPort: 51999,
      healthPort: 8080,
      healthCheckProtocol: 'HTTP',
      healthCheckIntervalSeconds: 5,
      crossZoneLoadBalancing: false,
      failover: false,
      loadBalancerSubnetIds: ['subnet-pa', 'subnet-pb'],
    });
    expect(mocks.one('aws:lb/loadBalancer:LoadBalancer').inputs).toMatchObject({ enableCrossZoneLoadBalancing: false });
    expect(
      (mocks.one('aws:lb/loadBalancer:LoadBalancer').inputs.subnetMappings as Array<{ subnetId: string }>).map(
        (m) => m.subnetId,
      ),
    ).toEqual(['subnet-pa', 'subnet-pb']);
    const targetGroup = mocks.one('aws:lb/targetGroup:TargetGroup');
    expect(targetGroup.inputs.port).toBe(51999);
    expect(targetGroup.inputs.healthCheck).toMatchObject({
      protocol: 'HTTP',
      port: '8080',
      path: '/healthz',
      matcher: '200',
      interval: 5,
      timeout: 4,
    });
    expect(mocks.byType('aws:lb/targetGroupAttachment:TargetGroupAttachment').map((a) => a.inputs.port)).toEqual([
      51999,
    ]);
    expect(mocks.one('aws:lb/listener:Listener').inputs.port).toBe(51999);
    expect(await resolve(group.endpoint)).toMatch(/:51999$/);
  });

  test('a given private key: no WireGuardKey, still one secret, secret everywhere', async () => {
    const pair = wireGuardKeyPairFromEntropy(new Uint8Array(32).fill(3));
    const { mocks, group } = await build({
      key: { privateKey: pulumi.secret(pair.privateKey), createdAt: '2025-03-01T00:00:00.000Z' },
    });
    expect(mocks.byType('wiremesh:keys:WireGuardKey')).toEqual([]);
    expect(mocks.byType('wiremesh:aws:AwsKeySecret')).toHaveLength(1);
    for (const resource of mocks.resources) {
      const text = JSON.stringify(unwrapSecrets(resource.inputs));
      if (text.includes(pair.privateKey)) {
        expect(resource.type).toBe('aws:secretsmanager/secretVersion:SecretVersion');
        expect(isSecretInput(resource.inputs.secretString)).toBe(true);
      }
    }
    expect(await resolve(group.publicKey)).toBe(pair.publicKey);
  });

  test('a provider passed in options reaches every child, through the gateway and the key secret', async () => {
    const mocks = setupMocks(awsMockOptions());
    const provider = new aws.Provider('euw1', { region: 'eu-west-1' });
    const group = new AwsGatewayGroup('site-a', groupArgs(), { providers: [provider] });
    await resolve(group.endpoint);
    await mocks.settle();
    const children = mocks.resources.filter((r) => r.type.startsWith('aws:'));
    expect(children.map((c) => c.type)).toEqual(
      expect.arrayContaining([
        'aws:lb/loadBalancer:LoadBalancer',
        'aws:lb/targetGroup:TargetGroup',
        'aws:lb/listener:Listener',
        'aws:ec2/instance:Instance',
        'aws:secretsmanager/secretVersion:SecretVersion',
      ]),
    );
    for (const child of children)
      expect(`${child.name} ${child.provider}`).toMatch(/ urn:pulumi:stack::project::pulumi:providers:aws::euw1::/);
    for (const invoke of mocks.invokes) expect(invoke.provider).toMatch(/::pulumi:providers:aws::euw1::/);
  });

  describe('argument checks', () => {
    beforeEach(() => setupMocks(awsMockOptions()));
    const label = 'AwsGatewayGroup "g"';

    test.each<[string, Partial<AwsGatewayGroupArgs> & Record<string, unknown>, string]>([
      [
        'no subnets',
        { subnets: [] },
        `${label}: subnets must list at least one subnet (one gateway instance runs in each)`,
      ],
      [
        'a UDP health check',
        { healthCheckProtocol: 'UDP' as never },
        `${label}: healthCheckProtocol must be "TCP" or "HTTP" (NLB health checks cannot use UDP), got "UDP"`,
      ],
      [
        'a 1-second health check interval',
        { healthCheckIntervalSeconds: 1 },
        `${label}: healthCheckIntervalSeconds must be a whole number from 5 to 300, got 1`,
      ],
      [
        'a deregistration delay of a day',
        { deregistrationDelaySeconds: 86400 },
        `${label}: deregistrationDelaySeconds must be a whole number from 0 to 3600, got 86400`,
      ],
      [
        'repeated NLB subnets',
        { loadBalancerSubnetIds: ['subnet-a', 'subnet-a'] },
        `${label}: loadBalancerSubnetIds repeat a subnet`,
      ],
      [
        'a port out of range',
        { listenPort: 65536 },
        `${label}: listenPort must be a whole number from 1 to 65535, got 65536`,
      ],
      [
        'overlapping remote CIDRs',
        { remoteCidrs: ['10.20.0.0/16', '10.20.5.0/24'] },
        `${label}: remoteCidrs overlap: remoteCidrs[0] 10.20.0.0/16 and remoteCidrs[1] 10.20.5.0/24`,
      ],
      [
        'a key secret of its own',
        { keySecret: {} as never },
        `${label}: keySecret is the group's own (one key for every gateway); give key or nothing`,
      ],
    ])('refuses %s', (_what, overrides, message) => {
      expect(() => new AwsGatewayGroup('g', groupArgs(overrides))).toThrow(message);
    });
  });
});
