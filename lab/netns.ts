/**
 * A small network lab for tests and benchmarks: network namespaces joined by veth pairs, processes
 * started inside them, and WireGuard interfaces run by wiremesh-wg or wireguard-go. Everything a lab
 * creates is recorded and removed by `cleanup()` (processes by PID, then namespaces). Addresses
 * come from the benchmarking range 198.18.0.0/15 and IPv6 ULA; no namespace gets a default route.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../agent/package-root';

const execFileAsync = promisify(execFile);

export const WIREMESH_WG = join(packageRoot(), 'bin', 'wiremesh-wg.js');

export type Implementation = 'wiremesh' | 'wireguard-go' | 'wireguard-go-modern';

/**
 * A current upstream wireguard-go build (batched I/O, UDP GSO/GRO, TUN offloads), optional: from
 * WIREGUARD_GO_MODERN or ../shared/anchors/wireguard-go-modern beside the repository; null when absent.
 */
export function modernWireguardGo(): string | null {
  const candidates = [
    process.env.WIREGUARD_GO_MODERN,
    join(packageRoot(), '..', 'shared', 'anchors', 'wireguard-go-modern'),
  ];
  return candidates.find((path): path is string => !!path && existsSync(path)) ?? null;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

export interface LinkAddresses {
  /** CIDR notation, e.g. 198.18.5.1/24 or fd18:5::1/64. */
  a: string[];
  b: string[];
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

export function hasCommand(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export class Lab {
  private readonly namespaces: string[] = [];
  private readonly processes: ChildProcess[] = [];
  private readonly sockets: string[] = [];
  private counter = 0;

  /** `prefix` keeps concurrent labs apart: namespace and interface names start with it. */
  constructor(readonly prefix: string) {}

  name(role: string): string {
    return `${this.prefix}${role}${this.counter++}`.slice(0, 15);
  }

  namespace(role: string): string {
    const name = this.name(role);
    execFileSync('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    this.run(name, 'ip', ['link', 'set', 'lo', 'up']);
    return name;
  }

  /** A veth pair between two namespaces, with addresses on both ends; returns the device names. */
  link(a: string, b: string, addresses: LinkAddresses): { deviceA: string; deviceB: string } {
    const deviceA = this.name('va');
    const deviceB = this.name('vb');
    execFileSync('ip', ['link', 'add', deviceA, 'netns', a, 'type', 'veth', 'peer', 'name', deviceB, 'netns', b]);
    for (const [ns, device, list] of [
      [a, deviceA, addresses.a],
      [b, deviceB, addresses.b],
    ] as const) {
      for (const address of list) this.addAddress(ns, device, address);
      this.run(ns, 'ip', ['link', 'set', device, 'up']);
    }
    return { deviceA, deviceB };
  }

  addAddress(ns: string, device: string, address: string): void {
    const extra = address.includes(':') ? ['nodad'] : [];
    this.run(ns, 'ip', ['addr', 'add', address, 'dev', device, ...extra]);
  }

  run(ns: string, command: string, args: string[], input?: string): string {
    return execFileSync('ip', ['netns', 'exec', ns, command, ...args], {
      encoding: 'utf8',
      input,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  }

  async runAsync(ns: string, command: string, args: string[], timeoutMs = 120_000): Promise<RunResult> {
    const { stdout, stderr } = await execFileAsync('ip', ['netns', 'exec', ns, command, ...args], {
      encoding: 'utf8',
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { stdout, stderr };
  }

  /** Starts a long-running process in `ns`; it is killed by PID in cleanup. */
  spawn(ns: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, command, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.resume();
    child.stderr?.resume();
    this.processes.push(child);
    return child;
  }

  /**
   * Runs a WireGuard interface named `name` in `ns` in the foreground (so its PID is ours) and waits
   * for its UAPI socket. `env` reaches the implementation (LOG_LEVEL, socket buffer settings, ...).
   */
  async wireguard(
    ns: string,
    implementation: Implementation,
    name: string,
    env: NodeJS.ProcessEnv = {},
  ): Promise<ChildProcess> {
    const socket = `/var/run/wireguard/${name}.sock`;
    const command =
      implementation === 'wiremesh'
        ? process.execPath
        : implementation === 'wireguard-go-modern'
          ? modernWireguardGo()
          : 'wireguard-go';
    if (!command) throw new Error('wireguard-go-modern is not available (set WIREGUARD_GO_MODERN)');
    const child = this.spawn(
      ns,
      command,
      implementation === 'wiremesh' ? [WIREMESH_WG, '-f', name] : ['-f', name],
      env,
    );
    this.sockets.push(socket);
    let errors = '';
    child.stderr?.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    const deadline = Date.now() + 15_000;
    while (!existsSync(socket)) {
      if (child.exitCode !== null) throw new Error(`${implementation} ${name} exited: ${errors}`);
      if (Date.now() > deadline) throw new Error(`${implementation} ${name}: no UAPI socket after 15 s: ${errors}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return child;
  }

  /** `wg` inside `ns`, with optional standard input. */
  wg(ns: string, args: string[], input?: string): string {
    return this.run(ns, 'wg', args, input);
  }

  /**
   * `wg setconf|addconf|syncconf IFACE FILE` with `config` written to a private temporary file
   * (wg cannot fopen /dev/stdin when it is a socket, which is what Node's pipes are).
   */
  wgConfig(ns: string, subcommand: 'setconf' | 'addconf' | 'syncconf', iface: string, config: string): string {
    const dir = mkdtempSync(join(tmpdir(), 'wiremesh-lab-'));
    const file = join(dir, `${iface}.conf`);
    try {
      writeFileSync(file, config, { mode: 0o600 });
      return this.wg(ns, [subcommand, iface, file]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  async cleanup(): Promise<void> {
    for (const child of this.processes) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.all(this.processes.map((child) => waitForExit(child, 3000)));
    for (const child of this.processes) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const ns of this.namespaces.reverse()) {
      try {
        // Processes that `ip netns exec` started (iperf3 daemons and the like) die with their namespace's PIDs.
        const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean);
        for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
        execFileSync('ip', ['netns', 'del', ns]);
      } catch {
        // already gone
      }
    }
    for (const socket of this.sockets) if (existsSync(socket)) unlinkSync(socket);
    this.namespaces.length = 0;
    this.processes.length = 0;
    this.sockets.length = 0;
  }
}

export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}
