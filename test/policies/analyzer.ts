/**
 * Acting as the Pulumi engine towards a policy pack's analyzer: launching it as the engine does,
 * and the gRPC requests and answers (AnalyzerService of @pulumi/pulumi's proto), for
 * analyzer-grpc.test.ts (the pack in a checkout) and pack-install.test.ts (the pack installed from
 * `npm pack` output).
 *
 * How the engine launches a Node.js policy pack (pulumi/pulumi
 * sdk/go/common/resource/plugin/analyzer_plugin.go `NewPolicyAnalyzer`, legacy path kept for
 * nodejs): it reads `PulumiPolicy.yaml` in the pack directory, runs the `pulumi-analyzer-policy`
 * shim with the pack directory as working directory and the arguments `<engine address> .`, and
 * adds `PULUMI_CONFIG` and `PULUMI_{,NODEJS_}{ORGANIZATION,PROJECT,STACK,DRY_RUN}` to the
 * environment. The shim resolves `@pulumi/pulumi/cmd/run-policy-pack` from the pack directory and
 * runs it with node; that drops the engine address and `require`s `.`, the directory's package.json
 * `main`, whose `new PolicyPack(...)` serves the AnalyzerService on 127.0.0.1:<random> and prints
 * the port on stdout, which the engine reads. {@link launchAsEngine} does exactly that (no Pulumi
 * CLI here, so no shim script). Children are stopped by PID.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import type { RunnerResource } from '../../policies/run';

export const ROOT = path.resolve(__dirname, '../..');
/** The policy pack folder (PulumiPolicy.yaml, package.json, index.js). */
export const PACK_DIR = path.join(ROOT, 'policy-pack');
const SOURCES = path.join(ROOT, 'policies');
const PULUMI_DIR = path.dirname(require.resolve('@pulumi/pulumi/package.json'));
// The proto modules and the gRPC library @pulumi/pulumi itself uses (one copy of each).
/* eslint-disable @typescript-eslint/no-require-imports */
const grpc = require(require.resolve('@grpc/grpc-js', { paths: [PULUMI_DIR] })) as typeof import('@grpc/grpc-js');
export const analyzerPb = require('@pulumi/pulumi/proto/analyzer_pb');
const analyzerGrpc = require('@pulumi/pulumi/proto/analyzer_grpc_pb');
const { Struct } = require(require.resolve('google-protobuf/google/protobuf/struct_pb', { paths: [PULUMI_DIR] }));
export const { Empty } = require(require.resolve('google-protobuf/google/protobuf/empty_pb', { paths: [PULUMI_DIR] }));
/* eslint-enable @typescript-eslint/no-require-imports */

export const { EnforcementLevel } = analyzerPb;

/** Compiles the policies and bundles the pack when they are missing or older than policies/*.ts (`npm test` builds first). */
export function ensureBuilt(): void {
  const sources = readdirSync(SOURCES).filter((f) => f.endsWith('.ts'));
  const newest = Math.max(...sources.map((f) => statSync(path.join(SOURCES, f)).mtimeMs));
  const stale = sources.some((f) => {
    const out = path.join(ROOT, 'dist/policies', f.replace(/\.ts$/, '.js'));
    return !existsSync(out) || statSync(out).mtimeMs < statSync(path.join(SOURCES, f)).mtimeMs;
  });
  const run = (args: string[]) =>
    execFileSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit', timeout: 300_000 });
  if (stale) run([require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json']);
  // The pack's index.js is the rules bundled (scripts/bundle-policy-pack.ts), built after tsc.
  const bundle = path.join(PACK_DIR, 'index.js');
  if (stale || !existsSync(bundle) || statSync(bundle).mtimeMs < newest)
    run([path.join(ROOT, 'dist/scripts/bundle-policy-pack.js')]);
}

export interface Analyzer {
  child: ChildProcess;
  client: any;
  stderr: string[];
}

/** Starts a child that prints the analyzer's port on its first stdout line. */
export async function start(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Analyzer> {
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

export async function stop(analyzer: Analyzer | undefined): Promise<void> {
  if (!analyzer) return;
  analyzer.client.close();
  const { child } = analyzer;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid!, 'SIGTERM');
  await exited;
}

export function call<T>(client: any, method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) =>
    client[method](request, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))),
  );
}

function options(parent?: string): any {
  const opts = new analyzerPb.AnalyzerResourceOptions();
  opts.setCustomtimeouts(new analyzerPb.AnalyzerResourceOptions.CustomTimeouts());
  if (parent) opts.setParent(parent);
  return opts;
}

export function analyzeRequest(r: RunnerResource): any {
  const req = new analyzerPb.AnalyzeRequest();
  req.setUrn(r.urn!);
  req.setType(r.type);
  req.setName(r.name);
  req.setProperties(Struct.fromJavaScript(JSON.parse(JSON.stringify(r.props))));
  req.setOptions(options(r.parent));
  return req;
}

export function analyzeStackRequest(resources: RunnerResource[]): any {
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
      // The engine sends the URNs each prop's value came from (references known at preview); given here by URN or name.
      for (const [prop, refs] of Object.entries(r.propertyDependencies ?? {})) {
        const deps = new analyzerPb.AnalyzerPropertyDependencies();
        deps.setUrnsList(
          refs.map((ref) => (ref.startsWith('urn:') ? ref : resources.find((x) => x.name === ref)!.urn!)),
        );
        res.getPropertydependenciesMap().set(prop, deps);
      }
      return res;
    }),
  );
  return req;
}

export function configureRequest(config: Record<string, { level: number; props?: Record<string, unknown> }>): any {
  const req = new analyzerPb.ConfigureAnalyzerRequest();
  for (const [name, { level, props }] of Object.entries(config)) {
    const policyConfig = new analyzerPb.PolicyConfig();
    policyConfig.setEnforcementlevel(level);
    policyConfig.setProperties(Struct.fromJavaScript(props ?? {}));
    req.getPolicyconfigMap().set(name, policyConfig);
  }
  return req;
}

export interface Diagnostic {
  policy: string;
  level: number;
  message: string;
  urn: string;
}

export function diagnostics(response: any): Diagnostic[] {
  return response.getDiagnosticsList().map((d: any) => ({
    policy: d.getPolicyname(),
    level: d.getEnforcementlevel(),
    message: d.getMessage(),
    urn: d.getUrn(),
  }));
}

export function notApplicable(response: any): string[] {
  return response.getNotApplicableList().map((n: any) => n.getPolicyName());
}

export const ENGINE_ENV = {
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

/** Launches the pack in `packDir` as the engine does: `node <run-policy-pack resolved from packDir> <engine> .`. */
export function launchAsEngine(packDir: string): Promise<Analyzer> {
  const runPolicyPack = require.resolve('@pulumi/pulumi/cmd/run-policy-pack', { paths: [packDir] });
  return start([runPolicyPack, '127.0.0.1:1', '.'], packDir, { ...process.env, ...ENGINE_ENV });
}
