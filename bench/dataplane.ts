/**
 * Data-plane benchmark: iperf3 and ping through real tunnels between two network namespaces on this
 * host, for raw veth, wireguard-go <-> wireguard-go, wiremesh-wg <-> wiremesh-wg and the mixed pairs.
 *
 * Every path gets its own two namespaces (lab/netns.ts, names starting with "bn"), joined by a veth
 * with outer addresses 198.18.P.1/24 and .2/24; the tunnel interfaces carry 198.19.P.1/24 and .2/24
 * (P = path number). No namespace has a default route, and everything is removed in a finally.
 * Side A runs the iperf3 client (it sends), side B the server.
 *
 * Socket buffers: wireguard-go 0.0.20220316 keeps the default UDP buffers, so each WireGuard
 * namespace is asked for net.core.rmem_default/wmem_default = 4 MiB. On kernels where a child
 * namespace only mirrors the host's value read-only (6.18 does), that fails, and the host's value is
 * not ours to change. Either way wiremesh-wg gets WIREMESH_SOCKET_BUFFER_BYTES = rmem_default / 2:
 * SO_RCVBUF(FORCE) doubles its argument while the default is used as is, so both implementations
 * end up with the same effective buffers (printed from ss -uam). One extra column runs wiremesh-wg
 * with a 4 MiB request (8 MiB effective) for comparison.
 *
 * CPU per packet = utime+stime of one tunnel process / (rx+tx packets on its own tunnel interface),
 * the figure docs/crypto-costs.md compares with.
 * With offloads a "packet" on the TUN is a whole GSO segment of up to 64 KB, so the comparable figure
 * is CPU per 1368-byte TCP segment (the MSS inside a 1420-byte tunnel): CPU seconds / (bytes received
 * by iperf3 / 1368), once for the two tunnel processes and once for the whole host minus other jobs
 * (kernel softirq and iperf3 included). Bytes per TUN read = tx_bytes / tx_packets of the TUN (what
 * the kernel handed to the reader, one GSO segment per read), bytes per TUN write = rx_bytes /
 * rx_packets, bytes per UDP send = tx_bytes / tx_packets of side A's outer veth (a GSO send leaves as
 * one skb): the rows that show whether offloads engage.
 *
 * Ping: p50, p90 and p99 of the 200 pings right after the handshake, how many took over 0.5 ms, and
 * from each tunnel process's /proc/PID/task/TID/schedstat the CPU per ping of its main thread, of
 * V8's helper threads (background compiles and GC) and of all threads, and the run-queue wait per
 * ping: where a lone packet's tail goes on a shared host (docs/dataplane-offloads.md, "Where the p99
 * goes"). Those are a new process's first packets; 200 more pings after the TCP and UDP runs
 * ("warm") are what a gateway that has carried traffic answers with.
 *
 * wireguard-go-modern (current upstream wireguard-go: batched I/O, UDP GSO/GRO, TUN offloads) runs
 * when WIREGUARD_GO_MODERN or ../shared/anchors/wireguard-go-modern (beside the repository) exists;
 * its paths are skipped with a note otherwise. It forces 7 MiB socket buffers, so the paths measured
 * against it give wiremesh-wg the same 7 MiB request ("modern" buffers).
 *
 * Environment knobs: WIREMESH_BENCH_DATAPLANE=0 skips the suite; WIREMESH_BENCH_DATAPLANE_PATHS=1,3
 * runs only some paths; WIREMESH_BENCH_DATAPLANE_ROUNDS=N runs the selected paths N times,
 * alternating (path 1..k, then again), and reports per metric the round with the median value;
 * WIREMESH_BENCH_DATAPLANE_PING_ONLY=1 runs only the ping of each path (no iperf3);
 * WIREMESH_BENCH_SOCKET_BUFFER_BYTES overrides the 4 MiB request of path 6. Paths 12 and 13 vary
 * wiremesh-wg's data-plane threads (WIREMESH_THREADS=1, 2), path 14 runs it without the warm-up rehearsal
 * (WIREMESH_WARM_UP=0); the other wiremesh paths use the default.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { WIREGUARD_PORT } from '../common/defaults';
import { nativeAddonAvailable } from '../agent/native-addon';
import { packageRoot } from '../agent/package-root';
import { Lab, hasCommand, isRoot, modernWireguardGo, waitForExit, type Implementation } from '../lab/netns';

const TCP_SECONDS = 4;
const TCP_OMIT_SECONDS = 1;
const UDP_SECONDS = 3;
const UDP_LENGTH = 1300;
const PING_COUNT = 200;
const PING_INTERVAL = '0.005';
const SLOW_PING_MS = 0.5;
/** WIREMESH_BENCH_DATAPLANE_PING_ONLY=1: each path runs only its ping (many cheap alternating rounds). */
const pingOnly = process.env.WIREMESH_BENCH_DATAPLANE_PING_ONLY === '1';
const IPERF_PORT = 5201;
const DEFAULT_BUFFER_BYTES = 4194304;
/** wireguard-go-modern's socket buffers (7 MiB, forced): what wiremesh-wg asks for beside it. */
const MODERN_BUFFER_BYTES = 7 * 1024 * 1024;
/** The TCP MSS inside a 1420-byte tunnel with timestamps: the unit of "CPU per segment". */
const SEGMENT_BYTES = 1368;

type Side = 'a' | 'b';

interface PathSpec {
  id: number;
  column: string;
  title: string;
  a: Implementation | null;
  b: Implementation | null;
  /**
   * wiremesh-wg's socket-buffer request: 'matched' asks for half of the namespace's rmem_default
   * (the kernel doubles SO_RCVBUF/SO_SNDBUF requests), so it ends up with exactly the buffer
   * wireguard-go gets from the default; 'fixed' asks for the configured byte count (4 MiB);
   * 'modern' asks for wireguard-go-modern's 7 MiB.
   */
  buffers: 'matched' | 'fixed' | 'modern';
  /** Extra environment for wiremesh-wg on this path. */
  wiremeshEnv?: NodeJS.ProcessEnv;
}

