/**
 * Host settings the agent changes outside its interface (sysctls such as ip_forward), with each
 * original value persisted under /run before it is changed. A run that ends without cleaning up
 * (kill -9, out of memory) leaves the file behind, and the next start (or its stop) puts the
 * originals back. /run is a tmpfs: a reboot forgets the file together with the changes themselves.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The systemd unit's RuntimeDirectory=wiremesh; preserved across restarts. */
export const STATE_DIR = '/run/wiremesh';

interface StateFile {
  /** sysctl path -> the value it had before the agent first changed it. */
  sysctls: Record<string, string>;
}

export class HostState {
  readonly path: string;
  private originals: Record<string, string> = {};

  constructor(
    readonly interfaceName: string,
    readonly dir = STATE_DIR,
  ) {
    this.path = join(dir, `${interfaceName}.state`);
  }

  /**
   * Writes back what an earlier run for this interface changed and never restored, and forgets
   * the file. Returns the settings restored (none after a clean stop).
   */
  restoreLeftovers(): string[] {
    let leftovers: StateFile;
    try {
      leftovers = JSON.parse(readFileSync(this.path, 'utf8')) as StateFile;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new Error(
        `${this.path}: unreadable state of an earlier run (${(error as Error).message}); check the settings it recorded and delete it`,
      );
    }
    const restored = Object.entries(leftovers.sysctls ?? {}).filter(([path, value]) => writeSetting(path, value));
    rmSync(this.path, { force: true });
    return restored.map(([path, value]) => `${path}=${value}`);
  }

  /**
   * Sets a sysctl (its /proc/sys path), recording the original value on disk first. Returns false
   * when the setting does not exist on this host (IPv6 disabled, say).
   */
  setSysctl(path: string, value: string): boolean {
    let current: string;
    try {
      current = readFileSync(path, 'utf8').trim();
    } catch {
      return false;
    }
    if (current === value) return true;
    if (!(path in this.originals)) {
      this.originals[path] = current;
      this.persist();
    }
    writeFileSync(path, value);
    return true;
  }

  /** Puts back every original value this run changed, then removes the file. */
  restore(): void {
    for (const [path, value] of Object.entries(this.originals).reverse()) writeSetting(path, value);
    this.originals = {};
    rmSync(this.path, { force: true });
  }

  /** Atomically (write, then rename), private to root: 0700 directory, 0600 file. */
  private persist(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const state: StateFile = { sysctls: this.originals };
    const temporary = `${this.path}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(state)}\n`, { mode: 0o600 });
    renameSync(temporary, this.path);
  }
}

function writeSetting(path: string, value: string): boolean {
  try {
    writeFileSync(path, value);
    return true;
  } catch {
    return false; // the setting is gone (IPv6 disabled since)
  }
}
