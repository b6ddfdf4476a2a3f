/**
 * Driving a local mesh from a test: the `wiremesh` CLI with a state directory and namespace prefix
 * of the test's own, and pings every 50 ms between LAN hosts, counted by sequence number.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
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
    this.child = spawn('ip', ['netns', 'exec', fromNamespace, 'ping', '-n', '-i', '0.05', '-W', '1', to], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (chunk: Buffer) => {
      this.output += chunk.toString();
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.errors += chunk.toString();
    });
    this.exited = new Promise((resolve) => this.child.on('exit', () => resolve()));
  }

  /** Stops it; every ping but the one possibly in flight at the stop must have had its reply. */
  async stop(): Promise<{ sent: number; lost: number; errors: string }> {
    this.child.kill('SIGINT');
    await this.exited;
    const replied = new Set([...this.output.matchAll(/icmp_seq=(\d+)/g)].map((m) => Number(m[1])));
    const sent = Number(/(\d+) packets transmitted/.exec(this.output)?.[1] ?? 0);
    let lost = 0;
    for (let seq = 1; seq < sent; seq++) if (!replied.has(seq)) lost++;
    return { sent, lost, errors: this.errors.trim() };
  }
}
