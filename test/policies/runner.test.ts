/**
 * The offline runner (policies/run.ts) and the pack's shape: config and enforcement levels, URNs
 * built from parents, secrets and preview unknowns handled as the analyzer server does, the
 * policy list's names and schemas, and the constants mirrored from the components.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Policies } from '@pulumi/policy';
import {
  AWS_TAG_KEY_CREATED_AT as TAG_KEY_CREATED_AT,
  AWS_TAG_ROLE as TAG_ROLE,
  AWS_TAG_SITE as TAG_SITE,
  GCP_ANNOTATION_KEY_CREATED_AT as ANNOTATION_KEY_CREATED_AT,
  GCP_GATEWAY_NETWORK_TAG as GATEWAY_TAG,
  GCP_LABEL_KEY_CREATED_AT as LABEL_KEY_CREATED_AT,
  GCP_LABEL_ROLE as LABEL_ROLE,
  HEALTH_PORT as AWS_HEALTH_PORT,
  HEALTH_PORT as GCP_HEALTH_PORT,
  WIREGUARD_PORT as AWS_LISTEN_PORT,
  WIREGUARD_PORT as GCP_LISTEN_PORT,
} from '../../common/defaults';
import { keyCreatedAtLabel } from '../../components/gcp/key-secret';
import { DEFAULT_MAX_KEY_AGE_DAYS, WIREGUARD_KEY_PAIR_TYPE } from '../../components/key';
import * as cidr from '../../policies/cidr';
import * as common from '../../policies/common';
import { parseLabelInstant } from '../../policies/key-rotation';
import { policies, POLICY_PACK_NAME } from '../../policies/policies';
import { mandatory, runPolicies, type RunnerResource } from '../../policies/run';
import { componentStack, SOME_PRIVATE_KEY } from './stacks';

const ROOT = path.resolve(__dirname, '../..');
let stack: RunnerResource[];
let now: Date;

beforeAll(async () => ({ stack, now } = await componentStack()), 60_000);

const bastion: RunnerResource = {
  type: 'aws:ec2/securityGroup:SecurityGroup',
  name: 'bastion',
  props: { ingress: [{ protocol: 'tcp', fromPort: 22, toPort: 22, cidrBlocks: ['0.0.0.0/0'] }] },
};

describe('the pack', () => {
  test('policy names are valid, unique and described; config schemas never declare enforcementLevel', () => {
    expect(POLICY_PACK_NAME).toBe('wiremesh');
    const names = policies.map((p) => p.name);
    expect(names).toEqual([
      'wiremesh-key-rotation',
      'wiremesh-rotation-window',
      'wiremesh-revoked-keys',
      'wiremesh-external-key-expiry',
      'wiremesh-key-material',
      'wiremesh-no-keys-in-outputs',
      'wiremesh-key-secret-kms',
      'wiremesh-key-secret-access',
      'wiremesh-gateway-ingress',
      'wiremesh-gateway-attached-ingress',
      'wiremesh-no-public-admin-ports',
      'wiremesh-gateway-imdsv2',
      'wiremesh-forwarding-only-on-gateways',
      'wiremesh-wireguard-hygiene',
    ]);
    expect(new Set(names).size).toBe(names.length);
    for (const p of policies) {
      expect(p.name).toMatch(/^[a-zA-Z0-9-_.]{1,100}$/);
      expect(p.description.length).toBeGreaterThan(20);
      expect(p.enforcementLevel).toBeDefined();
      expect(Object.keys(p.configSchema?.properties ?? {})).not.toContain('enforcementLevel');
      // Every parameter has a default (the runner and the analyzer apply them in code too).
      for (const [name, schema] of Object.entries(p.configSchema?.properties ?? {}))
        expect([p.name, name, (schema as { default?: unknown }).default !== undefined]).toEqual([p.name, name, true]);
    }
  });

  test('no module of the policies library constructs a PolicyPack; policy-pack/ is a self-contained pack of the same version (the built rules, no wiremesh dependency)', () => {
    const dir = path.join(ROOT, 'policies');
    const constructs = (file: string) =>
      /new (\w+\.)?PolicyPack\(/.test(readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, ''));
    expect(readdirSync(dir).filter((f) => f.endsWith('.ts') && constructs(path.join(dir, f)))).toEqual([]);
    expect(readdirSync(dir).filter((f) => /package\.json|PulumiPolicy\.yaml/.test(f))).toEqual([]);
    const packDir = path.join(ROOT, 'policy-pack');
    expect(constructs(path.join(packDir, 'index.js'))).toBe(true);
    const root = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    const pack = JSON.parse(readFileSync(path.join(packDir, 'package.json'), 'utf8'));
    expect([pack.version, pack.main]).toEqual([root.version, 'index.js']);
    expect(pack.dependencies).toEqual({
      '@pulumi/policy': root.devDependencies['@pulumi/policy'],
      '@pulumi/pulumi': root.devDependencies['@pulumi/pulumi'],
    });
    expect(root.exports['./policies'].default).toBe('./dist/policies/policies.js');
    expect(readFileSync(path.join(packDir, 'PulumiPolicy.yaml'), 'utf8')).toMatch(/^runtime: nodejs$/m);
  });

  test("the constants the policies match on are the components' own", () => {
    expect([common.AWS_TAG_ROLE, common.AWS_TAG_KEY_CREATED_AT, common.AWS_TAG_SITE]).toEqual([
      TAG_ROLE,
      TAG_KEY_CREATED_AT,
      TAG_SITE,
    ]);
    expect([
      common.GCP_LABEL_ROLE,
      common.GCP_LABEL_KEY_CREATED_AT,
      common.GCP_ANNOTATION_KEY_CREATED_AT,
      common.GCP_GATEWAY_NETWORK_TAG,
    ]).toEqual([LABEL_ROLE, LABEL_KEY_CREATED_AT, ANNOTATION_KEY_CREATED_AT, GATEWAY_TAG]);
    expect([common.WIREGUARD_KEY_PAIR_TYPE, common.DEFAULT_MAX_KEY_AGE_DAYS]).toEqual([
      WIREGUARD_KEY_PAIR_TYPE,
      DEFAULT_MAX_KEY_AGE_DAYS,
    ]);
    expect([common.WIREGUARD_PORT, common.HEALTH_PORT]).toEqual([AWS_LISTEN_PORT, AWS_HEALTH_PORT]);
    expect([common.WIREGUARD_PORT, common.HEALTH_PORT]).toEqual([GCP_LISTEN_PORT, GCP_HEALTH_PORT]);
    const created = '2025-03-04T05:06:07.000Z';
    expect(parseLabelInstant(keyCreatedAtLabel(created))?.toISOString()).toBe(created);
  });

  test('key shapes: what counts as a WireGuard key and as a clamped private key', () => {
    expect(common.isKeyShaped(SOME_PRIVATE_KEY)).toBe(true);
    expect(common.looksLikePrivateKey(SOME_PRIVATE_KEY)).toBe(true);
    // A public key is key-shaped but (here) not clamped; a 43-character value is neither.
    const publicKey = 'hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=';
    expect(common.isKeyShaped(publicKey)).toBe(true);
    expect(common.looksLikePrivateKey(publicKey)).toBe(false);
    expect(common.isKeyShaped(SOME_PRIVATE_KEY.slice(1))).toBe(false);
    expect(common.keyMaterialIn(`a ${SOME_PRIVATE_KEY} b\n PresharedKey = x`)).toEqual({
      keyShaped: 1,
      privateLooking: 1,
      secretLine: 'PresharedKey =',
    });
    expect(cidr.isPrivateCidr('10.1.0.0/16')).toBe(true);
    expect(cidr.isPrivateCidr('11.0.0.0/8')).toBe(false);
    expect(cidr.isPrivateCidr('fd00:1::/48')).toBe(true);
    expect(cidr.isAnywhere('::/0') && cidr.isAnywhere('0.0.0.0/0') && !cidr.isAnywhere('0.0.0.0/1')).toBe(true);
  });

  test('CIDRs: parsing, containment, and the families a set of prefixes covers', () => {
    expect(cidr.prefixWithin('10.1.2.3/8', '10.0.0.0/8') && cidr.prefixWithin('::ffff:10.0.0.1', '::ffff:0:0/96')).toBe(
      true,
    );
    for (const bad of ['10.0.0.0/33', '10.0.0/8', 'fd00::1::2/64', '1:2:3:4:5:6:7:8:9/64', 'x/1', '10.0.0.0/8/1', 42]) {
      expect([bad, cidr.prefixWithin(bad, '::/0') || cidr.prefixWithin(bad, '0.0.0.0/0')]).toEqual([bad, false]);
    }
    expect(cidr.prefixWithin('35.235.241.0/24', '35.235.240.0/20')).toBe(true);
    expect(cidr.prefixWithin('35.235.224.0/19', '35.235.240.0/20')).toBe(false);
    expect(cidr.prefixWithin('fd00::/8', '10.0.0.0/8')).toBe(false);
    expect(cidr.familiesCovered(['0.0.0.0/1', '128.0.0.0/1'])).toEqual([4]);
    expect(cidr.familiesCovered(['::/1', '8000::/1', '10.0.0.0/8'])).toEqual([6]);
    expect(cidr.familiesCovered(['0.0.0.0/0', '::/0'])).toEqual([4, 6]);
    expect(cidr.familiesCovered(['0.0.0.0/1', '128.0.0.0/2', '192.0.0.0/2'])).toEqual([4]);
    expect(cidr.familiesCovered(['0.0.0.0/1', '192.0.0.0/2', 'nonsense'])).toEqual([]);
  });
});

describe('runPolicies', () => {
  test('a compliant recorded stack has no violations; a violating resource added to it has', () => {
    expect(runPolicies(stack, { now })).toEqual([]);
    const found = runPolicies([...stack, bastion], { now });
    expect(found).toEqual([
      {
        policyName: 'wiremesh-no-public-admin-ports',
        enforcementLevel: 'mandatory',
        severity: 'critical',
        description:
          'No security group or firewall opens SSH (22) or RDP (3389) to the whole internet (0.0.0.0/0 or ::/0).',
        message: expect.stringMatching(/^"bastion" ingress\[0\] opens SSH \(22\) to 0\.0\.0\.0\/0: remove the rule/),
        urn: 'urn:pulumi:stack::project::aws:ec2/securityGroup:SecurityGroup::bastion',
        resourceName: 'bastion',
        resourceType: 'aws:ec2/securityGroup:SecurityGroup',
      },
    ]);
    expect(mandatory(found)).toHaveLength(1);
  });

  test('config: a level per policy, "all", parameters; disabled policies do not run', () => {
    const two = [bastion, { type: 'aws:ec2/instance:Instance', name: 'nat', props: { sourceDestCheck: false } }];
    expect(runPolicies(two, { now }).map((v) => [v.policyName, v.enforcementLevel])).toEqual([
      ['wiremesh-no-public-admin-ports', 'mandatory'],
      ['wiremesh-gateway-imdsv2', 'mandatory'],
      ['wiremesh-forwarding-only-on-gateways', 'mandatory'],
    ]);
    expect(runPolicies(two, { now, config: { all: 'advisory' } }).every((v) => v.enforcementLevel === 'advisory')).toBe(
      true,
    );
    expect(
      runPolicies(two, { now, config: { all: 'advisory', 'wiremesh-gateway-imdsv2': 'remediate' } }).map(
        (v) => v.enforcementLevel,
      ),
    ).toEqual(['advisory', 'mandatory', 'advisory']);
    expect(
      runPolicies(two, {
        now,
        config: {
          'wiremesh-no-public-admin-ports': { enforcementLevel: 'disabled' },
          'wiremesh-gateway-imdsv2': 'disabled',
        },
      }).map((v) => v.policyName),
    ).toEqual(['wiremesh-forwarding-only-on-gateways']);
    expect(
      runPolicies([bastion], { now, config: { 'wiremesh-no-public-admin-ports': { adminPorts: [3389] } } }),
    ).toEqual([]);
  });

  test('URNs are built from parent chains (by name or URN), and ancestors make gateways', () => {
    const resources: RunnerResource[] = [
      { type: 'wiremesh:aws:AwsGatewayGroup', name: 'g', props: {} },
      { type: 'wiremesh:aws:AwsGateway', name: 'g-gateway', parent: 'g', props: {} },
      { type: 'aws:ec2/instance:Instance', name: 'vm', parent: 'g-gateway', props: { sourceDestCheck: false } },
    ];
    const found = runPolicies(resources, { now });
    expect(found.map((v) => v.urn)).toEqual([
      'urn:pulumi:stack::project::wiremesh:aws:AwsGatewayGroup$wiremesh:aws:AwsGateway$aws:ec2/instance:Instance::vm',
    ]);
    expect(found[0]!.message).toContain('(gateway: part of a wiremesh:aws:AwsGatewayGroup component) allows IMDSv1');
    const byUrn = runPolicies(
      [resources[0]!, { ...resources[2]!, parent: 'urn:pulumi:s::p::wiremesh:gcp:GcpGateway::x' }],
      { now },
    );
    expect(byUrn.map((v) => v.urn)).toEqual([
      'urn:pulumi:stack::project::wiremesh:gcp:GcpGateway$aws:ec2/instance:Instance::vm',
    ]);
  });

  test('secret-wrapped props are unwrapped as the engine does; `__` props are dropped', () => {
    const secret = (value: unknown) => ({
      '4dabf18193072939515e22adb298388d': '1b47061264138c4ac30d75fd1eb44270',
      value,
    });
    const found = runPolicies(
      [
        {
          type: 'aws:ec2/instance:Instance',
          name: 'vm',
          props: { userData: secret(`PrivateKey = ${SOME_PRIVATE_KEY}`), __provider: SOME_PRIVATE_KEY },
        },
      ],
      { now },
    );
    expect(found.map((v) => v.message.split(': ').slice(0, 2).join(': '))).toEqual([
      'aws:ec2/instance:Instance "vm": user data (userData) holds a "PrivateKey =" line',
    ]);
  });

  test('preview unknowns: a policy reading one gets an advisory "can\'t run" violation, as from the analyzer', () => {
    const unknown = '04da6b54-80e4-46f7-96ec-b56ff0331ba9';
    const instance: RunnerResource = {
      type: 'aws:ec2/instance:Instance',
      name: 'vm',
      props: { tags: { 'wiremesh:role': 'gateway' }, metadataOptions: unknown },
    };
    expect(runPolicies([instance], { now })).toEqual([
      expect.objectContaining({
        policyName: 'wiremesh-gateway-imdsv2',
        enforcementLevel: 'advisory',
        message:
          "can't run policy 'wiremesh-gateway-imdsv2' during preview: string value at .metadataOptions can't be known during preview",
      }),
    ]);
  });

  test('custom policies: synchronous only; a failing policy names itself', () => {
    const asyncPolicy: Policies = [{ name: 'async', description: 'd', validateResource: async () => undefined }];
    expect(() => runPolicies([bastion], { policies: asyncPolicy })).toThrow('policy async returned a promise');
    const failing: Policies = [
      {
        name: 'boom',
        description: 'd',
        validateResource: () => {
          throw new Error('bad');
        },
      },
    ];
    expect(() => runPolicies([bastion], { policies: failing })).toThrow(
      /policy boom failed on urn:pulumi:stack::project::aws:ec2\/securityGroup:SecurityGroup::bastion: Error: bad/,
    );
  });
});
