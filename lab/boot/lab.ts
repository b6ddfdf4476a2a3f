/**
 * The boot lab: an example program's gateways booted end to end on one machine.
 * 1. the example runs under Pulumi mocks (deployment.ts): user data, secrets, objects, grants;
 * 2. the package is packed (scripts/pack-package.sh): the example's agent artifact, which the
 *    deployment uploads to the emulated S3 / Cloud Storage; the lab's npm registry serves its dependencies;
 * 3. the Debian 12 image is built once and cached (image.ts);
 * 4. the cloud networks, the metadata services and the edge (cloud APIs, npm, Debian mirror) start in
 *    namespaces (network.ts, service-main.ts);
 * 5. each gateway boots (vm.ts) and is followed step by step: boot, cloud-init, install, unit start,
 *    agent.ready; then the sites' LAN hosts ping each other across the tunnels.
 * A step that does not complete fails with its name and the VM's logs under the artifacts folder.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../agent/package-root';
import { HEALTH_PORT, METRICS_PORT } from '../../common/defaults';
import { Lab } from '../netns';
import { knownReleaseIdentities, labAptKey } from './apt-mirror';
import type { ExampleName, LabDeployment, LabGateway, LabRouteTable } from './deployment';
import { ensureImage, type Image } from './image';
import {
  buildNetwork,
  EDGE_IP,
  METADATA_IP,
  NAT_TABLE_NAME,
  type GatewayNetwork,
  type LabNetwork,
  type RemoteSiteNetwork,
} from './network';
import { issueServerCertificate, labCa } from './pki';
import type { ServiceConfig } from './service-main';
import type { Ec2Call, RouteChange } from './services/ec2';
import type { NlbEvent } from './services/nlb';
import { objectStoreHosts, type ObjectAccess } from './services/objects';
import type { StoreAccess, StoreChanges } from './services/stores';
import { worldOf, type World } from './services/world';
import { Vm } from './vm';

const execFileAsync = promisify(execFile);

export const DEFAULT_CACHE = '/var/cache/wiremesh-lab';
const TS_REGISTER = join(packageRoot(), 'lab', 'boot', 'ts-register.js');

/** The failure points a gateway's bring-up can stop at, in order. */
export const STEPS = ['boot', 'cloud-init modules', 'install', 'unit start', 'agent.ready', 'handshake'] as const;
export type Step = (typeof STEPS)[number];

export class StepFailure extends Error {
  constructor(
    readonly gateway: string,
    readonly step: Step | 'IMDS' | 'secret read' | `cloud-init module ${string}`,
    detail: string,
    readonly artifacts: string,
  ) {
    super(`gateway ${gateway}: step "${step}" failed: ${detail} (logs: ${artifacts})`);
  }
}

export interface BootLabOptions {
  example: ExampleName;
  cacheDirectory?: string;
  artifactsDirectory: string;
  /**
   * Bad input: also boot a second instance of this gateway whose role / service account may not
   * read the private key secret. The rest of the lab must not notice.
   */
  deniedGatewayBeside?: string;
  log?: (line: string) => void;
}

export interface GatewayTimings {
  gateway: string;
  /** Seconds from nspawn's start to each step. */
  steps: Partial<Record<Step, number>>;
  /** cloud-init's own stage durations (status.json). */
  cloudInitStages: Record<string, number>;
}

export interface RunningGateway {
  network: GatewayNetwork;
  vm: Vm;
  artifacts: string;
  bootedAt: number;
  timings: GatewayTimings;
}

/** Runs `node -r ts-register FILE ARGS` (the project's Node; FILE under lab/boot), inside `ns` when given. */
export function nodeCommand(file: string, args: string[], ns?: string): [string, string[]] {
  const node = [process.execPath, '-r', TS_REGISTER, join(packageRoot(), 'lab', 'boot', file), ...args];
  return ns === undefined ? [node[0]!, node.slice(1)] : ['ip', ['netns', 'exec', ns, ...node]];
}

/**
 * Deploys the example (under mocks, in a child process) with the clock `clockOffsetMs` on, as the
 * next deploy of the lab's stack: its state lives in `directory` from one deploy to the next.
 */
