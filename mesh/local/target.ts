/**
 * The local target: a whole mesh on one machine, in network namespaces. Each `local` site gets a
 * gateway namespace running wiremesh-agent (userspace data plane unless `up --data-plane` says
 * otherwise) and a LAN host namespace behind
 * it on the site's first CIDR; the gateways meet on a bridge in a WAN namespace. Nothing is
 * addressed outside these namespaces, and none of them has a default route.
 *
 * Everything created is recorded in a state file as it is created, so `down` (also after a crash,
 * also twice) and a failed `up` remove exactly that.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HEALTH_PORT, WIREGUARD_PORT } from '../../common/defaults';
import { joinHostPort } from '../../common/hostport';
import { formatAddress, parsePrefix } from '../../common/ip';
import { keyToBase64 } from '../../agent/crypto/keys';
import { generatePrivateKey, publicKeyOf } from '../../agent/crypto/primitives';
import type { DataPlaneName } from '../../agent/gateway/plane';
import { packageRoot } from '../../agent/package-root';
import { agentConfigFor, planMesh, type GatewayPlan } from '../planner';
import type { MeshSpec } from '../spec';
import { keyFile, writeAgentConfig, writeKeyVersion } from './site-files';

/**
 * Namespace names start with this, so `down` after a crash can find ours and only ours.
 * WIREMESH_NAMESPACE_PREFIX gives a test run a prefix of its own (interfaces are named after it too,
 * since the userspace plane's UAPI sockets share one directory across namespaces).
 */
export const NAMESPACE_PREFIX = 'wmesh-';
export const DEFAULT_STATE_DIR = '/run/wiremesh/local';
const WAN_SUBNET = '198.18.250';

export interface LocalSiteState {
  site: string;
  cidrs: string[];
  gatewayNamespace: string;
  lanNamespace: string;
  interfaceName: string;
  /** The agent's data plane. */
  dataPlane: DataPlaneName;
  /** The LAN host's address, e.g. 198.19.20.2. */
  lanHost: string;
  /** The gateway's address on the LAN (and tunnel). */
  gatewayAddress: string;
  wanAddress: string;
  publicKey: string;
  /** The key version in use: its private key is in <site>.v<version>.key (docs/key-rotation.md). */
  keyVersion: number;
  /** Revoked by `wiremesh revoke`: no peer lists its key any more. */
  revoked?: boolean;
  agentPid: number | null;
  configFile: string;
  /** The agent's status document (keys held, per-peer key phase). */
  statusFile: string;
  logFile: string;
}

export interface LocalState {
  mesh: string;
  namespacePrefix: string;
  namespaces: string[];
  sites: LocalSiteState[];
}

export interface Progress {
  step(message: string): void;
}

const DATA_PLANES: readonly DataPlaneName[] = ['userspace', 'wireguard-go', 'kernel'];

/**
 * `up --data-plane`: one plane for every site (`wireguard-go`), or per site
 * (`spoke-a=wireguard-go,spoke-b=wireguard-go`; sites not named get the userspace plane).
 */
export function parseDataPlanes(text: string, sites: readonly string[]): Record<string, DataPlaneName> {
  const isPlane = (plane: string): plane is DataPlaneName => (DATA_PLANES as readonly string[]).includes(plane);
  const planeOf = (plane: string): DataPlaneName => {
    if (!isPlane(plane)) throw new Error(`--data-plane: "${plane}" is not one of ${DATA_PLANES.join(', ')}`);
    return plane;
  };
  if (!text.includes('=')) {
    const plane = planeOf(text);
    return Object.fromEntries(sites.map((site) => [site, plane]));
  }
  const planes: Record<string, DataPlaneName> = {};
  for (const entry of text.split(',')) {
    const [site = '', plane = ''] = entry.split('=');
    if (!sites.includes(site))
      throw new Error(`--data-plane: "${site}" is not a site of the mesh (${sites.join(', ')})`);
    planes[site] = planeOf(plane);
  }
  return planes;
}