const PATHS: PathSpec[] = [
  { id: 1, column: 'raw veth', title: 'raw veth, no tunnel', a: null, b: null, buffers: 'matched' },
  {
    id: 2,
    column: 'wg-go',
    title: 'wireguard-go -> wireguard-go',
    a: 'wireguard-go',
    b: 'wireguard-go',
    buffers: 'matched',
  },
  { id: 3, column: 'wiremesh', title: 'wiremesh-wg -> wiremesh-wg', a: 'wiremesh', b: 'wiremesh', buffers: 'matched' },
  {
    id: 4,
    column: 'wm->wg-go',
    title: 'wiremesh-wg (sending) -> wireguard-go',
    a: 'wiremesh',
    b: 'wireguard-go',
    buffers: 'matched',
  },
  {
    id: 5,
    column: 'wg-go->wm',
    title: 'wireguard-go (sending) -> wiremesh-wg',
    a: 'wireguard-go',
    b: 'wiremesh',
    buffers: 'matched',
  },
  {
    id: 6,
    column: 'wm 4MiB',
    title: 'wiremesh-wg -> wiremesh-wg, WIREMESH_SOCKET_BUFFER_BYTES=4 MiB',
    a: 'wiremesh',
    b: 'wiremesh',
    buffers: 'fixed',
  },
  {
    id: 7,
    column: 'modern',
    title: 'wireguard-go-modern -> wireguard-go-modern',
    a: 'wireguard-go-modern',
    b: 'wireguard-go-modern',
    buffers: 'modern',
  },
  {
    id: 8,
    column: 'wm 7MiB',
    title: 'wiremesh-wg -> wiremesh-wg, 7 MiB buffers as wireguard-go-modern',
    a: 'wiremesh',
    b: 'wiremesh',
    buffers: 'modern',
  },
  {
    id: 9,
    column: 'wm->modern',
    title: 'wiremesh-wg (sending) -> wireguard-go-modern',
    a: 'wiremesh',
    b: 'wireguard-go-modern',
    buffers: 'modern',
  },
  {
    id: 10,
    column: 'modern->wm',
    title: 'wireguard-go-modern (sending) -> wiremesh-wg',
    a: 'wireguard-go-modern',
    b: 'wiremesh',
    buffers: 'modern',
  },
  {
    id: 11,
    column: 'wm plain',
    title: 'wiremesh-wg -> wiremesh-wg, 7 MiB buffers, plain path (WIREMESH_OFFLOADS=0)',
    a: 'wiremesh',
    b: 'wiremesh',
    buffers: 'modern',
    wiremeshEnv: { WIREMESH_OFFLOADS: '0' },
  },
  {
    id: 12,
    column: 'wm t=1',
    title: 'wiremesh-wg -> wiremesh-wg, 7 MiB buffers, WIREMESH_THREADS=1 (everything on the main thread)',
    a: 'wiremesh',
    b: 'wiremesh',
    buffers: 'modern',
    wiremeshEnv: { WIREMESH_THREADS: '1' },
  },
  {
    id: 13,
    column: 'wm t=2',
    title: 'wiremesh-wg -> wiremesh-wg, 7 MiB buffers, WIREMESH_THREADS=2 (one send thread on its own TUN queue)',
    a: 'wiremesh',
    b: 'wiremesh',
    buffers: 'modern',
    wiremeshEnv: { WIREMESH_THREADS: '2' },
  },
  {
    id: 14,
    column: 'wm cold',
    title:
      'wiremesh-wg -> wiremesh-wg, 7 MiB buffers, no data-plane warm-up at the first handshake (WIREMESH_WARM_UP=0)',
    a: 'wiremesh',
    b: 'wiremesh',
    buffers: 'modern',
    wiremeshEnv: { WIREMESH_WARM_UP: '0' },
  },
];

const usesModern = (spec: PathSpec): boolean => spec.a === 'wireguard-go-modern' || spec.b === 'wireguard-go-modern';

/** Counters of one tunnel side, read from /proc of its process (which lives in the namespace). */
interface Counters {
  ticks: number;
  tunRxPackets: number;
  tunTxPackets: number;
  tunRxBytes: number;
  tunTxBytes: number;
  /** The outer veth of this side: what leaves as UDP (one skb per send, a GSO send included). */
  outerTxPackets: number;
  outerTxBytes: number;
  tunRxDropped: number;
  tunTxDropped: number;
  udpRcvbufErrors: number;
  udpSndbufErrors: number;
  udpInErrors: number;
  /** Receive drops of the tunnel's own UDP sockets (port 51820, /proc/net/udp{,6} "drops"). */
  tunnelSocketDrops: number;
}

/** Counters of one side over a measurement, CPU ticks turned into seconds. */
type SideDelta = Omit<Counters, 'ticks'> & { cpuSeconds: number };

interface LoadDelta {
  /** CPU of the processes in this path's namespaces (tunnels, iperf3 server) over the measurement, in seconds. */
  namespaceCpuSeconds: number;
  /** Host-wide busy CPU over the measurement, in cores. */
  hostBusyCores: number;
  /** CPU of processes outside this path's namespaces (other jobs on the machine), in cores. */
  otherCores: number;
  wallSeconds: number;
}

interface TcpResult {
  gbps: number;
  bytes: number;
  retransmits: number;
  seconds: number;
  sides?: Record<Side, SideDelta>;
  load: LoadDelta;
}

interface UdpResult {
  sentPps: number;
  receivedPps: number;
  lossPercent: number;
  receivedGbps: number;
  seconds: number;
  sides?: Record<Side, SideDelta>;
  load: LoadDelta;
}

interface PingResult {
  sent: number;
  received: number;
  avgMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Replies slower than SLOW_PING_MS: the tail as a count, which p99 of 200 pings hides. */
  slow: number;
  /** Each tunnel process's threads over the ping run (schedstat), per ping. */
  threads?: Record<Side, ThreadCosts>;
}

/**
 * CPU and run-queue wait of one tunnel process's threads, in us per ping, from
 * /proc/PID/task/TID/schedstat: the main thread, V8's helper threads ("V8Worker": background
 * compiles and GC; none for wireguard-go) and all threads. Wait is time runnable but not running:
 * what other threads, ours included, cost a packet that is ready.
 */
interface ThreadCosts {
  mainCpuUs: number;
  helperCpuUs: number;
  allCpuUs: number;
  allWaitUs: number;
}

interface TunnelInfo {
  names: Record<Side, string>;
  /** The outer veth device of each side. */
  veths: Record<Side, string>;
  pids: Record<Side, number>;
  mtu: Record<Side, number>;
  /** Effective SO_RCVBUF / SO_SNDBUF of the IPv4 tunnel socket (ss -uam rb/tb). */
  rcvbuf: Record<Side, number>;
  sndbuf: Record<Side, number>;
  firstPingMs: number | null;
  /** net.core.rmem_default as seen inside the namespaces after trying to set it to 4 MiB. */
  rmemDefault: number;
  /** WIREMESH_SOCKET_BUFFER_BYTES given to wiremesh-wg, if any side runs it. */
  wiremeshRequest: number | null;
}

export interface PathResult {
  spec: PathSpec;
  error?: string;
  tunnel?: TunnelInfo;
  ping?: PingResult;
  /** The same pings after the TCP and UDP runs: a tunnel that has carried traffic. */
  warmPing?: PingResult;
  tcp1?: TcpResult;
  tcp4?: TcpResult;
  udp?: UdpResult;
  /** Host CPU busy (cores) in the second before the path was set up: load from others. */
  backgroundCores?: number;
  quietWaitSeconds?: number;
  /** What the tunnel processes wrote on stderr (LOG_LEVEL=error). */
  stderr: Record<Side, string>;
  /** wiremesh-wg's GC pauses (bench/gc-probe.ts) over the whole path, per side. */
  gc?: Record<Side, GcPauses>;
  elapsedSeconds: number;
}

export interface DataplaneReport {
  skipped?: string;
  environment: Record<string, string>;
  paths: PathResult[];
  text: string;
}

// ---- helpers ---------------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function firstLine(command: string, args: string[]): string {
  try {
    const out = execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 });
    return (
      out
        .split('\n')
        .find((line) => line.trim() !== '')
        ?.trim() ?? '?'
    );
  } catch (error) {
    const out = `${(error as { stdout?: string }).stdout ?? ''}`;
    return (
      out
        .split('\n')
        .find((line) => line.trim() !== '')
        ?.trim() ?? '?'
    );
  }
}

let clockTicks = 100;

type ThreadTimes = { main: number; helper: number; all: number; wait: number };

/** Summed schedstat run and wait times (ns) of a process's threads, by kind (see ThreadCosts). */
function threadTimes(pid: number): ThreadTimes {
  const times: ThreadTimes = { main: 0, helper: 0, all: 0, wait: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const [run = 0, wait = 0] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8');
      if (Number(tid) === pid) times.main += run;
      else if (comm.startsWith('V8Worker')) times.helper += run;
      times.all += run;
      times.wait += wait;
    } catch {
      // the thread ended
    }
  }
  return times;
}