export async function runDeployment(
  example: ExampleName,
  agentArtifact: string,
  clockOffsetMs: number,
  directory: string,
): Promise<LabDeployment> {
  const out = join(directory, `deployment-${clockOffsetMs}.json`);
  const state = join(directory, 'stack-state.json');
  const [command, args] = nodeCommand('deployment-main.ts', [
    example,
    agentArtifact,
    String(clockOffsetMs),
    out,
    state,
  ]);
  await execFileAsync(command, args, { maxBuffer: 16 * 1024 * 1024 });
  const deployment = JSON.parse(readFileSync(out, 'utf8')) as LabDeployment;
  rmSync(out);
  return deployment;
}

/** The name of the bad-input gateway a lab adds next to `of` (see BootLabOptions.deniedGatewayBeside). */
export function deniedName(of: string): string {
  return `${of}-denied`;
}

/**
 * A second instance of gateway `of`: the same user data, in the same subnet, but its role (or
 * service account) may not read the private key secret. It has no public address of its own.
 */
function withDeniedGateway(deployment: LabDeployment, of: string): LabDeployment {
  const original = deployment.gateways.find((g) => g.name === of);
  if (!original) throw new Error(`lab: no gateway ${of} to deny`);
  const isKey = (reference: string) => /-key-secret-/.test(reference);
  const { networkInterfaceId: _eni, privateIp, ...copy } = original;
  const denied: LabGateway = {
    ...copy,
    name: deniedName(of),
    publicIp: '',
    // A second interface in the original's subnet (the lab's, not the graph's).
    ...(privateIp !== undefined && { privateIp: privateIp.replace(/\d+$/, (host) => String(Number(host) + 100)) }),
    ...(original.role && {
      role: {
        ...original.role,
        name: `${original.role.name}-denied`,
        readableSecretArns: original.role.readableSecretArns.filter((arn) => !isKey(arn)),
      },
    }),
    ...(original.serviceAccount && {
      serviceAccount: {
        ...original.serviceAccount,
        email: `denied-${original.serviceAccount.email}`,
        readableSecretIds: original.serviceAccount.readableSecretIds.filter((id) => !isKey(id)),
        viewableSecretIds: original.serviceAccount.viewableSecretIds.filter((id) => !isKey(id)),
      },
    }),
  };
  return { ...deployment, gateways: [...deployment.gateways, denied] };
}

export class BootLab {
  readonly lab = new Lab(`wmb${process.pid % 10000}`);
  readonly gateways: RunningGateway[] = [];
  deployment!: LabDeployment;
  network!: LabNetwork;
  world!: World;
  image!: Image;
  readonly timings: Record<string, number> = {};
  private readonly services: ChildProcess[] = [];
  readonly workDirectory: string;
  private readonly cache: string;
  private tarball = '';
  /** The WireGuard interface of each remote site, by site name. */
  readonly remoteInterfaces = new Map<string, string>();
  private controlSocket = '';
  readonly log: (line: string) => void;

  constructor(private readonly options: BootLabOptions) {
    this.cache = options.cacheDirectory ?? process.env.WIREMESH_LAB_CACHE ?? DEFAULT_CACHE;
    this.log = options.log ?? ((line) => process.stderr.write(`[lab] ${line}\n`));
    mkdirSync(this.cache, { recursive: true });
    this.workDirectory = mkdtempSync(join(this.cache, 'run-'));
    mkdirSync(options.artifactsDirectory, { recursive: true });
  }

  private async timed<T>(name: string, work: () => Promise<T> | T): Promise<T> {
    const started = Date.now();
    try {
      return await work();
    } finally {
      this.timings[name] = (Date.now() - started) / 1000;
      this.log(`${name}: ${this.timings[name]!.toFixed(1)} s`);
    }
  }

  /** The packed agent tarball: the example's agent artifact. */
  agentArtifact(): string {
    return this.tarball;
  }