function ip(args: string[], ns?: string): string {
  const argv = ns ? ['netns', 'exec', ns, 'ip', ...args] : args;
  return execFileSync('ip', argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function nthHost(cidr: string, n: number): string {
  const prefix = parsePrefix(cidr);
  const bytes = Uint8Array.from(prefix.address);
  let carry = n;
  for (let i = bytes.length - 1; i >= 0 && carry > 0; i--) {
    const sum = bytes[i]! + carry;
    bytes[i] = sum & 0xff;
    carry = sum >> 8;
  }
  return formatAddress(bytes);
}

/** Code-unit order, as the planner sorts: the same on every machine. */
function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The WAN endpoints the local target gives its sites: 198.18.250.N, by site name order. */
export function localEndpoints(spec: MeshSpec): Record<string, string> {
  const names = spec.sites
    .filter((site) => site.provider === 'local')
    .map((site) => site.name)
    .sort(byName);
  return Object.fromEntries(names.map((name, i) => [name, joinHostPort(`${WAN_SUBNET}.${i + 1}`, WIREGUARD_PORT)]));
}

export class LocalTarget {
  constructor(
    readonly stateDir: string = process.env.WIREMESH_STATE_DIR ?? DEFAULT_STATE_DIR,
    private readonly namespacePrefix: string = process.env.WIREMESH_NAMESPACE_PREFIX ?? NAMESPACE_PREFIX,
  ) {
    if (!/^[a-z0-9]{1,8}-$/.test(namespacePrefix)) {
      throw new Error(
        `WIREMESH_NAMESPACE_PREFIX: "${namespacePrefix}" must be 1 to 8 lowercase letters or digits followed by "-"`,
      );
    }
  }

  private get wanNamespace(): string {
    return `${this.namespacePrefix}wan`;
  }

  private get stateFile(): string {
    return join(this.stateDir, 'state.json');
  }

  readState(): LocalState | null {
    if (!existsSync(this.stateFile)) return null;
    return JSON.parse(readFileSync(this.stateFile, 'utf8')) as LocalState;
  }

  private writeState(state: LocalState): void {
    writeFileSync(this.stateFile, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  }

  /** Records a site's new key version or revocation. */
  updateSite(site: LocalSiteState): void {
    const state = this.readState()!;
    state.sites = state.sites.map((s) => (s.site === site.site ? site : s));
    this.writeState(state);
  }

  /**
   * Brings up every `local` site of `spec`, each on its plane in `dataPlanes` (default userspace);
   * on any failure removes what it created and rethrows.
   */
  async up(spec: MeshSpec, progress: Progress, dataPlanes: Record<string, DataPlaneName> = {}): Promise<LocalState> {
    if (this.readState())
      throw new Error(`a local mesh is already up (state in ${this.stateDir}); run \`wiremesh down\` first`);
    const remote = spec.sites.filter((site) => site.provider !== 'local');
    if (remote.length > 0) {
      throw new Error(
        `the local target runs only provider "local" sites; ${remote.map((s) => `${s.name} (${s.provider})`).join(', ')} ` +
          'need the Pulumi components',
      );
    }
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    const state: LocalState = { mesh: spec.name, namespacePrefix: this.namespacePrefix, namespaces: [], sites: [] };
    this.writeState(state);
    try {
      await this.build(spec, state, progress, dataPlanes);
      return state;
    } catch (error) {
      progress.step(`failed: ${(error as Error).message}; removing what was created`);
      await this.down(progress);
      throw error;
    }
  }

  private addNamespace(state: LocalState, name: string): void {
    execFileSync('ip', ['netns', 'add', name]);
    state.namespaces.push(name);
    this.writeState(state);
    ip(['link', 'set', 'lo', 'up'], name);
  }

  private async build(
    spec: MeshSpec,
    state: LocalState,
    progress: Progress,
    dataPlanes: Record<string, DataPlaneName>,
  ): Promise<void> {
    progress.step(`creating the WAN namespace ${this.wanNamespace}`);
    this.addNamespace(state, this.wanNamespace);
    ip(['link', 'add', 'wan', 'type', 'bridge'], this.wanNamespace);
    ip(['link', 'set', 'wan', 'up'], this.wanNamespace);

    const sites = [...spec.sites].sort((a, b) => byName(a.name, b.name));
    const keys = new Map(sites.map((site) => [site.name, generatePrivateKey()]));
    const publicKeys = Object.fromEntries(
      sites.map((site) => [site.name, keyToBase64(publicKeyOf(keys.get(site.name)!))]),
    );
    const plan = planMesh(spec, { publicKeys, endpoints: localEndpoints(spec) });

    for (const [i, site] of sites.entries()) {
      const gateway = plan.gateways.find((g) => g.site === site.name && g.index === 0)!;
      const plane = dataPlanes[site.name] ?? 'userspace';
      const siteState = this.createSite(
        state,
        site.name,
        site.cidrs,
        i,
        gateway,
        publicKeys[site.name]!,
        plane,
        progress,
      );
      this.startAgent(siteState, gateway, keys.get(site.name)!, progress);
    }
    progress.step('waiting for every tunnel to handshake');
    await this.waitForHandshakes(state, plan.gateways);
  }

  private createSite(
    state: LocalState,
    site: string,
    cidrs: string[],
    index: number,
    gateway: GatewayPlan,
    publicKey: string,
    dataPlane: DataPlaneName,
    progress: Progress,
  ): LocalSiteState {
    const gatewayNamespace = `${this.namespacePrefix}${site}-gw`;
    const lanNamespace = `${this.namespacePrefix}${site}-lan`;
    progress.step(`site ${site}: namespaces ${gatewayNamespace} and ${lanNamespace}`);
    this.addNamespace(state, gatewayNamespace);
    this.addNamespace(state, lanNamespace);
    const lanCidr = cidrs[0]!;
    const bits = parsePrefix(lanCidr).bits;
    const siteState: LocalSiteState = {
      site,
      cidrs,
      gatewayNamespace,
      lanNamespace,
      interfaceName: `${this.namespacePrefix.slice(0, -1)}${index}`,
      dataPlane,
      lanHost: nthHost(lanCidr, 2),
      gatewayAddress: nthHost(lanCidr, 1),
      wanAddress: `${WAN_SUBNET}.${index + 1}`,
      publicKey,
      keyVersion: 1,
      agentPid: null,
      configFile: join(this.stateDir, `${site}.yaml`),
      statusFile: join(this.stateDir, `${site}.status.json`),
      logFile: join(this.stateDir, `${site}.log`),
    };
    state.sites.push(siteState);
    this.writeState(state);
    // WAN: gateway <-> bridge.
    ip([
      'link',
      'add',
      'wan0',
      'netns',
      gatewayNamespace,
      'type',
      'veth',
      'peer',
      'name',
      `wan-${index}`,
      'netns',
      this.wanNamespace,
    ]);
    ip(['link', 'set', `wan-${index}`, 'master', 'wan', 'up'], this.wanNamespace);
    ip(['addr', 'add', `${siteState.wanAddress}/24`, 'dev', 'wan0'], gatewayNamespace);
    ip(['link', 'set', 'wan0', 'up'], gatewayNamespace);
    // LAN: host <-> gateway, on the site's first CIDR; the host reaches other sites through the gateway.
    ip([
      'link',
      'add',
      'lan0',
      'netns',
      gatewayNamespace,
      'type',
      'veth',
      'peer',
      'name',
      'lan0',
      'netns',
      lanNamespace,
    ]);
    ip(['addr', 'add', `${siteState.gatewayAddress}/${bits}`, 'dev', 'lan0'], gatewayNamespace);
    ip(['addr', 'add', `${siteState.lanHost}/${bits}`, 'dev', 'lan0'], lanNamespace);
    ip(['link', 'set', 'lan0', 'up'], gatewayNamespace);
    ip(['link', 'set', 'lan0', 'up'], lanNamespace);
    for (const route of gateway.routes) ip(['route', 'add', route, 'via', siteState.gatewayAddress], lanNamespace);
    return siteState;
  }

  private startAgent(site: LocalSiteState, gateway: GatewayPlan, privateKey: Buffer, progress: Progress): void {
    progress.step(`site ${site.site}: starting wiremesh-agent (${site.dataPlane} data plane) as ${site.interfaceName}`);
    writeKeyVersion(this.stateDir, site.site, site.keyVersion, privateKey);
    const config = agentConfigFor(gateway, {
      interfaceName: site.interfaceName,
      privateKey: { source: 'file', path: keyFile(this.stateDir, site.site, site.keyVersion) },
      dataPlane: site.dataPlane,
      health: { listen: joinHostPort('127.0.0.1', HEALTH_PORT) },
    });
    writeAgentConfig(site, { ...config, statusFile: site.statusFile });
    const log = openSync(site.logFile, 'a');
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        site.gatewayNamespace,
        process.execPath,
        join(packageRoot(), 'bin', 'wiremesh-agent.js'),
        'run',
        '--config',
        site.configFile,
      ],
      {
        detached: true,
        stdio: ['ignore', log, log],
      },
    );
    child.unref();
    site.agentPid = child.pid ?? null;
    this.updateSite(site);
  }

  /**
   * WireGuard handshakes on demand: one ping from every LAN host to every other site's LAN host
   * brings up each tunnel on its path (spoke to spoke crosses the hub).
   */
  private async waitForHandshakes(state: LocalState, gateways: GatewayPlan[], timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // First every agent must have its interface configured (a dump lists its peers).
    while (state.sites.some((site) => this.peerDump(site).length === 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    for (;;) {
      // One at a time: two gateways initiating to each other at once resolve only after a 5 s retry.
      for (const from of state.sites) {
        for (const to of state.sites) {
          if (to === from) continue;
          await new Promise<void>((resolve) => {
            spawn('ip', ['netns', 'exec', from.lanNamespace, 'ping', '-c', '1', '-W', '1', to.lanHost], {
              stdio: 'ignore',
            })
              .on('exit', () => resolve())
              .on('error', () => resolve());
          });
        }
      }
      const missing: string[] = [];
      for (const gateway of gateways) {
        const site = state.sites.find((s) => s.site === gateway.site)!;
        const handshakes = this.latestHandshakes(site);
        for (const peer of gateway.peers)
          if (!handshakes.get(peer.publicKey)) missing.push(`${gateway.site} -> ${peer.site}`);
      }
      if (missing.length === 0) return;
      if (Date.now() > deadline) throw new Error(`tunnels did not come up: ${missing.join(', ')}`);
    }
  }

  /** Public key (base64) -> Unix seconds of the latest handshake (0 = none), from `wg show dump`. */
  latestHandshakes(site: LocalSiteState): Map<string, number> {
    return new Map(this.peerDump(site).map((peer) => [peer.publicKey, peer.latestHandshake]));
  }

  peerDump(
    site: LocalSiteState,
  ): { publicKey: string; endpoint: string | null; latestHandshake: number; rxBytes: number; txBytes: number }[] {
    let dump: string;
    try {
      dump = execFileSync('ip', ['netns', 'exec', site.gatewayNamespace, 'wg', 'show', site.interfaceName, 'dump'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
    } catch {
      return [];
    }
    return dump
      .trim()
      .split('\n')
      .slice(1)
      .filter(Boolean)
      .map((line) => {
        const [publicKey, , endpoint, , latest, rx, tx] = line.split('\t');
        return {
          publicKey: publicKey!,
          endpoint: endpoint === '(none)' ? null : endpoint!,
          latestHandshake: Number(latest),
          rxBytes: Number(rx),
          txBytes: Number(tx),
        };
      });
  }

  /** Removes every process, namespace and file of the local mesh. Safe to run twice or after a crash. */
  async down(progress: Progress): Promise<void> {
    const state = this.readState();
    for (const site of state?.sites ?? []) {
      if (site.agentPid === null) continue;
      progress.step(`site ${site.site}: stopping wiremesh-agent (pid ${site.agentPid})`);
      await stopProcess(site.agentPid);
    }
    const namespaces = new Set([
      ...(state?.namespaces ?? []),
      ...leftoverNamespaces(state?.namespacePrefix ?? this.namespacePrefix),
    ]);
    for (const ns of namespaces) {
      progress.step(`removing namespace ${ns}`);
      killNamespaceProcesses(ns);
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
    for (const site of state?.sites ?? []) rmSync(`/var/run/wireguard/${site.interfaceName}.sock`, { force: true });
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** Our namespaces that outlived their state file (a crash before it was written). */
function leftoverNamespaces(prefix: string): string[] {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((line) => line.split(' ')[0]!)
      .filter((name) => name.startsWith(prefix));
  } catch {
    return [];
  }
}

function killNamespaceProcesses(ns: string): void {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
  } catch {
    // no such namespace
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopProcess(pid: number): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  for (let waited = 0; waited < 5000 && alive(pid); waited += 100)
    await new Promise((resolve) => setTimeout(resolve, 100));
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}
