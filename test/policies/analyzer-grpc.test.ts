/**
 * Black-box test of the policy pack in a built checkout (policy-pack/, whose index.js is the rules
 * bundled by the build, their Pulumi SDKs resolved from the checkout's node_modules), over the protocol the Pulumi engine speaks: launched as the engine
 * launches it (see analyzer.ts), then ConfigureStack, GetAnalyzerInfo, Configure, Analyze per
 * resource (inputs) and AnalyzeStack (outputs) with @grpc/grpc-js and the analyzer proto of
 * @pulumi/pulumi. A second test starts the entry point directly (`node policy-pack/index.js`).
 * pack-install.test.ts does the same with the pack installed from `npm pack` output.
 */
import * as path from 'node:path';
import type { RunnerResource } from '../../policies/run';
import { policies } from '../../policies/policies';
import {
  type Analyzer,
  analyzeRequest,
  analyzerPb,
  analyzeStackRequest,
  call,
  configureRequest,
  diagnostics,
  Empty,
  EnforcementLevel,
  ENGINE_ENV,
  ensureBuilt,
  launchAsEngine,
  notApplicable,
  PACK_DIR,
  start,
  stop,
} from './analyzer';
import { newestKeyCreatedAt, oldestKeyCreatedAt, recordComponentStack, withProps } from './stacks';

const DAY = 86_400_000;

let resources: RunnerResource[];
let analyzer: Analyzer | undefined;

beforeAll(async () => {
  ensureBuilt();
  ({ resources } = await recordComponentStack());
}, 300_000);

afterEach(async () => {
  await stop(analyzer);
  analyzer = undefined;
});

