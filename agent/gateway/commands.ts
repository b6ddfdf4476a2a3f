/**
 * The real CommandRunner for the host's commands (ip, wg). It runs them with execFile, not through a
 * shell, so arguments are never reinterpreted.
 */
import { execFile } from 'node:child_process';
import type { CommandRunner } from './plane';

export interface ExecFileCommandRunnerOptions {
  /**
   * Prepended to every command, for running the plane inside a network namespace:
   * `['ip', 'netns', 'exec', NS]` runs `ip netns exec NS wg show ...`.
   */
  commandPrefix?: readonly string[];
  /** Per command; `wg` resolving an endpoint name can take a while. Default 30 s. */
  timeoutMs?: number;
}

/** A failed command, with what it printed: callers match on stderr ("Cannot find device"). */
export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
    cause: string,
  ) {
    super(`${[command, ...args].join(' ')} failed (${cause}): ${stderr.trim()}`);
  }
}

/** `wg show dump` of a gateway with tens of thousands of allowed IPs runs to megabytes. */
const MAX_OUTPUT_BYTES = 256 * 1024 * 1024;

export class ExecFileCommandRunner implements CommandRunner {
  private readonly commandPrefix: readonly string[];
  private readonly timeoutMs: number;

  constructor(options: ExecFileCommandRunnerOptions = {}) {
    this.commandPrefix = options.commandPrefix ?? [];
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** Resolves with stdout; rejects with CommandError on a non-zero exit, a signal or a timeout. */
  run(command: string, args: string[], options: { input?: string } = {}): Promise<string> {
    const [file = command, ...argv] = [...this.commandPrefix, command, ...args];
    return new Promise((resolve, reject) => {
      const child = execFile(
        file,
        argv,
        { encoding: 'utf8', timeout: this.timeoutMs, maxBuffer: MAX_OUTPUT_BYTES },
        (error, stdout, stderr) => {
          if (!error) {
            resolve(stdout);
            return;
          }
          const exitCode = typeof error.code === 'number' ? error.code : null;
          const cause = error.killed
            ? `killed after ${this.timeoutMs} ms`
            : exitCode !== null
              ? `exit ${exitCode}`
              : error.signal
                ? `signal ${error.signal}`
                : String(error.code ?? error.message);
          reject(new CommandError(command, args, exitCode, stderr, cause));
        },
      );
      // Always close stdin: a command that reads it must see the input or end-of-file, never wait.
      child.stdin?.on('error', () => undefined); // EPIPE when the command exits without reading
      child.stdin?.end(options.input ?? '');
    });
  }
}