  /** Everything up to booted gateways (not yet waited for). */
  async start(): Promise<void> {
    this.tarball = await this.timed('pack', async () => {
      const { stdout } = await execFileAsync(join(packageRoot(), 'scripts', 'pack-package.sh'), [this.workDirectory], {
        maxBuffer: 16 * 1024 * 1024,
      });
      return stdout.trim().split('\n').pop()!;
    });
    const deployed = await this.timed('deploy (example under mocks)', () =>
      runDeployment(this.options.example, this.tarball, 0, this.workDirectory),
    );
    this.deployment = this.options.deniedGatewayBeside
      ? withDeniedGateway(deployed, this.options.deniedGatewayBeside)
      : deployed;
    const ca = labCa(join(this.cache, 'pki'));
    const gnupgHome = join(this.cache, 'apt-gnupg');
    const aptPublicKey = labAptKey(gnupgHome);
    const npmDirectory = dirname(
      dirname(realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim())),
    );
    this.image = await this.timed('image (debootstrap, cached)', () =>
      ensureImage(
        {
          cacheDirectory: this.cache,
          nodeBinary: process.execPath,
          npmDirectory,
          caCertificatePath: ca.certificatePath,
          aptPublicKey,
        },
        this.log,
      ),
    );
    this.network = await this.timed('network', () => buildNetwork(this.lab, this.deployment));
    for (const remote of this.network.remotes) await this.startRemoteSite(remote);
    this.world = worldOf(
      this.deployment,
      Object.fromEntries(this.network.gateways.map((g) => [g.gateway.name, g.privateIp])),
    );
    const names = [
      `secretsmanager.${this.deployment.awsRegion}.amazonaws.com`,
      `ec2.${this.deployment.awsRegion}.amazonaws.com`,
      'secretmanager.googleapis.com',
      'registry.npmjs.org',
      ...objectStoreHosts(this.deployment.artifacts),
    ];
    const tls = issueServerCertificate(ca, this.workDirectory, names);
    this.controlSocket = join(this.workDirectory, 'edge.sock');
    await this.timed('services', async () => {
      const manifest = JSON.parse(
        execFileSync('tar', ['-xzOf', this.tarball, 'package/package.json'], { encoding: 'utf8' }),
      ) as Record<string, unknown>;
      await this.startService(this.network.edge, {
        role: 'edge',
        world: this.world,
        controlSocket: this.controlSocket,
        listenAddress: EDGE_IP,
        edge: {
          awsRegion: this.deployment.awsRegion,
          tls,
          registry: {
            tarball: this.tarball,
            manifest,
            projectRoot: packageRoot(),
            cacheDirectory: join(this.cache, 'npm'),
          },
          apt: {
            poolDirectory: this.image.poolDirectory,
            gnupgHome,
            identities: knownReleaseIdentities(this.image.root),
          },
          routeTableRouters: this.network.routeTableRouters,
        },
      });
      for (const [index, lb] of this.network.loadBalancers.entries()) {
        await this.startService(lb.router, {
          role: 'nlb',
          world: this.world,
          controlSocket: this.loadBalancerSocket(index),
          listenAddress: '',
          nlb: {
            table: NAT_TABLE_NAME,
            chain: lb.chain,
            publicIps: lb.loadBalancer.publicIps,
            port: lb.loadBalancer.port,
            targets: lb.targets.map((t) => ({ name: t.gateway.name, privateIp: t.privateIp })),
            healthCheck: lb.loadBalancer.healthCheck,
          },
        });
      }
      for (const site of this.network.sites) {
        await this.startService(site.router, {
          role: site.cloud === 'aws' ? 'ec2-metadata' : 'gce-metadata',
          world: this.world,
          controlSocket: join(this.workDirectory, `metadata-${site.site}.sock`),
          listenAddress: METADATA_IP,
        });
      }
    });
    const edgeNames = [...names, 'deb.debian.org', 'security.debian.org'];
    for (const network of this.network.gateways) this.bootGateway(network, edgeNames);
  }

  /**
   * The remote party's side, as its operator would set it up from the program's output: plain
   * WireGuard (wireguard-go and `wg`) on its router with the [Peer] section(s), routes to the peers'
   * allowed ranges through the tunnel.
   */
  private async startRemoteSite(network: RemoteSiteNetwork): Promise<void> {
    const { remote, router } = network;
    const iface = this.lab.name('wg');
    await this.lab.wireguard(router, 'wireguard-go', iface);
    this.lab.wgConfig(
      router,
      'setconf',
      iface,
      `[Interface]\nPrivateKey = ${remote.privateKey}\nListenPort = ${remote.listenPort}\n\n${remote.peerConfig}`,
    );
    this.lab.run(router, 'ip', ['link', 'set', iface, 'up']);
    const allowed = [...remote.peerConfig.matchAll(/^AllowedIPs\s*=\s*(.+)$/gm)].flatMap((m) => m[1]!.split(/\s*,\s*/));
    for (const cidr of allowed) this.lab.run(router, 'ip', ['route', 'replace', cidr.trim(), 'dev', iface]);
    this.remoteInterfaces.set(remote.name, iface);
  }

  private async startService(ns: string, config: ServiceConfig): Promise<void> {
    const file = join(this.workDirectory, `service-${config.role}-${this.services.length}.json`);
    writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
    const [command, args] = nodeCommand('service-main.ts', [file], ns);
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.services.push(child);
    let errors = '';
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
      child.on('exit', (code) => reject(new Error(`lab service ${config.role} exited (${code}): ${errors}`)));
    });
  }

  private bootGateway(network: GatewayNetwork, edgeNames: string[]): void {
    const { gateway } = network;
    const identity = [...this.world.awsInstances, ...this.world.gcpInstances].find((i) => i.name === gateway.name)!;
    const artifacts = join(this.options.artifactsDirectory, gateway.name);
    const hosts: Array<[string, string[]]> = [[EDGE_IP, edgeNames]];
    if (gateway.cloud === 'gcp') hosts.push([METADATA_IP, ['metadata.google.internal', 'metadata']]);
    // Public DNS of the load balancers the peers dial (first Elastic IP).
    for (const lb of this.deployment.loadBalancers) hosts.push([lb.publicIps[0]!, [lb.dnsName]]);
    const vm = new Vm({
      name: gateway.name,
      hostname: gateway.name.slice(0, 60),
      instanceId: identity.instanceId,
      imageRoot: this.image.root,
      workDirectory: join(this.workDirectory, gateway.name),
      artifactsDirectory: artifacts,
      networkNamespace: network.namespace,
      userData: gateway.userData,
      hosts,
    });
    vm.boot();
    this.gateways.push({
      network,
      vm,
      artifacts,
      bootedAt: Date.now(),
      timings: { gateway: gateway.name, steps: {}, cloudInitStages: {} },
    });
  }

  /** Follows one gateway to `until` (default agent.ready); throws a StepFailure naming the step. */
  async follow(running: RunningGateway, until: Step = 'agent.ready', timeoutMs = 240_000): Promise<GatewayTimings> {
    const { vm, timings } = running;
    const deadline = Date.now() + timeoutMs;
    const mark = (step: Step) => {
      if (timings.steps[step] === undefined) {
        timings.steps[step] = (Date.now() - running.bootedAt) / 1000;
        this.log(`${running.network.gateway.name}: ${step} at ${timings.steps[step]!.toFixed(1)} s`);
      }
    };
    const fail = async (step: StepFailure['step'], detail: string): Promise<never> => {
      await vm.collectLogs();
      throw new StepFailure(running.network.gateway.name, step, detail, running.artifacts);
    };
    const order = STEPS.slice(0, STEPS.indexOf(until) + 1);
    let lastModuleErrors: string[] = [];
    for (;;) {
      const pending = order.find((s) => timings.steps[s] === undefined);
      if (pending === undefined) return timings;
      if (Date.now() > deadline) {
        const late = diagnose('', lastModuleErrors, undefined, timings);
        return fail(late?.step ?? pending, `not reached within ${timeoutMs / 1000} s${late ? `: ${late.detail}` : ''}`);
      }
      if (vm.initPid() === undefined && timings.steps.boot !== undefined) return fail(pending, 'the VM stopped');
      const state = (await vm.exec(['systemctl', 'is-system-running']))?.trim();
      if (state !== undefined) mark('boot');
      const status = parseJson(await vm.exec(['cat', '/run/cloud-init/status.json']));
      const stages = (status?.v1 ?? {}) as Record<
        string,
        { start?: number; finished?: number; errors?: string[] } | null
      >;
      for (const [stage, value] of Object.entries(stages)) {
        if (value && typeof value === 'object' && value.start && value.finished)
          timings.cloudInitStages[stage] = value.finished - value.start;
      }
      const moduleErrors = Object.entries(stages).flatMap(([stage, value]) =>
        value && typeof value === 'object' ? (value.errors ?? []).map((e) => `${stage}: ${e}`) : [],
      );
      lastModuleErrors = moduleErrors;
      if (stages['modules-config']?.finished) mark('cloud-init modules');
      // /opt/wiremesh is an absolute symlink: look from inside.
      if ((await vm.exec(['test', '-x', '/opt/wiremesh/bin/wiremesh-agent.js'])) !== undefined) mark('install');
      const unit = unitState(
        await vm.exec(['systemctl', 'show', '-p', 'ActiveState', '-p', 'NRestarts', 'wiremesh-agent']),
      );
      if (unit.ActiveState === 'active') mark('unit start');
      const agentLog = (await vm.exec(['journalctl', '-u', 'wiremesh-agent', '-o', 'cat', '--no-pager'])) ?? '';
      if (agentLog.includes('"agent.ready"')) mark('agent.ready');
      if (pending === 'handshake' && (await this.handshakes(running)).every((t) => t > 0)) mark('handshake');
      // A module error is fatal once cloud-init has nothing left to run (or at the deadline).
      const cloudInitDone = Boolean(stages['modules-final']?.finished);
      const diagnosis = diagnose(agentLog, cloudInitDone ? moduleErrors : [], unit, timings);
      if (diagnosis && !order.every((s) => timings.steps[s] !== undefined))
        return fail(diagnosis.step, diagnosis.detail);
      await sleep(1000);
    }
  }

  /** Latest handshake per peer the lab runs (unix seconds; 0 = none), from the VM's `wg`. */
  async handshakes(running: RunningGateway): Promise<number[]> {
    const out = (await running.vm.exec(['wg', 'show', 'wm0', 'latest-handshakes'])) ?? '';
    const times = out
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(/\s+/))
      .filter(([key]) => !this.deployment.absentPeers.includes(key!))
      .map(([, time]) => Number(time));
    return times.length > 0 ? times : [0];
  }

  /** HTTP GET from namespace `ns` (the "load balancer" side); the status, or the error code. */
  async httpFrom(ns: string, url: string): Promise<{ status?: number; body?: string; error?: string }> {
    const script = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(3000) }).then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.text() })), (e) => console.log(JSON.stringify({ error: String(e.cause?.code ?? e.name) })))`;
    const { stdout } = await execFileAsync('ip', ['netns', 'exec', ns, process.execPath, '-e', script]);
    return JSON.parse(stdout) as { status?: number; body?: string; error?: string };
  }

  healthUrl(g: GatewayNetwork): string {
    return `http://${g.privateIp}:${HEALTH_PORT}/healthz`;
  }

  metricsUrl(g: GatewayNetwork): string {
    return `http://${g.privateIp}:${METRICS_PORT}/metrics`;
  }

  /** Pings `to` from `ns`; the number of replies out of `count`. */
  async ping(ns: string, to: string, count = 3): Promise<number> {
    try {
      const { stdout } = await execFileAsync('ip', [
        'netns',
        'exec',
        ns,
        'ping',
        '-c',
        String(count),
        '-i',
        '0.5',
        '-W',
        '2',
        to,
      ]);
      return Number(/(\d+) received/.exec(stdout)?.[1] ?? 0);
    } catch (error) {
      return Number(/(\d+) received/.exec(String((error as { stdout?: string }).stdout))?.[1] ?? 0);
    }
  }

  /** Pings `to` from `ns` once a second until a reply or `timeoutMs`; whether one came. */
  async pingUntilAnswered(ns: string, to: string, timeoutMs: number): Promise<boolean> {
    for (const deadline = Date.now() + timeoutMs; Date.now() < deadline;) {
      if ((await this.ping(ns, to, 1)) === 1) return true;
    }
    return false;
  }

  /** Waits until every load balancer routes to healthy targets (not failed open); throws after `timeoutMs`. */
  async loadBalancersInService(timeoutMs = 90_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const [index] of this.network.loadBalancers.entries()) {
      for (;;) {
        const last = (await this.loadBalancerEvents(index)).at(-1);
        if (last && !last.failOpen) break;
        if (Date.now() > deadline)
          throw new Error(
            `load balancer ${index}: no healthy target within ${timeoutMs / 1000} s (${JSON.stringify(last)})`,
          );
        await sleep(1000);
      }
    }
  }

  /** Store accesses so far (who read which secret, with which answer). */
  async accesses(): Promise<StoreAccess[]> {
    return JSON.parse(await this.control('GET', '/accesses')) as StoreAccess[];
  }

  /** Object store accesses so far (who downloaded which artifact, with which answer). */
  async objectAccesses(): Promise<ObjectAccess[]> {
    return JSON.parse(await this.control('GET', '/object-accesses')) as ObjectAccess[];
  }

  /**
   * Makes the secret stores hold deployment `next`'s versions, as the engine's update leaves them
   * (SecretStores.deploy): what was created, restaged and destroyed.
   */
  async pushSecrets(next: LabDeployment): Promise<StoreChanges> {
    const body = { awsSecrets: next.awsSecrets, gcpSecrets: next.gcpSecrets };
    return JSON.parse(await this.control('POST', '/deploy', body)) as StoreChanges;
  }

  /** The EC2 service's calls, the routes it moved and its route tables now. */
  async ec2(): Promise<{ calls: Ec2Call[]; changes: RouteChange[]; routeTables: LabRouteTable[] }> {
    return JSON.parse(await this.control('GET', '/ec2')) as Awaited<ReturnType<BootLab['ec2']>>;
  }

  /** The target health changes of the deployment's `index`-th load balancer. */
  async loadBalancerEvents(index = 0): Promise<NlbEvent[]> {
    return JSON.parse(await this.control('GET', '/nlb', undefined, this.loadBalancerSocket(index))) as NlbEvent[];
  }

  private loadBalancerSocket(index: number): string {
    return join(this.workDirectory, `nlb-${index}.sock`);
  }

  private async control(
    method: string,
    path: string,
    body?: unknown,
    socketPath = this.controlSocket,
  ): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath, method, path, headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  gatewayNamed(name: string): RunningGateway {
    const found = this.gateways.find((g) => g.network.gateway.name === name);
    if (!found) throw new Error(`lab: no gateway ${name}`);
    return found;
  }

  gatewaysOf(cloud: LabGateway['cloud']): RunningGateway[] {
    return this.gateways.filter((g) => g.network.gateway.cloud === cloud);
  }

  /** Stops the VMs (keeping their logs), the services (by PID) and removes the namespaces. */
  async stop(): Promise<void> {
    await Promise.all(
      this.gateways.map((g) =>
        g.vm.destroy().catch((error: unknown) => this.log(`${g.network.gateway.name}: ${String(error)}`)),
      ),
    );
    for (const child of this.services) {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
      }
    }
    await this.lab.cleanup();
    rmSync(this.workDirectory, { recursive: true, force: true });
  }
}