describe('the packed analyzer, launched as the engine launches it', () => {
  test('GetAnalyzerInfo, Configure, Analyze and AnalyzeStack answer as the engine expects', async () => {
    analyzer = await launchAsEngine(PACK_DIR);
    const { client } = analyzer;

    // ConfigureStack (the engine sends it first; the server records the stack's tags).
    const stackConfigure = new analyzerPb.AnalyzerStackConfigureRequest();
    stackConfigure.setStack('stack');
    stackConfigure.setProject('project');
    stackConfigure.setOrganization('organization');
    await call(client, 'configureStack', stackConfigure);

    // GetAnalyzerInfo: the pack's name, version and every policy with its config schema.
    const info: any = await call(client, 'getAnalyzerInfo', new Empty());
    expect(info.getName()).toBe('wiremesh');
    expect(info.getVersion()).toBe('0.1.0');
    expect(info.getSupportsconfig()).toBe(true);
    const listed = info.getPoliciesList().map((p: any) => ({
      name: p.getName(),
      level: p.getEnforcementlevel(),
      params: Object.keys(p.getConfigschema()?.getProperties()?.toJavaScript() ?? {}).sort(),
    }));
    expect(listed.map((p: { name: string }) => p.name)).toEqual(policies.map((p) => p.name));
    expect(listed.find((p: { name: string }) => p.name === 'wiremesh-key-rotation')).toEqual({
      name: 'wiremesh-key-rotation',
      level: EnforcementLevel.MANDATORY,
      params: ['keySecretRoles', 'maxAgeDays', 'maxOverlapDays', 'now', 'warnDays'],
    });
    expect(listed.find((p: { name: string }) => p.name === 'wiremesh-key-secret-kms').level).toBe(
      EnforcementLevel.DISABLED,
    );

    // Analyze a recorded gateway instance: compliant; the policies for other types are not applicable.
    const instance = resources.find((r) => r.name === 'site-a-instance-0')!;
    const clean: any = await call(client, 'analyze', analyzeRequest(instance));
    expect(diagnostics(clean)).toEqual([]);
    expect(notApplicable(clean)).toEqual(
      expect.arrayContaining([
        'wiremesh-gateway-ingress',
        'wiremesh-no-public-admin-ports',
        'wiremesh-wireguard-hygiene',
      ]),
    );

    // Analyze the recorded gateway security group with SSH from anywhere added: two mandatory diagnostics.
    const sshOpen = withProps(resources, 'site-a-sg', (p) => ({
      ...p,
      ingress: [...p.ingress, { protocol: 'tcp', fromPort: 22, toPort: 22, cidrBlocks: ['0.0.0.0/0'] }],
    })).find((r) => r.name === 'site-a-sg')!;
    const open = diagnostics(await call(client, 'analyze', analyzeRequest(sshOpen)));
    expect(open.map((d) => [d.policy, d.level])).toEqual([
      ['wiremesh-gateway-ingress', EnforcementLevel.MANDATORY],
      ['wiremesh-no-public-admin-ports', EnforcementLevel.MANDATORY],
    ]);
    // The engine shows "<description>\n<violation>".
    expect(open[1]!.message).toBe(
      'No security group or firewall opens SSH (22) or RDP (3389) to the whole internet (0.0.0.0/0 or ::/0).\n' +
        '"site-a-sg" ingress[3] opens SSH (22) to 0.0.0.0/0: remove the rule, or allow only your admin ranges ' +
        '(better: no inbound SSH at all, through SSM Session Manager on AWS, or IAP TCP forwarding on GCP, which needs only 35.235.240.0/20).',
    );

    // AnalyzeStack with the clock past every key's epoch end: every key expired; the KMS policy still disabled.
    // A rotated generation is in use for its 90-day epoch plus one 7-day overlap (policies/key-rotation.ts).
    const late = new Date(newestKeyCreatedAt(resources).getTime() + 98 * DAY).toISOString();
    await call(
      client,
      'configure',
      configureRequest({
        'wiremesh-key-rotation': { level: EnforcementLevel.MANDATORY, props: { now: late, warnDays: 0 } },
      }),
    );
    const stackLate = diagnostics(await call(client, 'analyzeStack', analyzeStackRequest(resources)));
    const rotation = stackLate.filter((d) => d.policy === 'wiremesh-key-rotation');
    expect(rotation).toHaveLength(4); // site-a, site-b, site-c, site-d
    expect(rotation.every((d) => d.level === EnforcementLevel.MANDATORY)).toBe(true);
    const siteA = rotation.find((d) => /::site-a-key-g\d+$/.test(d.urn))!;
    expect(siteA.message).toMatch(/\nrun `pulumi up` to rotate: the WireGuard key "site-a-key-g\d+"/);
    expect(siteA.urn).toMatch(
      /^urn:pulumi:stack::project::wiremesh:aws:AwsGateway\$wiremesh:keys:WireGuardKey\$pulumi-nodejs:dynamic\/wiremesh:WireGuardKeyPair::site-a-key-g\d+$/,
    );
    expect(stackLate.filter((d) => d.policy !== 'wiremesh-key-rotation')).toEqual([]);

    // Configure again (it replaces the whole config): 89 days passes; the KMS policy enabled reports the AWS key secrets.
    const early = new Date(oldestKeyCreatedAt(resources).getTime() + 89 * DAY).toISOString();
    await call(
      client,
      'configure',
      configureRequest({
        'wiremesh-key-rotation': { level: EnforcementLevel.MANDATORY, props: { now: early, warnDays: 0 } },
        'wiremesh-key-secret-kms': { level: EnforcementLevel.ADVISORY },
      }),
    );
    const stackEarly = diagnostics(await call(client, 'analyzeStack', analyzeStackRequest(resources)));
    expect(stackEarly).toEqual([]); // kms is a resource policy: AnalyzeStack does not run it
    const keySecret = resources.find((r) => r.name === 'site-a-key-secret')!;
    const kms = diagnostics(await call(client, 'analyze', analyzeRequest(keySecret)));
    expect(kms.map((d) => [d.policy, d.level])).toEqual([['wiremesh-key-secret-kms', EnforcementLevel.ADVISORY]]);
    expect(kms[0]!.message).toContain('set kmsKeyId to a customer-managed KMS key ARN');

    // A preview unknown: the server turns the policy's UnknownValueError into an advisory.
    const unknownKms = {
      ...keySecret,
      props: { ...keySecret.props, kmsKeyId: '04da6b54-80e4-46f7-96ec-b56ff0331ba9' },
    };
    const preview = diagnostics(await call(client, 'analyze', analyzeRequest(unknownKms)));
    expect(preview).toEqual([
      expect.objectContaining({
        policy: 'wiremesh-key-secret-kms',
        level: EnforcementLevel.ADVISORY,
        message: expect.stringContaining("can't run policy 'wiremesh-key-secret-kms'"),
      }),
    ]);

    // At preview, a hand-written rule on a gateway's security group (id unknown) is found through the
    // property dependencies the engine sends, and checked like the gateway's own rules.
    const previewRule: RunnerResource = {
      type: 'aws:ec2/securityGroupRule:SecurityGroupRule',
      name: 'extra-ssh',
      urn: 'urn:pulumi:stack::project::aws:ec2/securityGroupRule:SecurityGroupRule::extra-ssh',
      props: {
        type: 'ingress',
        protocol: 'tcp',
        fromPort: 22,
        toPort: 22,
        cidrBlocks: ['198.51.100.0/24'],
        securityGroupId: '04da6b54-80e4-46f7-96ec-b56ff0331ba9',
      },
      propertyDependencies: { securityGroupId: ['site-a-sg'] },
    };
    const attached = diagnostics(await call(client, 'analyzeStack', analyzeStackRequest([...resources, previewRule])));
    expect(attached.map((d) => [d.policy, d.level, d.urn])).toEqual([
      ['wiremesh-gateway-attached-ingress', EnforcementLevel.MANDATORY, previewRule.urn],
    ]);
    expect(attached[0]!.message).toContain(
      'security group rule "extra-ssh" (a rule of the gateway security group "site-a-sg") rule opens tcp 22 from 198.51.100.0/24',
    );

    // Disabled through Configure: the policy no longer runs.
    await call(
      client,
      'configure',
      configureRequest({ 'wiremesh-key-rotation': { level: EnforcementLevel.DISABLED, props: { now: late } } }),
    );
    expect(diagnostics(await call(client, 'analyzeStack', analyzeStackRequest(resources)))).toEqual([]);
    expect(analyzer.stderr.join('')).toBe('');
  }, 60_000);

  test('the entry point started directly (node policy-pack/index.js) serves the same pack', async () => {
    analyzer = await start([path.join(PACK_DIR, 'index.js')], PACK_DIR, { ...process.env, ...ENGINE_ENV });
    const info: any = await call(analyzer.client, 'getAnalyzerInfo', new Empty());
    expect(info.getName()).toBe('wiremesh');
    expect(info.getPoliciesList()).toHaveLength(policies.length);
    const pid = analyzer.child.pid!;
    await stop(analyzer);
    analyzer = undefined;
    expect(() => process.kill(pid, 0)).toThrow(); // gone
  }, 60_000);
});
