/**
 * The wireguard-go data plane: a `wireguard-go -f NAME` child per interface (foreground, so the PID
 * we hold is the daemon's and it dies with a signal from us), configured over its UAPI socket.
 * Key rotation switches its one private key in place (single-key-rotation.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { uapiGet, uapiSet, UAPI_TIMEOUT_MS } from '../../wg/uapi-client';
import { SOCKET_DIRECTORY } from '../../wg/uapi-server';
import type { ConfigChange, DeviceSnapshot } from '../../wg/uapi';
import type { CommandRunner, DataPlane } from '../plane';
import { SingleKeyRotation } from './single-key-rotation';

export interface WireguardGoPlaneOptions {
  /** Runs `ip link set ... mtu`; must run in the same network namespace as the spawned daemon. */
  runner: CommandRunner;
  /** Default 'wireguard-go' (looked up on PATH). */
  binary?: string;
  /**
   * Prepended to the daemon's command line, for running the plane inside a network namespace:
   * `['ip', 'netns', 'exec', NS]` (which execs, so the PID is still the daemon's).
   */
  spawnPrefix?: readonly string[];
  /** Added to this process's environment for the daemon (e.g. LOG_LEVEL=verbose). */
  env?: NodeJS.ProcessEnv;
  /** Where the daemon puts NAME.sock; wireguard-go and `wg` both use /var/run/wireguard. */
  socketDirectory?: string;
  /** How long create() waits for the UAPI socket. Default 15 s. */
  startTimeoutMs?: number;
  /** How long destroy() waits after SIGTERM before SIGKILL. Default 5 s. */
  stopTimeoutMs?: number;
  /** Per UAPI request. Default 10 s. */
  uapiTimeoutMs?: number;
}

/** Enough of the daemon's output to explain why it failed to start. */
const MAX_KEPT_OUTPUT = 16 * 1024;
const POLL_INTERVAL_MS = 20;
const OUTPUT_DRAIN_MS = 1000;

export class WireguardGoPlane implements DataPlane {
  readonly kind = 'wireguard-go' as const;
  private readonly runner: CommandRunner;
  private readonly binary: string;
  private readonly spawnPrefix: readonly string[];
  private readonly env: NodeJS.ProcessEnv;
  private readonly socketDirectory: string;
  private readonly startTimeoutMs: number;
  private readonly stopTimeoutMs: number;
  private readonly uapiTimeoutMs: number;
  private child: ChildProcess | null = null;
  private socketPath: string | null = null;
  private output = '';
  readonly rotation = new SingleKeyRotation({
    apply: (change) => this.apply(change),
    snapshot: () => this.snapshot(),
  });

  constructor(options: WireguardGoPlaneOptions) {
    this.runner = options.runner;
    this.binary = options.binary ?? 'wireguard-go';
    this.spawnPrefix = options.spawnPrefix ?? [];
    this.env = options.env ?? {};
    this.socketDirectory = options.socketDirectory ?? SOCKET_DIRECTORY;
    this.startTimeoutMs = options.startTimeoutMs ?? 15_000;
    this.stopTimeoutMs = options.stopTimeoutMs ?? 5_000;
    this.uapiTimeoutMs = options.uapiTimeoutMs ?? UAPI_TIMEOUT_MS;
  }

  async create(name: string, mtu: number): Promise<void> {
    if (this.child) throw new Error(`wireguard-go plane already runs ${this.socketPath}; destroy() it first`);
    const socketPath = join(this.socketDirectory, `${name}.sock`);
    // Otherwise the readiness check below would find the other process, and destroy() take its socket.
    if (await acceptsConnection(socketPath))
      throw new Error(`interface ${name} is already served by another process (${socketPath})`);
    const [file = this.binary, ...args] = [...this.spawnPrefix, this.binary, '-f', name];
    const child = spawn(file, args, { env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.socketPath = socketPath;
    this.output = '';
    let spawnError: Error | null = null;
    child.on('error', (error) => (spawnError = error));
    const outputClosed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString()).slice(-MAX_KEPT_OUTPUT);
    };
    // Read both streams for as long as the daemon runs: a full pipe would block it.
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    try {
      await this.waitForSocket(name, child, outputClosed, () => spawnError);
      await this.runner.run('ip', ['link', 'set', 'dev', name, 'mtu', String(mtu)]);
    } catch (error) {
      await this.destroy();
      throw error;
    }
  }

  /**
   * Waits until the socket accepts a connection, not merely exists: a socket left by a daemon that
   * was killed exists too (wireguard-go replaces it when it starts).
   */
  private async waitForSocket(
    name: string,
    child: ChildProcess,
    outputClosed: Promise<void>,
    spawnError: () => Error | null,
  ): Promise<void> {
    const deadline = Date.now() + this.startTimeoutMs;
    for (;;) {
      const error = spawnError();
      if (error) throw new Error(`cannot start ${this.binary} for ${name}: ${error.message}`);
      if (hasExited(child)) {
        // 'exit' can come before the last output; the reason is usually in it
        await Promise.race([outputClosed, delay(OUTPUT_DRAIN_MS)]);
        throw new Error(
          `${this.binary} ${name} exited (${child.exitCode ?? child.signalCode}) before its UAPI socket was ready: ${this.output.trim()}`,
        );
      }
      if (await acceptsConnection(this.requireSocket())) return;
      if (Date.now() > deadline) {
        throw new Error(
          `${this.binary} ${name}: no UAPI socket after ${this.startTimeoutMs} ms: ${this.output.trim()}`,
        );
      }
      await delay(POLL_INTERVAL_MS);
    }
  }

  async apply(change: ConfigChange): Promise<void> {
    await uapiSet(this.requireSocket(), change, this.uapiTimeoutMs);
  }

  async snapshot(): Promise<DeviceSnapshot> {
    const snapshot = await uapiGet(this.requireSocket(), this.uapiTimeoutMs);
    this.rotation.observe(snapshot);
    return snapshot;
  }

  drops(): Record<string, number> {
    return {};
  }

  /** Stops the daemon (its TUN interface goes with it) and removes a socket it left behind. */
  async destroy(): Promise<void> {
    const child = this.child;
    if (child) {
      if (!(await stop(child, 'SIGTERM', this.stopTimeoutMs))) await stop(child, 'SIGKILL', this.stopTimeoutMs);
      this.child = null;
    }
    // A SIGKILLed daemon cannot unlink its socket; `wg` would then list a dead interface.
    if (this.socketPath) rmSync(this.socketPath, { force: true });
    this.socketPath = null;
  }

  private requireSocket(): string {
    if (!this.socketPath) throw new Error('wireguard-go plane: create() has not been called');
    return this.socketPath;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Sends `signal` (unless the child is gone) and resolves whether it exited within `timeoutMs`. */
function stop(child: ChildProcess, signal: NodeJS.Signals, timeoutMs: number): Promise<boolean> {
  if (hasExited(child) || child.pid === undefined) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
    child.kill(signal);
  });
}

function acceptsConnection(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
