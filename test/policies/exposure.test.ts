/**
 * Exposure: wiremesh-gateway-ingress, wiremesh-no-public-admin-ports, wiremesh-gateway-imdsv2 and
 * wiremesh-forwarding-only-on-gateways on the recorded component stack (compliant) and on
 * violating variants, recorded and hand-written.
 */
import { runPolicies, type RunnerResource, type Violation } from '../../policies/run';
import { componentStack, withProps } from './stacks';

let stack: RunnerResource[];
let now: Date;

beforeAll(async () => ({ stack, now } = await componentStack()), 60_000);

function run(resources: RunnerResource[], policy: string, config: Record<string, unknown> = {}): Violation[] {
  return runPolicies(resources, { now, config }).filter((v) => v.policyName === policy);
}
const messages = (violations: Violation[]) => violations.map((v) => v.message);
const sg = (name: string, ingress: unknown[], tags: Record<string, string> = {}): RunnerResource => ({
  type: 'aws:ec2/securityGroup:SecurityGroup',
  name,
  props: { ingress, tags },
});
const firewall = (name: string, props: Record<string, unknown>): RunnerResource => ({
  type: 'gcp:compute/firewall:Firewall',
  name,
  props: { network: 'vpc', ...props },
});

describe('wiremesh-gateway-ingress', () => {
  const P = 'wiremesh-gateway-ingress';

  test('the component stack passes: WireGuard, health and private forwarding rules only', () => {
    expect(run(stack, P)).toEqual([]);
  });

  test('an extra port on a recorded gateway security group and firewall is reported, with what to change', () => {
    const variant = withProps(
      withProps(stack, 'site-a-sg', (p) => ({
        ...p,
        ingress: [...p.ingress, { protocol: 'tcp', fromPort: 443, toPort: 443, cidrBlocks: ['10.0.0.0/8'] }],
      })),
      'site-b-wg',
      (p) => ({ ...p, allows: [...p.allows, { protocol: 'tcp', ports: ['8080-8090'] }] }),
    );
    expect(messages(run(variant, P))).toEqual([
      'gateway security group "site-a-sg" (part of a wiremesh:aws:AwsGateway component) ingress[3] opens tcp 443 from 10.0.0.0/8: a gateway opens only WireGuard (udp 51820) ' +
        'and the agent health port (tcp 9587), plus all traffic from private ranges it forwards. Remove the rule (administer through SSM Session Manager, which needs no inbound rule), ' +
        'list your own admin ranges in allowedAdminRanges, or, if it is the WireGuard or health port moved elsewhere, list the port in wireguardPorts/healthPorts.',
      expect.stringMatching(
        /^gateway firewall "site-b-wg" \(part of a wiremesh:gcp:GcpGateway component\) allows\[1\] opens tcp 8080-8090 from 198\.51\.100\.7\/32/,
      ),
    ]);
  });

  test('hand-written gateway rules (tag, network tag): a moved WireGuard port, public forwarding; ports are configurable', () => {
    const resources = [
      sg(
        'manual-gw',
        [
          { protocol: 'udp', fromPort: 51821, toPort: 51821, cidrBlocks: ['0.0.0.0/0'] },
          { protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: ['0.0.0.0/0'] },
        ],
        { 'wiremesh:role': 'gateway' },
      ),
      firewall('manual-fw', {
        targetTags: ['wiremesh-gateway'],
        allows: [
          { protocol: 'udp', ports: ['51820'] },
          { protocol: 'tcp', ports: ['9587'] },
        ],
        sourceRanges: ['203.0.113.0/24'],
      }),
      sg('not-a-gateway', [{ protocol: 'tcp', fromPort: 443, toPort: 443, cidrBlocks: ['0.0.0.0/0'] }]),
      {
        type: 'aws:ec2/securityGroupRule:SecurityGroupRule',
        name: 'rule',
        props: {
          type: 'ingress',
          protocol: 'tcp',
          fromPort: 80,
          toPort: 80,
          cidrBlocks: ['10.0.0.0/8'],
          tags: { 'wiremesh:role': 'gateway' },
        },
      },
    ] as RunnerResource[];
    expect(run(resources, P).map((v) => [v.resourceName, v.message.match(/opens ([^:]+):/)![1]])).toEqual([
      ['manual-gw', 'udp 51821 from 0.0.0.0/0'],
      ['manual-gw', 'all traffic from 0.0.0.0/0'],
      ['rule', 'tcp 80 from 10.0.0.0/8'],
    ]);
    // Port 51821 allowed instead of 51820: manual-gw keeps only its public all-traffic rule, manual-fw's 51820 is now refused.
    expect(
      run(resources, P, { [P]: { wireguardPorts: [51821], allowForwarding: false } }).map((v) => v.resourceName),
    ).toEqual(['manual-gw', 'manual-fw', 'rule']);
    expect(run(resources, P, { [P]: { scope: 'all' } }).map((v) => v.resourceName)).toContain('not-a-gateway');
  });
});