/** `systemctl show` output (KEY=VALUE lines; systemd picks their order). */
function unitState(text: string | undefined): Record<string, string> {
  return Object.fromEntries(
    (text ?? '')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

function parseJson(text: string | undefined): Record<string, any> | undefined {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as Record<string, any>;
  } catch {
    return undefined;
  }
}

/** Names the failure from what the VM shows: a cloud-init module error, the agent's log, the unit's state. */
export function diagnose(
  agentLog: string,
  moduleErrors: string[],
  unit: Record<string, string> | undefined,
  timings: GatewayTimings,
): { step: StepFailure['step']; detail: string } | undefined {
  const denied = /(AccessDeniedException|PERMISSION_DENIED)[^"]*/.exec(agentLog);
  if (denied) return { step: 'secret read', detail: `the agent's secret read was refused: ${denied[0]}` };
  if (
    /no AWS credentials could be obtained|no GCP credentials could be obtained/.test(agentLog) &&
    /secret\.retry/.test(agentLog)
  ) {
    const repeated = (agentLog.match(/credentials could be obtained/g) ?? []).length;
    if (repeated >= 3)
      return { step: 'IMDS', detail: 'the agent obtained no credentials from the instance metadata service' };
  }
  if (moduleErrors.length > 0) {
    const module = /\('?([a-z_-]+)'?/.exec(moduleErrors[0]!)?.[1] ?? 'unknown';
    const step =
      timings.steps.install === undefined ? (`cloud-init module ${module}` as const) : ('unit start' as const);
    return { step, detail: moduleErrors.join('; ') };
  }
  if (unit?.ActiveState === 'failed') {
    const last = [...agentLog.matchAll(/"event":"agent\.failed","error":"([^"]*)"/g)].pop()?.[1];
    return {
      step: 'unit start',
      detail: `wiremesh-agent.service failed after ${unit.NRestarts ?? '?'} restarts${last ? `; the agent's last error: ${last}` : ''}`,
    };
  }
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
