/**
 * Driving a local mesh from a test: the `wiremesh` CLI with a state directory and namespace prefix
 * of the test's own, and pings every 50 ms between LAN hosts, counted by sequence number.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../agent/package-root';

const CLI = join(packageRoot(), 'bin', 'wiremesh.js');

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs `wiremesh ARGS...` with the project's Node and `env` (WIREMESH_STATE_DIR, WIREMESH_NAMESPACE_PREFIX). */
export function wiremeshCli(env: NodeJS.ProcessEnv, ...args: string[]): CliResult {
  const result = spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8', timeout: 150_000 });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** The same, not waiting: for sampling `status` while a rotation runs. */
export function wiremeshCliAsync(env: NodeJS.ProcessEnv, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr }));
  });
}

const PING_INTERVAL_MS = 50;
/** How long a ping sent just before the stop has for its reply. */
const STOP_GRACE_MS = 1000;

/** A ping every 50 ms from one LAN host to another, counted by sequence number. */
export class Pinger {
  private readonly child: ChildProcess;
  private output = '';
  private errors = '';
  private readonly exited: Promise<void>;

  constructor(
    readonly from: string,
    fromNamespace: string,
    readonly to: string,
  ) {
    this.child = spawn(
      'ip',
      ['netns', 'exec', fromNamespace, 'ping', '-n', '-i', String(PING_INTERVAL_MS / 1000), '-W', '1', to],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.child.stdout!.on('data', (chunk: Buffer) => {
      this.output += chunk.toString();
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.errors += chunk.toString();
    });
    // 'close', not 'exit': ping writes to a pipe in blocks, so most of its output (the summary
    // included) comes at the end, and 'exit' may fire before that output has been read.
    this.exited = new Promise((resolve) => this.child.on('close', () => resolve()));
  }

  /**
   * Stops it: pings go on for STOP_GRACE_MS more, so what was sent up to the stop call has had time
   * for its reply; every ping sent before that grace must have had one (those sent during it are
   * not counted), so a tunnel that went dead is counted to the end.
   */
  async stop(): Promise<Omit<PingResult, 'from' | 'to'>> {
    await new Promise((resolve) => setTimeout(resolve, STOP_GRACE_MS));
    this.child.kill('SIGINT');
    await this.exited;
    const transmitted = Number(/(\d+) packets transmitted/.exec(this.output)?.[1] ?? 0);
    // ping never sends faster than its interval, so at most this many went out during the grace.
    const counted = Math.max(0, transmitted - STOP_GRACE_MS / PING_INTERVAL_MS);
    const answered = new Set([...this.output.matchAll(/icmp_seq=(\d+)/g)].map((m) => Number(m[1])));
    const lostSeqs: number[] = [];
    for (let seq = 1; seq <= counted; seq++) if (!answered.has(seq)) lostSeqs.push(seq);
    return { sent: counted, lost: lostSeqs.length, lostSeqs, errors: this.errors.trim() };
  }
}

export interface PingResult {
  from: string;
  to: string;
  /** Pings counted: those sent before the stop's grace period. */
  sent: number;
  lost: number;
  lostSeqs: number[];
  errors: string;
}

export interface PhaseTimingJson {
  site: string;
  phase: string;
  seconds: number;
}

export async function stopPingers(pingers: Pinger[]): Promise<PingResult[]> {
  return Promise.all(pingers.map(async (pinger) => ({ from: pinger.from, to: pinger.to, ...(await pinger.stop()) })));
}

/** `site:next`, `site:switch`, `site:retire` for each site in turn: the order `wiremesh rotate` runs them. */
export function rotationOrder(...sites: string[]): string[] {
  return sites.flatMap((site) => ['next', 'switch', 'retire'].map((phase) => `${site}:${phase}`));
}

/**
 * Prints the phases and ping counts, then expects the phases in `order`, each shorter than
 * `maxPhaseSeconds`, and every pair pinged losing at most `maxLostPerPair` pings (0 unless a
 * known, documented window allows more).
 */
export function expectRotationLosing(
  label: string,
  phases: PhaseTimingJson[],
  results: PingResult[],
  expected: { order: string[]; maxPhaseSeconds: number; maxLostPerPair?: number },
): void {
  process.stdout.write(
    `${label}: rotation phases (s):\n${phases.map((p) => `  ${p.site} ${p.phase} ${p.seconds.toFixed(2)}`).join('\n')}\n` +
      `pings: ${results.map((r) => `${r.from}->${r.to} ${r.lost}/${r.sent} lost${r.lost ? ` (seq ${r.lostSeqs.join(' ')}, 50 ms apart)` : ''}`).join(', ')}\n`,
  );
  for (const result of results) {
    const pair = `${result.from}->${result.to}`;
    expect(`${pair}: ${result.sent > 20 ? 'pinged' : `${result.sent} sent (${result.errors})`}`).toBe(
      `${pair}: pinged`,
    );
    const allowed = expected.maxLostPerPair ?? 0;
    const verdict = result.lost <= allowed ? 'ok' : `${result.lost} lost (at most ${allowed})`;
    expect(`${pair}: ${verdict}`).toBe(`${pair}: ok`);
  }
  expect(phases.map((p) => `${p.site}:${p.phase}`)).toEqual(expected.order);
  for (const phase of phases) expect(phase.seconds).toBeLessThan(expected.maxPhaseSeconds);
}

/** Expects every peer of every site steady (no rotation in progress). */
export function expectAllSteady(sites: { site: string; peers: { site: string; keyPhase: string }[] }[]): void {
  for (const site of sites)
    for (const peer of site.peers)
      expect(`${site.site}->${peer.site} ${peer.keyPhase}`).toBe(`${site.site}->${peer.site} steady`);
}

/** `wiremesh down` succeeds and leaves no namespace of the mesh behind. */
export function expectDownLeavesNothing(env: NodeJS.ProcessEnv, namespacePrefix: string): void {
  expect(wiremeshCli(env, 'down').status).toBe(0);
  const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.startsWith(namespacePrefix));
  expect(left).toEqual([]);
}