function threadCosts(before: ThreadTimes, after: ThreadTimes, pings: number): ThreadCosts {
  const perPing = (key: keyof ThreadTimes): number => (after[key] - before[key]) / 1000 / Math.max(1, pings);
  return {
    mainCpuUs: perPing('main'),
    helperCpuUs: perPing('helper'),
    allCpuUs: perPing('all'),
    allWaitUs: perPing('wait'),
  };
}

export function processTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  return Number(fields[11]) + Number(fields[12]);
}

function hostCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest fields are included in user/nice)
  const total = values.slice(0, 8).reduce((sum, value) => sum + value, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: total - idle, total };
}

function readCounters(pid: number, device: string, veth: string): Counters {
  const ticks = processTicks(pid);
  const devices = readFileSync(`/proc/${pid}/net/dev`, 'utf8').split('\n');
  const fields = (name: string): number[] => {
    const line = devices.find((entry) => entry.trim().startsWith(`${name}:`));
    if (!line) throw new Error(`no ${name} in /proc/${pid}/net/dev`);
    return line
      .slice(line.indexOf(':') + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
  };
  const d = fields(device);
  const outer = fields(veth);
  const snmp = readFileSync(`/proc/${pid}/net/snmp`, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('Udp:'));
  const header = snmp[0]!.split(/\s+/);
  const values = snmp[1]!.split(/\s+/).map(Number);
  const udp = (name: string): number => values[header.indexOf(name)] ?? 0;
  return {
    ticks,
    tunRxBytes: d[0]!,
    tunRxPackets: d[1]!,
    tunRxDropped: d[3]!,
    tunTxBytes: d[8]!,
    tunTxPackets: d[9]!,
    tunTxDropped: d[11]!,
    outerTxBytes: outer[8]!,
    outerTxPackets: outer[9]!,
    udpRcvbufErrors: udp('RcvbufErrors'),
    udpSndbufErrors: udp('SndbufErrors'),
    udpInErrors: udp('InErrors'),
    tunnelSocketDrops: socketDrops(pid, WIREGUARD_PORT),
  };
}

/**
 * The process that runs the device. bin/launch.js re-executes wiremesh-wg on the project's Node when
 * an older node started it; then the device is the launcher's only child, and its CPU is what counts.
 */
export function devicePid(pid: number): number {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    if (children.length === 1) return Number(children[0]);
  } catch {
    // no CONFIG_PROC_CHILDREN: assume no launcher
  }
  return pid;
}

function socketDrops(pid: number, port: number): number {
  const suffix = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let drops = 0;
  for (const file of ['udp', 'udp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${file}`, 'utf8');
    } catch {
      continue; // no IPv6
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length > 2 && fields[1]!.endsWith(suffix)) drops += Number(fields[fields.length - 1]) || 0;
    }
  }
  return drops;
}

function delta(before: Counters, after: Counters): SideDelta {
  return {
    cpuSeconds: (after.ticks - before.ticks) / clockTicks,
    tunRxPackets: after.tunRxPackets - before.tunRxPackets,
    tunTxPackets: after.tunTxPackets - before.tunTxPackets,
    tunRxBytes: after.tunRxBytes - before.tunRxBytes,
    tunTxBytes: after.tunTxBytes - before.tunTxBytes,
    outerTxPackets: after.outerTxPackets - before.outerTxPackets,
    outerTxBytes: after.outerTxBytes - before.outerTxBytes,
    tunRxDropped: after.tunRxDropped - before.tunRxDropped,
    tunTxDropped: after.tunTxDropped - before.tunTxDropped,
    udpRcvbufErrors: after.udpRcvbufErrors - before.udpRcvbufErrors,
    udpSndbufErrors: after.udpSndbufErrors - before.udpSndbufErrors,
    udpInErrors: after.udpInErrors - before.udpInErrors,
    tunnelSocketDrops: after.tunnelSocketDrops - before.tunnelSocketDrops,
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

/** utime+stime of every process now running (threads included), by PID. */
function allProcessTicks(): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      ticks.set(Number(entry), processTicks(Number(entry)));
    } catch {
      // exited meanwhile
    }
  }
  return ticks;
}

/** Busy cores host-wide over `ms` while we do nothing: the load other jobs put on the machine. */
async function backgroundLoad(ms: number): Promise<number> {
  const before = hostCpu();
  const start = Date.now();
  await sleep(ms);
  const after = hostCpu();
  return (after.busy - before.busy) / clockTicks / ((Date.now() - start) / 1000);
}

const QUIET_CORES = 0.3;
const QUIET_WAIT_PER_PATH_MS = 8000;
let quietBudgetMs = 30_000;

/** Waits (bounded, per path and per run) for other jobs to leave the CPUs alone; returns the last sample. */
async function waitForQuiet(): Promise<{ cores: number; waitedSeconds: number }> {
  const start = Date.now();
  let cores = await backgroundLoad(500);
  while (cores > QUIET_CORES && Date.now() - start < QUIET_WAIT_PER_PATH_MS && quietBudgetMs > 0) {
    const before = Date.now();
    cores = await backgroundLoad(500);
    quietBudgetMs -= Date.now() - before;
  }
  return { cores, waitedSeconds: (Date.now() - start) / 1000 };
}

// ---- one path ---------------------------------------------------------------------------------

interface GcPauses {
  count: number;
  totalMs: number;
  maxMs: number;
}

/** What bench/gc-probe.ts wrote for `pid`'s threads (after the process exited), summed. */
function readGcPauses(directory: string, pid: number | undefined): GcPauses {
  const files = readdirSync(directory).filter((file) => file.startsWith(`${pid}-`));
  return sumGc(files.map((file) => JSON.parse(readFileSync(join(directory, file), 'utf8')) as GcPauses));
}

class PathRunner {
  readonly lab: Lab;
  private nsA = '';
  private nsB = '';
  private target = '';
  private veths: Record<Side, string> = { a: '', b: '' };
  private tunnel: TunnelInfo | undefined;
  readonly stderr: Record<Side, string> = { a: '', b: '' };
  /** Where wiremesh-wg's GC probe writes its pauses, by PID, when the process exits. */
  readonly gcDirectory = mkdtempSync(join(tmpdir(), 'bn-gc-'));

  constructor(
    readonly spec: PathSpec,
    tag: string,
    private readonly bufferBytes: number,
  ) {
    this.lab = new Lab(`bn${tag}${spec.id}`);
  }

  /** The two namespaces and the veth between them. */
  init(): void {
    const { spec } = this;
    this.nsA = this.lab.namespace('a');
    this.nsB = this.lab.namespace('b');
    const p = spec.id;
    const { deviceA, deviceB } = this.lab.link(this.nsA, this.nsB, {
      a: [`198.18.${p}.1/24`],
      b: [`198.18.${p}.2/24`],
    });
    this.veths = { a: deviceA, b: deviceB };
    this.target = `198.18.${p}.2`;
  }

