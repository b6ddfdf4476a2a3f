/**
 * The mesh subcommands of `wiremesh`: plan, render, import, and for the local target up, status,
 * exec, rotate, revoke and down. SPEC defaults to examples/local/mesh.yaml (the three-site demo mesh).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { keyToBase64 } from '../agent/crypto/keys';
import { generatePrivateKey, publicKeyOf } from '../agent/crypto/primitives';
import { packageRoot } from '../agent/package-root';
import { revokeSite, rotateSite, type PhaseTiming } from '../mesh/local/rotation';
import { readStatusDocument } from '../mesh/local/site-files';
import {
  LocalTarget,
  localEndpoints,
  parseDataPlanes,
  type LocalSiteState,
  type LocalState,
} from '../mesh/local/target';
import { planMesh, type MeshPlan } from '../mesh/planner';
import type { MeshSpec } from '../mesh/spec';
import { parseMeshSpec } from '../mesh/validate';
import { importWgQuick, renderGateway } from '../mesh/wg-quick-render';
import type { CliIo, ParsedArguments } from './command';

const DEFAULT_SPEC = join(packageRoot(), 'examples', 'local', 'mesh.yaml');

function readSpec(path: string | undefined): MeshSpec {
  const file = path ?? DEFAULT_SPEC;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(
      `cannot read the mesh spec ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  return parseMeshSpec(text);
}

/**
 * Plans with placeholder keys (`plan` shows the shape of the mesh, not its secrets) and, for local
 * sites, the endpoints the local target assigns.
 */