describe('wiremesh-no-public-admin-ports', () => {
  const P = 'wiremesh-no-public-admin-ports';

  test('the component stack passes', () => {
    expect(run(stack, P)).toEqual([]);
  });

  test('SSH/RDP from anywhere on any security group, rule or firewall (including a source-less GCP rule)', () => {
    const resources = [
      sg('bastion', [
        { protocol: 'tcp', fromPort: 22, toPort: 22, cidrBlocks: ['0.0.0.0/0'] },
        { protocol: 'tcp', fromPort: 22, toPort: 22, cidrBlocks: ['198.51.100.0/24'] },
      ]),
      sg('windows', [{ protocol: '-1', fromPort: 0, toPort: 0, ipv6CidrBlocks: ['::/0'] }]),
      {
        type: 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule',
        name: 'range',
        props: { ipProtocol: 'tcp', fromPort: 20, toPort: 25, cidrIpv4: '0.0.0.0/0' },
      },
      firewall('no-source', { allows: [{ protocol: 'tcp', ports: ['22', '3389'] }] }),
      firewall('scoped', { allows: [{ protocol: 'tcp', ports: ['22'] }], sourceRanges: ['35.235.240.0/20'] }),
      firewall('egress', {
        direction: 'EGRESS',
        allows: [{ protocol: 'tcp', ports: ['22'] }],
        destinationRanges: ['0.0.0.0/0'],
      }),
    ] as RunnerResource[];
    expect(messages(run(resources, P))).toEqual([
      '"bastion" ingress[0] opens SSH (22) to 0.0.0.0/0: remove the rule, or allow only your admin ranges ' +
        '(better: no inbound SSH at all, through SSM Session Manager on AWS, or IAP TCP forwarding on GCP, which needs only 35.235.240.0/20).',
      expect.stringMatching(/^"windows" ingress\[0\] opens SSH \(22\) and RDP \(3389\) to ::\/0:/),
      expect.stringMatching(/^"range" rule opens SSH \(22\) to 0\.0\.0\.0\/0/),
      expect.stringMatching(/^"no-source" allows\[0\] opens SSH \(22\) to 0\.0\.0\.0\/0/),
      expect.stringMatching(/^"no-source" allows\[0\] opens RDP \(3389\) to 0\.0\.0\.0\/0/),
    ]);
  });
});

describe('wiremesh-gateway-imdsv2', () => {
  const P = 'wiremesh-gateway-imdsv2';

  test('the component stack passes (httpTokens required, hop limit 1)', () => {
    expect(run(stack, P)).toEqual([]);
  });

  test('a recorded gateway instance with IMDSv1 or a large hop limit, and a hand-written forwarding instance', () => {
    const variant = withProps(stack, 'site-a-instance-0', (p) => ({
      ...p,
      metadataOptions: { ...p.metadataOptions, httpTokens: 'optional', httpPutResponseHopLimit: 5 },
    }));
    expect(messages(run(variant, P))).toEqual([
      'instance "site-a-instance-0" (gateway: part of a wiremesh:aws:AwsGateway component) allows IMDSv1 (metadataOptions.httpTokens is "optional"): ' +
        'set metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 } so that a forged request cannot read the instance role\'s credentials.',
      'instance "site-a-instance-0" (gateway: part of a wiremesh:aws:AwsGateway component) has metadataOptions.httpPutResponseHopLimit 5: set it to at most 2 (1 unless the agent runs in a container).',
    ]);
    const handWritten: RunnerResource[] = [
      {
        type: 'aws:ec2/instance:Instance',
        name: 'router',
        props: { sourceDestCheck: false, tags: { 'wiremesh:role': 'gateway' } },
      },
      {
        type: 'aws:ec2/launchTemplate:LaunchTemplate',
        name: 'gw-template',
        props: { tags: { 'wiremesh:role': 'gateway' }, metadataOptions: { httpTokens: 'required' } },
      },
      { type: 'aws:ec2/instance:Instance', name: 'web', props: {} },
    ];
    expect(run(handWritten, P).map((v) => [v.resourceName, v.message.split(': set')[0]])).toEqual([
      [
        'router',
        'instance "router" (gateway: tagged wiremesh:role=gateway) allows IMDSv1 (metadataOptions.httpTokens is not set)',
      ],
    ]);
    expect(run(handWritten, P, { [P]: { scope: 'all' } }).map((v) => v.resourceName)).toEqual(['router', 'web']);
  });
});