  async setUpTunnel(tag: string): Promise<TunnelInfo> {
    const { spec, lab } = this;
    const p = spec.id;
    const ns: Record<Side, string> = { a: this.nsA, b: this.nsB };
    const impl: Record<Side, Implementation> = { a: spec.a!, b: spec.b! };
    const names: Record<Side, string> = { a: `bn${tag}${p}wg0`, b: `bn${tag}${p}wg1` };
    const children: Partial<Record<Side, ChildProcess>> = {};
    let rmemDefault = 0;
    let wiremeshRequest: number | null = null;
    for (const side of ['a', 'b'] as const) {
      // On kernels where these are per namespace this raises wireguard-go's default buffers. Where a
      // child namespace only mirrors the host's value read-only (6.18 here), sysctl fails with EINVAL
      // and exits 0; the value read back is what wireguard-go gets.
      try {
        lab.run(ns[side], 'sysctl', ['-q', '-w', 'net.core.rmem_default=4194304', 'net.core.wmem_default=4194304']);
      } catch {
        // read back below
      }
      rmemDefault = Number(lab.run(ns[side], 'sysctl', ['-n', 'net.core.rmem_default']).trim());
      const env: NodeJS.ProcessEnv = { LOG_LEVEL: 'error' };
      if (impl[side] === 'wiremesh') {
        wiremeshRequest =
          spec.buffers === 'matched'
            ? Math.floor(rmemDefault / 2)
            : spec.buffers === 'modern'
              ? MODERN_BUFFER_BYTES
              : this.bufferBytes;
        env.WIREMESH_SOCKET_BUFFER_BYTES = String(wiremeshRequest);
        Object.assign(env, spec.wiremeshEnv);
      }
      if (impl[side] === 'wiremesh') {
        env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --require ${join(__dirname, 'gc-probe.js')}`.trim();
        env.WIREMESH_BENCH_GC_DIR = this.gcDirectory;
      }
      const child = await lab.wireguard(ns[side], impl[side], names[side], env);
      child.stderr?.on('data', (chunk: Buffer) => {
        if (this.stderr[side].length < 64 * 1024) this.stderr[side] += chunk.toString();
      });
      children[side] = child;
    }
    const privateKey = {
      a: execFileSync('wg', ['genkey'], { encoding: 'utf8' }).trim(),
      b: execFileSync('wg', ['genkey'], { encoding: 'utf8' }).trim(),
    };
    const publicKey = {
      a: execFileSync('wg', ['pubkey'], { input: privateKey.a, encoding: 'utf8' }).trim(),
      b: execFileSync('wg', ['pubkey'], { input: privateKey.b, encoding: 'utf8' }).trim(),
    };
    const host: Record<Side, number> = { a: 1, b: 2 };
    // `wg set private-key` wants a file (Node's stdin pipe is a socket, which /dev/stdin cannot open).
    const keyDirectory = mkdtempSync(join(tmpdir(), 'bn-keys-'));
    try {
      for (const side of ['a', 'b'] as const) {
        const other: Side = side === 'a' ? 'b' : 'a';
        const keyFile = join(keyDirectory, side);
        writeFileSync(keyFile, `${privateKey[side]}\n`, { mode: 0o600 });
        lab.wg(ns[side], [
          'set',
          names[side],
          'listen-port',
          String(WIREGUARD_PORT),
          'private-key',
          keyFile,
          'peer',
          publicKey[other],
          'endpoint',
          `198.18.${p}.${host[other]}:${WIREGUARD_PORT}`,
          'allowed-ips',
          `198.19.${p}.${host[other]}/32`,
          'persistent-keepalive',
          'off',
        ]);
        lab.addAddress(ns[side], names[side], `198.19.${p}.${host[side]}/24`);
        lab.run(ns[side], 'ip', ['link', 'set', names[side], 'up']);
      }
    } finally {
      rmSync(keyDirectory, { recursive: true, force: true });
    }
    const mtu = { a: 0, b: 0 };
    const rcvbuf = { a: 0, b: 0 };
    const sndbuf = { a: 0, b: 0 };
    for (const side of ['a', 'b'] as const) {
      const link = JSON.parse(lab.run(ns[side], 'ip', ['-j', 'link', 'show', 'dev', names[side]])) as { mtu: number }[];
      mtu[side] = link[0]?.mtu ?? 0;
      const ss = lab.run(ns[side], 'ss', ['-uamnH', 'sport', '=', `:${WIREGUARD_PORT}`]);
      // One entry per socket: "UNCONN 0 0 0.0.0.0:51820 0.0.0.0:*\n\t skmem:(r0,rb...,t0,tb...,...)"; take IPv4.
      const entries = ss.split(/\n(?=\S)/);
      const wildcard = new RegExp(`\\s(0\\.0\\.0\\.0|\\*):${WIREGUARD_PORT}\\s`);
      const v4 = entries.find((entry) => wildcard.test(entry) && !entry.includes('[')) ?? entries[0] ?? '';
      rcvbuf[side] = Number(/rb(\d+)/.exec(v4)?.[1] ?? 0);
      sndbuf[side] = Number(/tb(\d+)/.exec(v4)?.[1] ?? 0);
    }
    this.target = `198.19.${p}.2`;
    // The first ping triggers the handshake; its RTT covers handshake plus one round trip.
    let firstPingMs: number | null = null;
    for (let attempt = 0; attempt < 5 && firstPingMs === null; attempt++) {
      try {
        const out = (await lab.runAsync(this.nsA, 'ping', ['-n', '-c', '1', '-W', '2', this.target], 5000)).stdout;
        const match = /time=([\d.]+) ms/.exec(out);
        if (match) firstPingMs = Number(match[1]);
      } catch {
        // no reply yet (handshake retry after 5 s would be too slow; ping again)
      }
    }
    if (firstPingMs === null) {
      throw new Error(`tunnel does not pass traffic; stderr a: ${this.stderr.a.trim()} b: ${this.stderr.b.trim()}`);
    }
    this.tunnel = {
      names,
      veths: this.veths,
      mtu,
      rcvbuf,
      sndbuf,
      firstPingMs,
      rmemDefault,
      wiremeshRequest,
      pids: { a: devicePid(children.a!.pid!), b: devicePid(children.b!.pid!) },
    };
    return this.tunnel;
  }

  private namespacePids(): number[] {
    const pids: number[] = [];
    for (const ns of [this.nsA, this.nsB]) {
      try {
        pids.push(
          ...execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number),
        );
      } catch {
        // gone
      }
    }
    return pids;
  }

  private snapshot(): Record<Side, Counters> | undefined {
    const t = this.tunnel;
    if (!t) return undefined;
    return { a: readCounters(t.pids.a, t.names.a, t.veths.a), b: readCounters(t.pids.b, t.names.b, t.veths.b) };
  }

  async ping(): Promise<PingResult> {
    const pids = this.tunnel?.pids;
    const before = pids && { a: threadTimes(pids.a), b: threadTimes(pids.b) };
    const out = (
      await this.lab
        .runAsync(
          this.nsA,
          'ping',
          ['-n', '-c', String(PING_COUNT), '-i', PING_INTERVAL, '-W', '1', '-w', '15', this.target],
          20_000,
        )
        .catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }))
    ).stdout;
    const rtts = [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((x, y) => x - y);
    const threads =
      pids && before
        ? {
            a: threadCosts(before.a, threadTimes(pids.a), rtts.length),
            b: threadCosts(before.b, threadTimes(pids.b), rtts.length),
          }
        : undefined;
    return {
      sent: PING_COUNT,
      received: rtts.length,
      avgMs: rtts.reduce((sum, value) => sum + value, 0) / rtts.length,
      p50Ms: percentile(rtts, 50),
      p90Ms: percentile(rtts, 90),
      p99Ms: percentile(rtts, 99),
      maxMs: rtts[rtts.length - 1] ?? NaN,
      slow: rtts.filter((rtt) => rtt > SLOW_PING_MS).length,
      ...(threads && { threads }),
    };
  }

  /** One iperf3 run: a one-shot server in B, the client in A; returns the client's JSON. */
  private async iperf(
    clientArgs: string[],
    seconds: number,
  ): Promise<{ json: IperfJson; sides?: Record<Side, SideDelta>; load: LoadDelta }> {
    const server = this.lab.spawn(this.nsB, 'iperf3', ['-s', '-1', '-B', this.target, '-p', String(IPERF_PORT)]);
    let serverErrors = '';
    server.stderr?.on('data', (chunk: Buffer) => (serverErrors += chunk.toString()));
    const deadline = Date.now() + 5000;
    while (this.lab.run(this.nsB, 'ss', ['-Hltn', 'sport', '=', `:${IPERF_PORT}`]).trim() === '') {
      if (server.exitCode !== null || Date.now() > deadline)
        throw new Error(`iperf3 server did not start: ${serverErrors}`);
      await sleep(20);
    }
    const ours = new Set<number>([process.pid, ...this.namespacePids()]);
    const before = this.snapshot();
    const processesBefore = allProcessTicks();
    const hostBefore = hostCpu();
    const start = Date.now();
    let stdout: string;
    try {
      stdout = (
        await this.lab.runAsync(
          this.nsA,
          'iperf3',
          ['-c', this.target, '-p', String(IPERF_PORT), '-J', '--connect-timeout', '3000', ...clientArgs],
          (seconds + 15) * 1000,
        )
      ).stdout;
    } catch (error) {
      stdout = (error as { stdout?: string }).stdout ?? '';
      if (!stdout.includes('"end"'))
        throw new Error(`iperf3 ${clientArgs.join(' ')} failed: ${(error as Error).message} ${serverErrors}`);
    }
    const wallSeconds = (Date.now() - start) / 1000;
    const hostAfter = hostCpu();
    const after = this.snapshot();
    const processesAfter = allProcessTicks();
    let otherTicks = 0;
    let namespaceTicks = 0;
    for (const [pid, ticks] of processesAfter) {
      const earlier = processesBefore.get(pid);
      if (earlier === undefined) continue;
      if (!ours.has(pid)) otherTicks += ticks - earlier;
      else if (pid !== process.pid) namespaceTicks += ticks - earlier;
    }
    if (!(await waitForExit(server, 3000))) server.kill('SIGKILL');
    const json = JSON.parse(stdout) as IperfJson;
    if (json.error) throw new Error(`iperf3 ${clientArgs.join(' ')}: ${json.error}`);
    const sides = before && after ? { a: delta(before.a, after.a), b: delta(before.b, after.b) } : undefined;
    const load = {
      hostBusyCores: (hostAfter.busy - hostBefore.busy) / clockTicks / wallSeconds,
      otherCores: otherTicks / clockTicks / wallSeconds,
      namespaceCpuSeconds: namespaceTicks / clockTicks,
      wallSeconds,
    };
    return { json, sides, load };
  }

  async tcp(streams: number): Promise<TcpResult> {
    const args = [
      '-t',
      String(TCP_SECONDS),
      '-O',
      String(TCP_OMIT_SECONDS),
      ...(streams > 1 ? ['-P', String(streams)] : []),
    ];
    const { json, sides, load } = await this.iperf(args, TCP_SECONDS + TCP_OMIT_SECONDS);
    const received = json.end.sum_received!;
    return {
      gbps: received.bits_per_second / 1e9,
      bytes: received.bytes,
      retransmits: json.end.sum_sent?.retransmits ?? NaN,
      seconds: received.seconds,
      sides,
      load,
    };
  }

  async udp(): Promise<UdpResult> {
    const { json, sides, load } = await this.iperf(
      ['-u', '-b', '0', '-l', String(UDP_LENGTH), '-t', String(UDP_SECONDS)],
      UDP_SECONDS,
    );
    const sent = json.end.sum_sent!;
    const received = json.end.sum_received!;
    const receivedPackets = (received.packets ?? 0) - (received.lost_packets ?? 0);
    return {
      sentPps: (sent.packets ?? 0) / sent.seconds,
      receivedPps: receivedPackets / received.seconds,
      lossPercent: received.lost_percent ?? NaN,
      receivedGbps: received.bits_per_second / 1e9,
      seconds: received.seconds,
      sides,
      load,
    };
  }
}

interface IperfSum {
  seconds: number;
  bytes: number;
  bits_per_second: number;
  retransmits?: number;
  packets?: number;
  lost_packets?: number;
  lost_percent?: number;
}

interface IperfJson {
  error?: string;
  end: { sum_sent?: IperfSum; sum_received?: IperfSum };
}

let activeLab: Lab | null = null;

function pingLine({ p50Ms, p90Ms, p99Ms, slow }: PingResult): string {
  return `    p50 ${p50Ms.toFixed(3)} p90 ${p90Ms.toFixed(3)} p99 ${p99Ms.toFixed(3)} ms, ${slow} over ${SLOW_PING_MS} ms`;
}

async function runPath(
  spec: PathSpec,
  tag: string,
  bufferBytes: number,
  log: (line: string) => void,
): Promise<PathResult> {
  const started = Date.now();
  const result: PathResult = { spec, stderr: { a: '', b: '' }, elapsedSeconds: 0 };
  const quiet = await waitForQuiet();
  result.backgroundCores = quiet.cores;
  result.quietWaitSeconds = quiet.waitedSeconds;
  let runner: PathRunner | null = null;
  try {
    runner = new PathRunner(spec, tag, bufferBytes);
    activeLab = runner.lab;
    runner.init();
    if (spec.a && spec.b) result.tunnel = await runner.setUpTunnel(tag);
    log(`  ping`);
    result.ping = await runner.ping();
    log(pingLine(result.ping));
    if (pingOnly) return result;
    log(`  tcp 1 stream`);
    result.tcp1 = await runner.tcp(1);
    log(`  tcp 4 streams`);
    result.tcp4 = await runner.tcp(4);
    log(`  udp flood`);
    result.udp = await runner.udp();
    log(`  ping, warm`);
    result.warmPing = await runner.ping();
    log(pingLine(result.warmPing));
  } catch (error) {
    result.error = (error as Error).message.split('\n').slice(0, 4).join(' | ');
  } finally {
    if (runner) {
      // Give stderr a moment to arrive before the processes are stopped.
      await sleep(50);
      result.stderr = { ...runner.stderr };
      await runner.lab.cleanup();
      const pids = result.tunnel?.pids;
      if (spec.a === 'wiremesh' || spec.b === 'wiremesh') {
        result.gc = { a: readGcPauses(runner.gcDirectory, pids?.a), b: readGcPauses(runner.gcDirectory, pids?.b) };
      }
      rmSync(runner.gcDirectory, { recursive: true, force: true });
    }
    activeLab = null;
    result.elapsedSeconds = (Date.now() - started) / 1000;
  }
  return result;
}

// ---- report -----------------------------------------------------------------------------------

/** The middle element by `key` among the rounds that have it. */
function median<T>(items: T[], key: (item: T) => number | undefined): T | undefined {
  const known = items.filter((item) => Number.isFinite(key(item))).sort((x, y) => key(x)! - key(y)!);
  return known[Math.floor((known.length - 1) / 2)];
}

function sumGc(all: (GcPauses | undefined)[]): GcPauses {
  const known = all.filter((gc): gc is GcPauses => gc !== undefined);
  return {
    count: known.reduce((sum, gc) => sum + gc.count, 0),
    totalMs: known.reduce((sum, gc) => sum + gc.totalMs, 0),
    maxMs: Math.max(0, ...known.map((gc) => gc.maxMs)),
  };
}

/** One path's rounds merged: each measurement from the round with its median headline figure. */
function medianResult(rounds: PathResult[]): PathResult {
  const first = rounds[0]!;
  if (rounds.length === 1) return first;
  const ok = rounds.filter((round) => !round.error);
  return {
    ...first,
    error: ok.length === 0 ? first.error : undefined,
    tunnel: median(ok, (r) => r.tunnel?.firstPingMs ?? undefined)?.tunnel ?? first.tunnel,
    ping: median(ok, (r) => r.ping?.p50Ms)?.ping,
    warmPing: median(ok, (r) => r.warmPing?.p50Ms)?.warmPing,
    tcp1: median(ok, (r) => r.tcp1?.gbps)?.tcp1,
    tcp4: median(ok, (r) => r.tcp4?.gbps)?.tcp4,
    udp: median(ok, (r) => r.udp?.receivedPps)?.udp,
    elapsedSeconds: rounds.reduce((sum, round) => sum + round.elapsedSeconds, 0),
    gc: first.gc && {
      a: sumGc(rounds.map((round) => round.gc?.a)),
      b: sumGc(rounds.map((round) => round.gc?.b)),
    },
  };
}

type Better = 'higher' | 'lower' | null;

interface Row {
  label: string;
  better: Better;
  value: (path: PathResult) => number | undefined;
  digits: number;
}

function cpuPerPacketUs(side: SideDelta | undefined): number | undefined {
  if (!side) return undefined;
  const packets = side.tunRxPackets + side.tunTxPackets;
  return packets > 0 ? (side.cpuSeconds * 1e6) / packets : undefined;
}

/** CPU per 1368-byte TCP segment delivered: tunnels = both tunnel processes; host = all busy CPU minus other jobs. */
function cpuPerSegmentUs(result: TcpResult | undefined, scope: 'tunnels' | 'host'): number | undefined {
  if (!result?.sides || result.bytes <= 0) return undefined;
  const segments = result.bytes / SEGMENT_BYTES;
  const seconds =
    scope === 'tunnels'
      ? result.sides.a.cpuSeconds + result.sides.b.cpuSeconds
      : (result.load.hostBusyCores - result.load.otherCores) * result.load.wallSeconds;
  return (seconds * 1e6) / segments;
}

const MAIN_ROWS: Row[] = [
  { label: 'TCP 1 stream, Gbit/s', better: 'higher', digits: 3, value: (p) => p.tcp1?.gbps },
  { label: 'TCP -P 4, Gbit/s', better: 'higher', digits: 3, value: (p) => p.tcp4?.gbps },
  {
    label: 'UDP flood, received kpps',
    better: 'higher',
    digits: 1,
    value: (p) => (p.udp ? p.udp.receivedPps / 1000 : undefined),
  },
  { label: 'UDP flood, sent kpps', better: null, digits: 1, value: (p) => (p.udp ? p.udp.sentPps / 1000 : undefined) },
  { label: 'UDP flood, loss %', better: null, digits: 1, value: (p) => p.udp?.lossPercent },
  { label: 'ping RTT avg, ms', better: 'lower', digits: 3, value: (p) => p.ping?.avgMs },
  { label: 'ping RTT p50, ms', better: 'lower', digits: 3, value: (p) => p.ping?.p50Ms },
  { label: 'ping RTT p90, ms', better: 'lower', digits: 3, value: (p) => p.ping?.p90Ms },
  { label: 'ping RTT p99, ms', better: 'lower', digits: 3, value: (p) => p.ping?.p99Ms },
  { label: 'ping RTT p50, warm, ms', better: 'lower', digits: 3, value: (p) => p.warmPing?.p50Ms },
  { label: 'ping RTT p90, warm, ms', better: 'lower', digits: 3, value: (p) => p.warmPing?.p90Ms },
  { label: 'ping RTT p99, warm, ms', better: 'lower', digits: 3, value: (p) => p.warmPing?.p99Ms },
  {
    label: 'CPU us/segment TCP1, tunnels A+B',
    better: 'lower',
    digits: 2,
    value: (p) => cpuPerSegmentUs(p.tcp1, 'tunnels'),
  },
  {
    label: 'CPU us/segment TCP1, host - others',
    better: 'lower',
    digits: 2,
    value: (p) => cpuPerSegmentUs(p.tcp1, 'host'),
  },
  {
    label: 'CPU us/segment TCP4, tunnels A+B',
    better: 'lower',
    digits: 2,
    value: (p) => cpuPerSegmentUs(p.tcp4, 'tunnels'),
  },
  {
    label: 'CPU us/pkt TCP1, side A (send)',
    better: 'lower',
    digits: 1,
    value: (p) => cpuPerPacketUs(p.tcp1?.sides?.a),
  },
  {
    label: 'CPU us/pkt TCP1, side B (recv)',
    better: 'lower',
    digits: 1,
    value: (p) => cpuPerPacketUs(p.tcp1?.sides?.b),
  },
  { label: 'CPU us/pkt TCP4, side A', better: 'lower', digits: 1, value: (p) => cpuPerPacketUs(p.tcp4?.sides?.a) },
  { label: 'CPU us/pkt TCP4, side B', better: 'lower', digits: 1, value: (p) => cpuPerPacketUs(p.tcp4?.sides?.b) },
  {
    label: 'CPU us/pkt UDP, side A (encrypt)',
    better: 'lower',
    digits: 1,
    value: (p) => cpuPerPacketUs(p.udp?.sides?.a),
  },
  {
    label: 'CPU us/pkt UDP, side B (decrypt)',
    better: 'lower',
    digits: 1,
    value: (p) => cpuPerPacketUs(p.udp?.sides?.b),
  },
];

type Cell = (path: PathResult) => string;

const perSecond = (count: number | undefined, seconds: number | undefined): string =>
  count === undefined || !seconds ? '-' : (count / seconds / 1000).toFixed(1);
const pair = (a: string, b: string): string => `${a}/${b}`;
const kib = (bytes: number): string => String(Math.round(bytes / 1024));

const bytesPer = (bytes: number | undefined, count: number | undefined): string =>
  bytes === undefined || !count ? '-' : String(Math.round(bytes / count));

const threadCell = (p: PathResult, figure: (costs: ThreadCosts) => number): string =>
  p.ping?.threads ? pair(figure(p.ping.threads.a).toFixed(0), figure(p.ping.threads.b).toFixed(0)) : '-';

const DIAGNOSTIC_ROWS: { label: string; cell: Cell }[] = [
  {
    label: 'TCP1 bytes per TUN read A',
    cell: (p) => bytesPer(p.tcp1?.sides?.a.tunTxBytes, p.tcp1?.sides?.a.tunTxPackets),
  },
  {
    label: 'TCP1 bytes per UDP send A',
    cell: (p) => bytesPer(p.tcp1?.sides?.a.outerTxBytes, p.tcp1?.sides?.a.outerTxPackets),
  },
  {
    label: 'TCP1 bytes per TUN write B',
    cell: (p) => bytesPer(p.tcp1?.sides?.b.tunRxBytes, p.tcp1?.sides?.b.tunRxPackets),
  },
  {
    label: 'UDP bytes per TUN read A',
    cell: (p) => bytesPer(p.udp?.sides?.a.tunTxBytes, p.udp?.sides?.a.tunTxPackets),
  },
  {
    label: 'UDP bytes per UDP send A',
    cell: (p) => bytesPer(p.udp?.sides?.a.outerTxBytes, p.udp?.sides?.a.outerTxPackets),
  },
  {
    label: 'wiremesh GC pauses A/B: n, max ms',
    cell: (p) =>
      p.gc ? (['a', 'b'] as const).map((s) => `${p.gc![s].count},${p.gc![s].maxMs.toFixed(1)}`).join(' / ') : '-',
  },
  {
    label: 'wiremesh GC pause ms per s A/B',
    cell: (p) =>
      p.gc ? (['a', 'b'] as const).map((s) => (p.gc![s].totalMs / p.elapsedSeconds).toFixed(2)).join('/') : '-',
  },
  { label: 'tunnel MTU A/B', cell: (p) => (p.tunnel ? pair(String(p.tunnel.mtu.a), String(p.tunnel.mtu.b)) : '-') },
  {
    label: 'wiremesh buffer request',
    cell: (p) => (p.tunnel?.wiremeshRequest != null ? String(p.tunnel.wiremeshRequest) : '-'),
  },
  {
    label: 'UDP sock rcvbuf KiB A/B',
    cell: (p) => (p.tunnel ? pair(kib(p.tunnel.rcvbuf.a), kib(p.tunnel.rcvbuf.b)) : '-'),
  },
  {
    label: 'UDP sock sndbuf KiB A/B',
    cell: (p) => (p.tunnel ? pair(kib(p.tunnel.sndbuf.a), kib(p.tunnel.sndbuf.b)) : '-'),
  },
  {
    label: 'first ping (handshake), ms',
    cell: (p) => (p.tunnel?.firstPingMs != null ? p.tunnel.firstPingMs.toFixed(2) : '-'),
  },
  { label: 'ping replies / sent', cell: (p) => (p.ping ? pair(String(p.ping.received), String(p.ping.sent)) : '-') },
  { label: 'ping RTT max, ms', cell: (p) => (p.ping ? p.ping.maxMs.toFixed(3) : '-') },
  { label: `pings over ${SLOW_PING_MS} ms`, cell: (p) => (p.ping ? String(p.ping.slow) : '-') },
  { label: `pings over ${SLOW_PING_MS} ms, warm`, cell: (p) => (p.warmPing ? String(p.warmPing.slow) : '-') },
  {
    label: 'ping CPU us/ping A/B, all threads',
    cell: (p) => threadCell(p, (t) => t.allCpuUs),
  },
  {
    label: 'ping CPU us/ping A/B, main thread',
    cell: (p) => threadCell(p, (t) => t.mainCpuUs),
  },
  {
    label: 'ping CPU us/ping A/B, V8 helpers',
    cell: (p) => threadCell(p, (t) => t.helperCpuUs),
  },
  {
    label: 'ping run-queue wait us/ping A/B',
    cell: (p) => threadCell(p, (t) => t.allWaitUs),
  },
  { label: 'TCP1 retransmits', cell: (p) => (p.tcp1 ? String(p.tcp1.retransmits) : '-') },
  { label: 'TCP4 retransmits', cell: (p) => (p.tcp4 ? String(p.tcp4.retransmits) : '-') },
  {
    label: 'TCP1 data kpps (A tun read)',
    cell: (p) => perSecond(p.tcp1?.sides?.a.tunTxPackets, p.tcp1?.load.wallSeconds),
  },
  { label: 'TCP1 tunnel CPU cores A/B', cell: (p) => cores(p.tcp1) },
  { label: 'TCP1 host busy cores', cell: (p) => (p.tcp1 ? p.tcp1.load.hostBusyCores.toFixed(2) : '-') },
  {
    label: 'other jobs cores TCP1/4/UDP',
    cell: (p) => [p.tcp1, p.tcp4, p.udp].map((r) => (r ? r.load.otherCores.toFixed(1) : '-')).join('/'),
  },
  { label: 'TCP1 tunnel sock drops A/B', cell: (p) => tunnelDrops(p.tcp1?.sides) },
  { label: 'TCP4 tunnel sock drops A/B', cell: (p) => tunnelDrops(p.tcp4?.sides) },
  { label: 'UDP tunnel CPU cores A/B', cell: (p) => cores(p.udp) },
  { label: 'UDP A tun read kpps', cell: (p) => perSecond(p.udp?.sides?.a.tunTxPackets, p.udp?.load.wallSeconds) },
  { label: 'UDP A tun tx_dropped kpps', cell: (p) => perSecond(p.udp?.sides?.a.tunTxDropped, p.udp?.load.wallSeconds) },
  {
    label: 'UDP B tun writes kpps (frames)',
    cell: (p) => perSecond(p.udp?.sides?.b.tunRxPackets, p.udp?.load.wallSeconds),
  },
  {
    // In bytes: with USO, one TUN write carries many datagrams.
    label: 'UDP lost A read->B written, % bytes',
    cell: (p) => {
      const s = p.udp?.sides;
      if (!s || s.a.tunTxBytes === 0) return '-';
      return ((100 * (s.a.tunTxBytes - s.b.tunRxBytes)) / s.a.tunTxBytes).toFixed(1);
    },
  },
  { label: 'UDP tunnel sock drops A/B', cell: (p) => tunnelDrops(p.udp?.sides) },
  { label: 'UDP netns RcvbufErrors B', cell: (p) => (p.udp?.sides ? String(p.udp.sides.b.udpRcvbufErrors) : '-') },
  {
    label: 'UDP SndbufErr/InErrors A',
    cell: (p) => (p.udp?.sides ? pair(String(p.udp.sides.a.udpSndbufErrors), String(p.udp.sides.a.udpInErrors)) : '-'),
  },
  {
    label: 'load before path, cores (wait s)',
    cell: (p) =>
      p.backgroundCores !== undefined
        ? `${p.backgroundCores.toFixed(2)} (${(p.quietWaitSeconds ?? 0).toFixed(1)})`
        : '-',
  },
  { label: 'path wall time, s', cell: (p) => p.elapsedSeconds.toFixed(1) },
];

function cores(result: TcpResult | UdpResult | undefined): string {
  const s = result?.sides;
  if (!s || !result) return '-';
  const wall = result.load.wallSeconds;
  return pair((s.a.cpuSeconds / wall).toFixed(2), (s.b.cpuSeconds / wall).toFixed(2));
}

function tunnelDrops(sides: Record<Side, SideDelta> | undefined): string {
  return sides ? pair(String(sides.a.tunnelSocketDrops), String(sides.b.tunnelSocketDrops)) : '-';
}

function formatNumber(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits);
}

function ratio(numerator: number | undefined, denominator: number | undefined): string {
  if (
    numerator === undefined ||
    denominator === undefined ||
    !Number.isFinite(numerator) ||
    !Number.isFinite(denominator) ||
    denominator === 0
  ) {
    return '-';
  }
  return `${(numerator / denominator).toFixed(2)}x`;
}

function renderTable(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

function render(environment: Record<string, string>, paths: PathResult[]): string {
  const byId = (id: number): PathResult | undefined => paths.find((p) => p.spec.id === id);
  const wggo = byId(2);
  const wm = byId(3);
  const mixed = byId(4);
  const modern = byId(7);
  const wmModern = byId(8);
  const oneThread = byId(12);
  const twoThreads = byId(13);
  const cold = byId(14);
  const lines: string[] = ['', 'Data plane (iperf3 and ping through two namespaces on this host; side A sends)'];
  for (const [key, value] of Object.entries(environment)) lines.push(`  ${key}: ${value}`);
  lines.push('');
  const header = [
    'metric',
    ...paths.map((p) => p.spec.column),
    'wiremesh/wg-go',
    'mixed/wg-go',
    'wm 7MiB/modern',
    't=1/modern',
    't=2/modern',
    't=2/t=1',
    'cold/modern',
  ];
  const mainRows = MAIN_ROWS.map((row) => {
    const ratios = row.better
      ? [
          ratio(wm && row.value(wm), wggo && row.value(wggo)),
          ratio(mixed && row.value(mixed), wggo && row.value(wggo)),
          ratio(wmModern && row.value(wmModern), modern && row.value(modern)),
          ratio(oneThread && row.value(oneThread), modern && row.value(modern)),
          ratio(twoThreads && row.value(twoThreads), modern && row.value(modern)),
          ratio(twoThreads && row.value(twoThreads), oneThread && row.value(oneThread)),
          ratio(cold && row.value(cold), modern && row.value(modern)),
        ]
      : ['-', '-', '-', '-', '-', '-', '-'];
    return [row.label, ...paths.map((p) => formatNumber(row.value(p), row.digits)), ...ratios];
  });
  lines.push(...renderTable(header, mainRows));
  lines.push(
    '  ratios = path 3 / path 2, path 4 / path 2, path 8 / path 7, paths 12 and 13 / path 7, path 13 / path 12 and path 14 / path 7: above 1x is better for Gbit/s and kpps, below 1x for RTT and CPU.',
  );
  lines.push('');
  lines.push(
    ...renderTable(
      ['diagnostics', ...paths.map((p) => p.spec.column)],
      DIAGNOSTIC_ROWS.map((row) => [row.label, ...paths.map(row.cell)]),
    ),
  );
  for (const p of paths) {
    if (p.error) lines.push(`  path ${p.spec.id} (${p.spec.title}) FAILED: ${p.error}`);
    for (const side of ['a', 'b'] as const) {
      const text = p.stderr[side].trim();
      if (text) {
        const impl = side === 'a' ? p.spec.a : p.spec.b;
        const shown = text.split('\n').slice(0, 5).join(' | ');
        lines.push(
          `  path ${p.spec.id} side ${side.toUpperCase()} (${impl}) stderr: ${shown}${text.split('\n').length > 5 ? ' | ...' : ''}`,
        );
      }
    }
  }
  return lines.join('\n');
}

// ---- entry point ------------------------------------------------------------------------------

function missingPrerequisite(): string | null {
  if (process.env.WIREMESH_BENCH_DATAPLANE === '0') return 'WIREMESH_BENCH_DATAPLANE=0';
  if (process.platform !== 'linux') return 'not Linux';
  if (!isRoot()) return 'not running as root (network namespaces need it)';
  for (const command of ['ip', 'wg', 'wireguard-go', 'iperf3', 'ping', 'ss', 'sysctl']) {
    if (!hasCommand(command)) return `${command} is not installed`;
  }
  if (!nativeAddonAvailable()) return 'the native I/O addon is not built (npm install)';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing';
  return null;
}

export async function runDataplaneBench(): Promise<DataplaneReport> {
  const missing = missingPrerequisite();
  if (missing) {
    const text = `\nData plane: suite skipped (${missing}).`;
    return { skipped: missing, environment: {}, paths: [], text };
  }
  const log = (line: string): void => void process.stderr.write(`[dataplane] ${line}\n`);
  clockTicks = Number(firstLine('getconf', ['CLK_TCK'])) || 100;
  quietBudgetMs = 30_000;
  const bufferBytes = Number(process.env.WIREMESH_BENCH_SOCKET_BUFFER_BYTES) || DEFAULT_BUFFER_BYTES;
  const wanted = (process.env.WIREMESH_BENCH_DATAPLANE_PATHS ?? '')
    .split(',')
    .map(Number)
    .filter((n) => n > 0);
  const modern = modernWireguardGo();
  const selected = wanted.length > 0 ? PATHS.filter((p) => wanted.includes(p.id)) : PATHS;
  const specs = selected.filter((spec) => modern || !usesModern(spec));
  const rounds = Math.max(1, Number(process.env.WIREMESH_BENCH_DATAPLANE_ROUNDS) || 1);
  // A per-run tag keeps names apart from a concurrent run of this suite (and its leftovers).
  const tag = (process.pid % 1296).toString(36).padStart(2, '0');
  const otherBenchNamespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith('bn'));
  const cpuModel = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '?';
  const loadBefore = readFileSync('/proc/loadavg', 'utf8').trim();
  const idleBefore = await backgroundLoad(1000);
  const environment: Record<string, string> = {
    host: `kernel ${firstLine('uname', ['-r'])}, nproc ${availableParallelism()}, ${cpuModel}`,
    code: `wiremesh ${firstLine('git', ['-C', packageRoot(), 'rev-parse', '--short', 'HEAD'])}, agent/ ${
      firstLine('git', ['-C', packageRoot(), 'status', '--porcelain', '--', 'agent']) === '?'
        ? 'as committed'
        : 'has uncommitted changes'
    }`,
    versions: `node ${process.version}, ${firstLine('wireguard-go', ['--version'])}, ${firstLine('iperf3', ['--version'])}, ${firstLine('wg', ['--version'])}`,
    'load before': `/proc/loadavg ${loadBefore}; busy ${idleBefore.toFixed(2)} cores over 1 s before the run`,
    method:
      `TCP -t ${TCP_SECONDS} -O ${TCP_OMIT_SECONDS} (receiver Gbit/s), UDP -u -b 0 -l ${UDP_LENGTH} -t ${UDP_SECONDS}, ` +
      `ping -c ${PING_COUNT} -i ${PING_INTERVAL}; CPU/pkt = (utime+stime) / (rx+tx pkts on own tunnel interface); ` +
      `before each path waits up to ${QUIET_WAIT_PER_PATH_MS / 1000} s (30 s per run) for other load < ${QUIET_CORES} cores`,
    buffers: '',
    'wireguard-go-modern':
      modern ?? 'not found (WIREGUARD_GO_MODERN or ../shared/anchors/wireguard-go-modern): its paths are skipped',
    rounds: `${rounds} (paths alternate; per metric the round with the median value is shown)`,
  };
  if (otherBenchNamespaces.length > 0)
    environment.warning = `other bn* namespaces exist (another run?): ${otherBenchNamespaces.join(' ')}`;

  const byRound = new Map<number, PathResult[]>();
  const onSignal = (signal: NodeJS.Signals): void => {
    void (activeLab?.cleanup() ?? Promise.resolve()).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const spec of specs) {
        log(`round ${round}/${rounds}, path ${spec.id}: ${spec.title}`);
        const result = await runPath(spec, tag, bufferBytes, log);
        if (result.error) log(`  failed: ${result.error}`);
        byRound.set(spec.id, [...(byRound.get(spec.id) ?? []), result]);
      }
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    if (activeLab) await activeLab.cleanup();
  }
  const paths = specs.map((spec) => medianResult(byRound.get(spec.id) ?? []));
  environment['load after'] = `/proc/loadavg ${readFileSync('/proc/loadavg', 'utf8').trim()}`;
  const rmem = paths.find((p) => p.tunnel)?.tunnel?.rmemDefault;
  environment.buffers =
    `asked for net.core.rmem_default=wmem_default=4194304 in each WG namespace; read back ${rmem ?? '?'}` +
    (rmem !== undefined && rmem < 4194304
      ? ' (read-only in a child netns on this kernel: it mirrors the host value)'
      : '') +
    `. wiremesh-wg gets WIREMESH_SOCKET_BUFFER_BYTES=rmem_default/2 (kernel doubles it) so its sockets equal wireguard-go's,` +
    ` except column "wm 4MiB" (${bufferBytes}). Ratios compare equal-buffer paths.`;
  return { environment, paths, text: render(environment, paths) };
}
