/**
 * Black-box test of the packed analyzer, over the protocol the Pulumi engine speaks.
 *
 * How the engine launches a Node.js policy pack (pulumi/pulumi
 * sdk/go/common/resource/plugin/analyzer_plugin.go `NewPolicyAnalyzer`, legacy path kept for
 * nodejs): it reads `PulumiPolicy.yaml` in the pack directory, runs the `pulumi-analyzer-policy`
 * shim with the pack directory as working directory and the arguments `<engine address> .`, and
 * adds `PULUMI_CONFIG` and `PULUMI_{,NODEJS_}{ORGANIZATION,PROJECT,STACK,DRY_RUN}` to the
 * environment. The shim resolves `@pulumi/pulumi/cmd/run-policy-pack` from the pack directory and
 * runs it with node; that drops the engine address and `require`s `.`, the pack directory's
 * package.json `main` (here ../dist/policies/index.js, the compiled policies/index.ts), whose
 * `new PolicyPack(...)` serves the AnalyzerService on 127.0.0.1:<random> and prints the port on
 * stdout, which the engine reads. Then the engine calls ConfigureStack, GetAnalyzerInfo,
 * Configure, Analyze per resource (inputs) and AnalyzeStack (outputs).
 *
 * This test does the same: runs run-policy-pack exactly so (no Pulumi CLI here, so no shim script),
 * then acts as the engine with @grpc/grpc-js and the analyzer proto of @pulumi/pulumi. A second test
 * starts the entry point directly (`node dist/policies/index.js`). The children are killed by PID.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { firstKeyCreatedAt, recordComponentStack, withProps } from './stacks';
import type { RunnerResource } from '../../policies/run';
import { policies } from '../../policies/policies';

const ROOT = path.resolve(__dirname, '../..');
const PACK_DIR = path.join(ROOT, 'policies');
const ENTRY = path.join(ROOT, 'dist/policies/index.js');
const PULUMI_DIR = path.dirname(require.resolve('@pulumi/pulumi/package.json'));
// The proto modules and the gRPC library @pulumi/pulumi itself uses (one copy of each).
/* eslint-disable @typescript-eslint/no-require-imports */
const grpc = require(require.resolve('@grpc/grpc-js', { paths: [PULUMI_DIR] })) as typeof import('@grpc/grpc-js');
const analyzerPb = require('@pulumi/pulumi/proto/analyzer_pb');
const analyzerGrpc = require('@pulumi/pulumi/proto/analyzer_grpc_pb');
const { Struct } = require(require.resolve('google-protobuf/google/protobuf/struct_pb', { paths: [PULUMI_DIR] }));
const { Empty } = require(require.resolve('google-protobuf/google/protobuf/empty_pb', { paths: [PULUMI_DIR] }));
/* eslint-enable @typescript-eslint/no-require-imports */

const DAY = 86_400_000;
const { EnforcementLevel } = analyzerPb;

/** Compiles the pack when dist/policies is missing or older than policies/*.ts (`npm test` builds first). */
function ensureBuilt(): void {
  const sources = readdirSync(PACK_DIR).filter((f) => f.endsWith('.ts'));
  const stale = sources.some((f) => {
    const out = path.join(ROOT, 'dist/policies', f.replace(/\.ts$/, '.js'));
    return !existsSync(out) || statSync(out).mtimeMs < statSync(path.join(PACK_DIR, f)).mtimeMs;
  });
  if (stale) execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit', timeout: 300_000 });
}

interface Analyzer {
  child: ChildProcess;
  client: any;
  stderr: string[];
}