describe('wiremesh-forwarding-only-on-gateways', () => {
  const P = 'wiremesh-forwarding-only-on-gateways';

  test('the component stack passes (forwarding on its gateway instances and ENIs only)', () => {
    expect(run(stack, P)).toEqual([]);
    expect(
      stack.filter((r) => r.props.sourceDestCheck === false || r.props.canIpForward === true).length,
    ).toBeGreaterThanOrEqual(8);
  });

  test('forwarding on hand-written machines that are not gateways is reported; marked ones pass', () => {
    const resources: RunnerResource[] = [
      { type: 'aws:ec2/instance:Instance', name: 'nat', props: { sourceDestCheck: false } },
      { type: 'aws:ec2/networkInterface:NetworkInterface', name: 'eni', props: { sourceDestCheck: false } },
      { type: 'gcp:compute/instance:Instance', name: 'router', props: { canIpForward: true, tags: ['web'] } },
      {
        type: 'gcp:compute/instanceTemplate:InstanceTemplate',
        name: 'tpl',
        props: { canIpForward: true, labels: { 'wiremesh-role': 'wireguard-gateway' } },
      },
      { type: 'gcp:compute/instance:Instance', name: 'gw', props: { canIpForward: true, tags: ['wiremesh-gateway'] } },
    ];
    const found = run(resources, P);
    expect(found.map((v) => v.resourceName)).toEqual(['nat', 'eni', 'router']);
    expect(found[0]!.message).toBe(
      'Instance "nat" sets sourceDestCheck: false but is not a WireGuard gateway: remove sourceDestCheck: false (it lets the machine send and receive packets for other addresses), ' +
        'or, if it is a gateway, create it with our gateway components or mark it (AWS tag wiremesh:role=gateway, GCP label wiremesh-role=wireguard-gateway or network tag wiremesh-gateway).',
    );
  });

  test('a recorded gateway instance moved out of its component (no tag, no parent) is reported', () => {
    const moved = stack
      .filter((r) => r.name === 'site-b-0')
      .map((r) => ({ type: r.type, name: r.name, props: { ...r.props, tags: [], labels: {} } }));
    expect(run(moved, P).map((v) => v.resourceName)).toEqual(['site-b-0']);
  });
});