function planWithoutKeys(spec: MeshSpec): MeshPlan {
  const publicKeys = Object.fromEntries(spec.sites.map((site) => [site.name, site.publicKey ?? `(${site.name} key)`]));
  return planMesh(spec, { publicKeys, endpoints: localEndpoints(spec) });
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export async function planCommand({ flags, positionals }: ParsedArguments, io: CliIo): Promise<number> {
  const json = flags.json === true;
  const spec = readSpec(positionals[0]);
  const plan = planWithoutKeys(spec);
  if (json) {
    io.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
    return 0;
  }
  const rows = [['GATEWAY', 'PEER', 'ENDPOINT', 'ALLOWED IPS', 'KEEPALIVE']];
  for (const gateway of plan.gateways) {
    for (const peer of gateway.peers) {
      rows.push([
        `${gateway.id}${gateway.forwards ? ' (hub)' : ''}`,
        peer.site,
        peer.endpoint ?? '(learned)',
        peer.allowedIps.join(','),
        peer.persistentKeepalive ? `${peer.persistentKeepalive}s` : '-',
      ]);
    }
  }
  io.stdout.write(
    `mesh ${plan.name}: ${plan.gateways.length} gateways, topology ${spec.topology.type}\n${table(rows)}\n`,
  );
  return 0;
}

/** Keys of the spec's own sites, kept in DIR/<site>.key (0600) so renders stay stable. */
function siteKeys(spec: MeshSpec, dir: string): Map<string, string> {
  const keys = new Map<string, string>();
  for (const site of spec.sites) {
    if (site.provider === 'external') continue;
    const path = join(dir, `${site.name}.key`);
    if (!existsSync(path)) writeFileSync(path, `${keyToBase64(generatePrivateKey())}\n`, { mode: 0o600 });
    keys.set(site.name, readFileSync(path, 'utf8').trim());
  }
  return keys;
}

export async function renderCommand({ flags, positionals }: ParsedArguments, io: CliIo): Promise<number> {
  const spec = readSpec(positionals[0]);
  const dir = typeof flags.out === 'string' ? flags.out : 'wiremesh-render';
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keys = siteKeys(spec, dir);
  const publicKeys = Object.fromEntries(
    [...keys].map(([site, key]) => [site, keyToBase64(publicKeyOf(Buffer.from(key, 'base64')))]),
  );
  const plan = planMesh(spec, { publicKeys, endpoints: localEndpoints(spec) });
  for (const gateway of plan.gateways) {
    const file = join(dir, `${gateway.id}.conf`);
    writeFileSync(file, renderGateway(plan, gateway, spec, keys.get(gateway.site)!), { mode: 0o600 });
    io.stdout.write(`${file}\n`);
  }
  return 0;
}

export async function importCommand({ flags, positionals: files }: ParsedArguments, io: CliIo): Promise<number> {
  const spec = importWgQuick(
    files.map((file) => ({ name: basename(file, '.conf'), text: readFileSync(file, 'utf8') })),
  );
  io.stdout.write(flags.json === true ? `${JSON.stringify(spec, null, 2)}\n` : toYaml(spec));
  return 0;
}

function ago(unixSeconds: number): string {
  if (unixSeconds === 0) return 'never';
  return `${Math.max(0, Math.round(Date.now() / 1000 - unixSeconds))}s ago`;
}

function siteStatus(target: LocalTarget, state: LocalState, site: LocalSiteState) {
  const byKey = new Map(state.sites.map((s) => [s.publicKey, s.site]));
  const keys = new Map((readStatusDocument(site)?.peers ?? []).map((peer) => [peer.publicKey, peer]));
  return {
    site: site.site,
    cidrs: site.cidrs,
    lanHost: site.lanHost,
    keyVersion: site.keyVersion,
    revoked: site.revoked === true,
    dataPlane: site.dataPlane,
    gateway: {
      namespace: site.gatewayNamespace,
      interface: site.interfaceName,
      address: site.gatewayAddress,
      wanAddress: site.wanAddress,
    },
    peers: target.peerDump(site).map((peer) => ({
      site: byKey.get(peer.publicKey) ?? peer.publicKey,
      endpoint: peer.endpoint,
      latestHandshake: peer.latestHandshake,
      rxBytes: peer.rxBytes,
      txBytes: peer.txBytes,
      // docs/key-rotation.md: steady, peer-next, offering-next or on-next (unknown before the agent reports).
      keyPhase: keys.get(peer.publicKey)?.phase ?? 'unknown',
      localKey: keys.get(peer.publicKey)?.localKey ?? null,
    })),
  };
}

function writeStatus(target: LocalTarget, state: LocalState, json: boolean, io: CliIo): void {
  const sites = state.sites.map((site) => siteStatus(target, state, site));
  if (json) {
    io.stdout.write(`${JSON.stringify({ mesh: state.mesh, sites }, null, 2)}\n`);
    return;
  }
  const rows = [['SITE', 'KEY', 'PLANE', 'LAN HOST', 'PEER', 'KEY PHASE', 'ENDPOINT', 'LATEST HANDSHAKE', 'RX', 'TX']];
  for (const site of sites) {
    const key = `v${site.keyVersion}${site.revoked ? ' (revoked)' : ''}`;
    for (const peer of site.peers) {
      rows.push([
        site.site,
        key,
        site.dataPlane,
        site.lanHost,
        peer.site,
        peer.keyPhase,
        peer.endpoint ?? '-',
        ago(peer.latestHandshake),
        String(peer.rxBytes),
        String(peer.txBytes),
      ]);
    }
  }
  io.stdout.write(`local mesh ${state.mesh}\n${table(rows)}\n`);
}

export async function upCommand({ flags, positionals }: ParsedArguments, io: CliIo): Promise<number> {
  const spec = readSpec(positionals[0]);
  const planeFlag = flags['data-plane'];
  const dataPlanes =
    typeof planeFlag === 'string'
      ? parseDataPlanes(
          planeFlag,
          spec.sites.map((site) => site.name),
        )
      : {};
  if (process.getuid?.() !== 0) {
    io.stderr.write('wiremesh up: the local target creates network namespaces and needs root (run it with sudo)\n');
    return 1;
  }
  const target = new LocalTarget();
  const started = Date.now();
  const state = await target.up(spec, { step: (message) => io.stderr.write(`==> ${message}\n`) }, dataPlanes);
  io.stderr.write(`==> mesh ${spec.name} is up in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  writeStatus(target, state, false, io);
  const [first, second] = state.sites.filter(
    (site) => !spec.topology.type.startsWith('hub') || !(spec.topology as { hubs: string[] }).hubs.includes(site.site),
  );
  if (first && second) io.stdout.write(`\ntry: npx wiremesh exec ${first.site} -- ping -c 3 ${second.lanHost}\n`);
  return 0;
}

export async function statusCommand({ flags }: ParsedArguments, io: CliIo): Promise<number> {
  const mesh = runningMesh(io);
  if (!mesh) return 1;
  writeStatus(mesh.target, mesh.state, flags.json === true, io);
  return 0;
}

/** The running local mesh, or null after telling the operator there is none. */
function runningMesh(io: CliIo): { target: LocalTarget; state: LocalState } | null {
  const target = new LocalTarget();
  const state = target.readState();
  if (!state) {
    io.stderr.write('no local mesh is up; start one with `npx wiremesh up`\n');
    return null;
  }
  return { target, state };
}

/** The named live sites, or every live site when none is named; null after naming an unknown one. */
function chooseSites(state: LocalState, names: string[], io: CliIo): LocalSiteState[] | null {
  const live = state.sites.filter((site) => !site.revoked);
  if (names.length === 0) return live;
  const unknown = names.filter((name) => !live.some((site) => site.site === name));
  if (unknown.length > 0) {
    io.stderr.write(
      `not a live site of the local mesh: ${unknown.join(', ')} (sites: ${live.map((s) => s.site).join(', ')})\n`,
    );
    return null;
  }
  return live.filter((site) => names.includes(site.site));
}

function progressTo(io: CliIo): { step(message: string): void } {
  return { step: (message) => io.stderr.write(`==> ${message}\n`) };
}

/** Rotates the named sites' keys (all when none is named), one site at a time, as docs/key-rotation.md says. */
export async function rotateCommand({ flags, positionals }: ParsedArguments, io: CliIo): Promise<number> {
  const mesh = runningMesh(io);
  const sites = mesh && chooseSites(mesh.state, positionals, io);
  if (!mesh || !sites) return 1;
  const timings: PhaseTiming[] = [];
  for (const site of sites) timings.push(...(await rotateSite(mesh.target, site.site, progressTo(io))));
  if (flags.json === true) {
    io.stdout.write(`${JSON.stringify({ phases: timings }, null, 2)}\n`);
    return 0;
  }
  const rows = [['SITE', 'PHASE', 'SECONDS'], ...timings.map((t) => [t.site, t.phase, t.seconds.toFixed(2)])];
  io.stdout.write(`${table(rows)}\n`);
  return 0;
}

/** Revokes a site's key: every peer drops it and its prefixes on its next reload. */
export async function revokeCommand({ positionals }: ParsedArguments, io: CliIo): Promise<number> {
  const mesh = runningMesh(io);
  const sites = mesh && chooseSites(mesh.state, positionals, io);
  if (!mesh || !sites) return 1;
  const seconds = await revokeSite(mesh.target, sites[0]!.site, progressTo(io));
  io.stdout.write(`${sites[0]!.site} revoked: every peer dropped it in ${seconds.toFixed(2)} s\n`);
  return 0;
}

export async function execCommand(
  { positionals: [site], rest: command }: ParsedArguments & { rest: string[] },
  io: CliIo,
): Promise<number> {
  const state = new LocalTarget().readState();
  const found = state?.sites.find((s) => s.site === site);
  if (!site || command.length === 0 || !found) {
    io.stderr.write(
      `Usage: wiremesh exec SITE -- COMMAND...\n${state ? `sites: ${state.sites.map((s) => s.site).join(', ')}\n` : 'no local mesh is up\n'}`,
    );
    return 1;
  }
  const result = spawnSync('ip', ['netns', 'exec', found.lanNamespace, ...command], { stdio: 'inherit' });
  return result.status ?? 1;
}

export async function downCommand(_args: unknown, io: CliIo): Promise<number> {
  await new LocalTarget().down({ step: (message) => io.stderr.write(`==> ${message}\n`) });
  io.stderr.write('==> the local mesh is down\n');
  return 0;
}