/** Starts a child that prints the analyzer's port on its first stdout line. */
async function start(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Analyzer> {
  const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no port within 20 s; stderr: ${stderr.join('')}`)), 20_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n')[0]!;
      if (out.includes('\n')) {
        clearTimeout(timer);
        if (/^\d+$/.test(line.trim())) resolve(Number(line.trim()));
        else reject(new Error(`unexpected first line ${JSON.stringify(line)}; stderr: ${stderr.join('')}`));
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`analyzer exited with ${code}; stderr: ${stderr.join('')}`));
    });
  });
  const client = new analyzerGrpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return { child, client, stderr };
}

async function stop(analyzer: Analyzer | undefined): Promise<void> {
  if (!analyzer) return;
  analyzer.client.close();
  const { child } = analyzer;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid!, 'SIGTERM');
  await exited;
}

function call<T>(client: any, method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) => client[method](request, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))));
}

function options(parent?: string): any {
  const opts = new analyzerPb.AnalyzerResourceOptions();
  opts.setCustomtimeouts(new analyzerPb.AnalyzerResourceOptions.CustomTimeouts());
  if (parent) opts.setParent(parent);
  return opts;
}

function analyzeRequest(r: RunnerResource): any {
  const req = new analyzerPb.AnalyzeRequest();
  req.setUrn(r.urn!);
  req.setType(r.type);
  req.setName(r.name);
  req.setProperties(Struct.fromJavaScript(JSON.parse(JSON.stringify(r.props))));
  req.setOptions(options(r.parent));
  return req;
}

function analyzeStackRequest(resources: RunnerResource[]): any {
  const req = new analyzerPb.AnalyzeStackRequest();
  req.setResourcesList(
    resources.map((r) => {
      const res = new analyzerPb.AnalyzerResource();
      res.setUrn(r.urn!);
      res.setType(r.type);
      res.setName(r.name);
      const props = Object.fromEntries(Object.entries(r.props).filter(([k]) => !k.startsWith('__')));
      res.setProperties(Struct.fromJavaScript(JSON.parse(JSON.stringify(props))));
      res.setOptions(options(r.parent));
      if (r.parent) res.setParent(r.parent);
      return res;
    }),
  );
  return req;
}

function configureRequest(config: Record<string, { level: number; props?: Record<string, unknown> }>): any {
  const req = new analyzerPb.ConfigureAnalyzerRequest();
  for (const [name, { level, props }] of Object.entries(config)) {
    const policyConfig = new analyzerPb.PolicyConfig();
    policyConfig.setEnforcementlevel(level);
    policyConfig.setProperties(Struct.fromJavaScript(props ?? {}));
    req.getPolicyconfigMap().set(name, policyConfig);
  }
  return req;
}

interface Diagnostic {
  policy: string;
  level: number;
  message: string;
  urn: string;
}

function diagnostics(response: any): Diagnostic[] {
  return response.getDiagnosticsList().map((d: any) => ({ policy: d.getPolicyname(), level: d.getEnforcementlevel(), message: d.getMessage(), urn: d.getUrn() }));
}

function notApplicable(response: any): string[] {
  return response.getNotApplicableList().map((n: any) => n.getPolicyName());
}

const ENGINE_ENV = {
  PULUMI_CONFIG: JSON.stringify({ 'project:aws:region': 'eu-west-1' }),
  PULUMI_NODEJS_ORGANIZATION: 'organization',
  PULUMI_NODEJS_PROJECT: 'project',
  PULUMI_NODEJS_STACK: 'stack',
  PULUMI_NODEJS_DRY_RUN: 'false',
  PULUMI_ORGANIZATION: 'organization',
  PULUMI_PROJECT: 'project',
  PULUMI_STACK: 'stack',
  PULUMI_DRY_RUN: 'false',
};

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
    const runPolicyPack = require.resolve('@pulumi/pulumi/cmd/run-policy-pack', { paths: [PACK_DIR] });
    analyzer = await start([runPolicyPack, '127.0.0.1:1', '.'], PACK_DIR, { ...process.env, ...ENGINE_ENV });
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
      params: ['keySecretRoles', 'maxAgeDays', 'now', 'warnDays'],
    });
    expect(listed.find((p: { name: string }) => p.name === 'wiremesh-key-secret-kms').level).toBe(EnforcementLevel.DISABLED);

    // Analyze a recorded gateway instance: compliant; the policies for other types are not applicable.
    const instance = resources.find((r) => r.name === 'site-a-instance-0')!;
    const clean: any = await call(client, 'analyze', analyzeRequest(instance));
    expect(diagnostics(clean)).toEqual([]);
    expect(notApplicable(clean)).toEqual(expect.arrayContaining(['wiremesh-gateway-ingress', 'wiremesh-no-public-admin-ports', 'wiremesh-wireguard-hygiene']));

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

    // AnalyzeStack with the clock at createdAt + 91 days: every key expired; the KMS policy still disabled.
    const createdAt = firstKeyCreatedAt(resources);
    const late = new Date(createdAt.getTime() + 91 * DAY).toISOString();
    await call(client, 'configure', configureRequest({ 'wiremesh-key-rotation': { level: EnforcementLevel.MANDATORY, props: { now: late, warnDays: 0 } } }));
    const stackLate = diagnostics(await call(client, 'analyzeStack', analyzeStackRequest(resources)));
    const rotation = stackLate.filter((d) => d.policy === 'wiremesh-key-rotation');
    expect(rotation).toHaveLength(4); // site-a, site-b, site-c, site-d
    expect(rotation.every((d) => d.level === EnforcementLevel.MANDATORY)).toBe(true);
    const siteA = rotation.find((d) => d.urn.endsWith('::site-a-key-pair'))!;
    expect(siteA.message).toContain('run `pulumi up` to rotate: the WireGuard key "site-a-key-pair"');
    expect(siteA.message).toContain(`expired on ${new Date(createdAt.getTime() + 90 * DAY).toISOString().slice(0, 10)}`);
    expect(siteA.urn).toBe('urn:pulumi:stack::project::wiremesh:aws:AwsGateway$wiremesh:keys:WireGuardKey$pulumi-nodejs:dynamic/wiremesh:WireGuardKeyPair::site-a-key-pair');
    expect(stackLate.filter((d) => d.policy !== 'wiremesh-key-rotation')).toEqual([]);

    // Configure again (it replaces the whole config): 89 days passes; the KMS policy enabled reports the AWS key secrets.
    const early = new Date(createdAt.getTime() + 89 * DAY).toISOString();
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
    const unknownKms = { ...keySecret, props: { ...keySecret.props, kmsKeyId: '04da6b54-80e4-46f7-96ec-b56ff0331ba9' } };
    const preview = diagnostics(await call(client, 'analyze', analyzeRequest(unknownKms)));
    expect(preview).toEqual([
      expect.objectContaining({ policy: 'wiremesh-key-secret-kms', level: EnforcementLevel.ADVISORY, message: expect.stringContaining("can't run policy 'wiremesh-key-secret-kms'") }),
    ]);

    // Disabled through Configure: the policy no longer runs.
    await call(client, 'configure', configureRequest({ 'wiremesh-key-rotation': { level: EnforcementLevel.DISABLED, props: { now: late } } }));
    expect(diagnostics(await call(client, 'analyzeStack', analyzeStackRequest(resources)))).toEqual([]);
    expect(analyzer.stderr.join('')).toBe('');
  }, 60_000);

  test('the entry point started directly (node dist/policies/index.js) serves the same pack', async () => {
    analyzer = await start([ENTRY], ROOT, { ...process.env, ...ENGINE_ENV });
    const info: any = await call(analyzer.client, 'getAnalyzerInfo', new Empty());
    expect(info.getName()).toBe('wiremesh');
    expect(info.getPoliciesList()).toHaveLength(policies.length);
    const pid = analyzer.child.pid!;
    await stop(analyzer);
    analyzer = undefined;
    expect(() => process.kill(pid, 0)).toThrow(); // gone
  }, 60_000);
});