describe('wiremesh-gateway-attached-ingress: hand-written ingress aimed at a gateway', () => {
  const P = 'wiremesh-gateway-attached-ingress';
  const sgRule = (name: string, props: Record<string, unknown>): RunnerResource => ({
    type: 'aws:ec2/securityGroupRule:SecurityGroupRule',
    name,
    props: { type: 'ingress', ...props },
  });

  test('the component stack passes', () => {
    expect(run(stack, P)).toEqual([]);
  });

  test('rules on a gateway security group (by id, or by property dependency at preview), an extra group attached to a gateway instance', () => {
    const sshRule = sgRule('ssh', {
      protocol: 'tcp',
      fromPort: 22,
      toPort: 22,
      cidrBlocks: ['198.51.100.0/24'],
      securityGroupId: 'site-a-sg-id',
    });
    const vpcRule = {
      type: 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule',
      name: 'https',
      props: {
        ipProtocol: 'tcp',
        fromPort: 443,
        toPort: 443,
        cidrIpv4: '10.1.0.0/16',
        securityGroupId: 'site-a-sg-id',
      },
    };
    const wgRule = sgRule('wg-extra', {
      protocol: 'udp',
      fromPort: 51820,
      toPort: 51820,
      cidrBlocks: ['0.0.0.0/0'],
      securityGroupId: 'site-a-sg-id',
    });
    const atPreview = {
      ...sgRule('preview', {
        protocol: 'tcp',
        fromPort: 8080,
        toPort: 8080,
        cidrBlocks: ['10.0.0.0/8'],
        securityGroupId: '04da6b54-80e4-46f7-96ec-b56ff0331ba9',
      }),
      propertyDependencies: { securityGroupId: ['site-a-sg'] },
    };
    const extraSg: RunnerResource = {
      type: 'aws:ec2/securityGroup:SecurityGroup',
      name: 'admin-sg',
      props: {
        id: 'sg-admin',
        ingress: [{ protocol: 'tcp', fromPort: 3389, toPort: 3389, cidrBlocks: ['192.0.2.0/24'] }],
      },
    };
    const other = sgRule('elsewhere', {
      protocol: 'tcp',
      fromPort: 22,
      toPort: 22,
      cidrBlocks: ['198.51.100.0/24'],
      securityGroupId: 'sg-web',
    });
    const resources = withProps(
      [...stack, sshRule, vpcRule, wgRule, atPreview, extraSg, other],
      'site-a-instance-0',
      (p) => ({ ...p, vpcSecurityGroupIds: ['site-a-sg-id', 'sg-admin'] }),
    );
    const found = run(resources, P);
    expect(found.map((v) => [v.resourceName, v.enforcementLevel, v.message.match(/opens ([^:]+):/)?.[1]])).toEqual([
      ['ssh', 'mandatory', 'tcp 22 from 198.51.100.0/24'],
      ['https', 'mandatory', 'tcp 443 from 10.1.0.0/16'],
      ['preview', 'mandatory', 'tcp 8080 from 10.0.0.0/8'],
      ['admin-sg', 'mandatory', 'tcp 3389 from 192.0.2.0/24'],
    ]);
    expect(found[0]!.message).toMatch(
      /^security group rule "ssh" \(a rule of the gateway security group "site-a-sg"\) rule opens tcp 22 from 198\.51\.100\.0\/24: a gateway opens only WireGuard/,
    );
    expect(found[3]!.message).toMatch(
      /^security group "admin-sg" \(attached to a gateway as security group "admin-sg" of the gateway "site-a-instance-0"\) ingress\[0\]/,
    );
    // The same admin range allowed by config passes.
    expect(
      run(resources, P, { [P]: { allowedAdminRanges: ['192.0.2.0/24', '198.51.100.0/24'] } }).map(
        (v) => v.resourceName,
      ),
    ).toEqual(['https', 'preview']);
    // The same rules are not checked by the single-resource policy, which cannot see the reference.
    expect(run(resources, 'wiremesh-gateway-ingress')).toEqual([]);
  });

  test('GCP firewalls aimed at a gateway by one of its network tags or its service account', () => {
    const gatewaySa = String(
      (stack.find((r) => r.name === 'site-b-0')!.props.serviceAccount as { email: string }).email,
    );
    const resources = withProps(
      [
        ...stack,
        {
          type: 'gcp:compute/firewall:Firewall',
          name: 'by-tag',
          props: {
            network: 'vpc',
            targetTags: ['ops'],
            allows: [{ protocol: 'tcp', ports: ['8443'] }],
            sourceRanges: ['10.0.0.0/8'],
          },
        },
        {
          type: 'gcp:compute/firewall:Firewall',
          name: 'by-sa',
          props: {
            network: 'vpc',
            targetServiceAccounts: [gatewaySa],
            allows: [{ protocol: 'tcp', ports: ['22'] }],
            sourceRanges: ['203.0.113.0/24'],
          },
        },
        {
          type: 'gcp:compute/firewall:Firewall',
          name: 'iap',
          props: {
            network: 'vpc',
            targetServiceAccounts: [gatewaySa],
            allows: [{ protocol: 'tcp', ports: ['22'] }],
            sourceRanges: ['35.235.240.0/20'],
          },
        },
        {
          type: 'gcp:compute/firewall:Firewall',
          name: 'web',
          props: {
            network: 'vpc',
            targetTags: ['web'],
            allows: [{ protocol: 'tcp', ports: ['443'] }],
            sourceRanges: ['0.0.0.0/0'],
          },
        },
      ],
      'site-b-0',
      (p) => ({ ...p, tags: [...(p.tags ?? []), 'ops'] }),
    );
    expect(
      run(resources, P).map((v) => [v.resourceName, v.message.match(/^firewall "[^"]+" \(([^)]+)\)/)?.[1]]),
    ).toEqual([
      ['by-tag', 'targets the network tag ops of the gateway "site-b-0"'],
      ['by-sa', `targets the service account ${gatewaySa} of the gateway "site-b-0"`],
    ]);
  });

  test('at preview (emails and ids unknown): a firewall and a launch template found through property dependencies', () => {
    const UNKNOWN = '04da6b54-80e4-46f7-96ec-b56ff0331ba9';
    const resources: RunnerResource[] = [
      { type: 'gcp:serviceaccount/account:Account', name: 'gw-sa', props: { accountId: 'gw', email: UNKNOWN } },
      {
        type: 'gcp:compute/instance:Instance',
        name: 'gw',
        props: { tags: ['wiremesh-gateway'], canIpForward: true, serviceAccount: { email: UNKNOWN } },
        propertyDependencies: { serviceAccount: ['gw-sa'] },
      },
      {
        ...firewall('admin', {
          targetServiceAccounts: [UNKNOWN],
          allows: [{ protocol: 'tcp', ports: ['22'] }],
          sourceRanges: ['203.0.113.0/24'],
        }),
        propertyDependencies: { targetServiceAccounts: ['gw-sa'] },
      },
      {
        type: 'aws:ec2/securityGroup:SecurityGroup',
        name: 'ops-sg',
        props: {
          id: UNKNOWN,
          ingress: [{ protocol: 'tcp', fromPort: 9100, toPort: 9100, cidrBlocks: ['10.0.0.0/8'] }],
        },
      },
      {
        type: 'aws:ec2/launchTemplate:LaunchTemplate',
        name: 'gw-lt',
        props: {
          tags: { 'wiremesh:role': 'gateway' },
          metadataOptions: { httpTokens: 'required' },
          vpcSecurityGroupIds: [UNKNOWN],
        },
        propertyDependencies: { vpcSecurityGroupIds: ['ops-sg'] },
      },
    ];
    expect(run(resources, P).map((v) => [v.resourceName, v.message.match(/\(([^)]+)\) \S+ opens/)?.[1]])).toEqual([
      ['admin', 'targets the service account of the gateway "gw"'],
      ['ops-sg', 'attached to a gateway as security group "ops-sg" of the gateway "gw-lt"'],
    ]);
  });
});

describe('IAP: what the pack recommends for SSH is what it accepts', () => {
  const P = 'wiremesh-gateway-ingress';
  const fw = (name: string, sourceRanges: string[], ports = ['22']) =>
    firewall(name, { targetTags: ['wiremesh-gateway'], allows: [{ protocol: 'tcp', ports }], sourceRanges });

  test('SSH to a GCP gateway from the IAP range passes by default; from elsewhere it is refused with the IAP advice', () => {
    const found = run(
      [
        fw('iap', ['35.235.240.0/20']),
        fw('iap-part', ['35.235.241.0/24']),
        fw('wide', ['35.235.240.0/20', '203.0.113.0/24']),
        fw('iap-https', ['35.235.240.0/20'], ['443']),
      ],
      P,
    );
    expect(found.map((v) => v.resourceName)).toEqual(['wide', 'iap-https']);
    expect(found[0]!.message).toContain(
      'Remove the rule (administer through IAP TCP forwarding, whose rule allows only 35.235.240.0/20)',
    );
    expect(found[0]!.message).toContain('plus admin ports (tcp 22, 3389) from 35.235.240.0/20');
  });

  test('allowIapTcpForwarding: false refuses it; allowedAdminRanges admits a bastion range on AWS and GCP; AWS has no IAP default', () => {
    expect(
      run([fw('iap', ['35.235.240.0/20'])], P, { [P]: { allowIapTcpForwarding: false } }).map((v) => v.resourceName),
    ).toEqual(['iap']);
    const bastion = sg('gw', [{ protocol: 'tcp', fromPort: 22, toPort: 22, cidrBlocks: ['192.0.2.10/32'] }], {
      'wiremesh:role': 'gateway',
    });
    const iapOnAws = sg('gw-iap', [{ protocol: 'tcp', fromPort: 22, toPort: 22, cidrBlocks: ['35.235.240.0/20'] }], {
      'wiremesh:role': 'gateway',
    });
    expect(run([bastion, iapOnAws], P).map((v) => v.resourceName)).toEqual(['gw', 'gw-iap']);
    expect(
      run([bastion, iapOnAws, fw('bastion', ['192.0.2.10/32'])], P, {
        [P]: { allowedAdminRanges: ['192.0.2.0/24'] },
      }).map((v) => v.resourceName),
    ).toEqual(['gw-iap']);
  });
});
