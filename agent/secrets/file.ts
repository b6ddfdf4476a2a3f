/** A secret kept in a local file, accepted only when nobody but its owner (root) can read or change it. */
import { open } from 'node:fs/promises';
import { describeSecret, ExposedKeyFileError, SecretAccessError, type SecretSource, type SecretValue } from './types';

export interface FileSecretSourceOptions {
  /** The uid that must own the file; 0 (root) unless a test needs another. */
  requiredOwnerUid?: number;
}

/** errno codes after which the same read may well succeed later. */
const TRANSIENT_ERRNO = new Set(['EAGAIN', 'EBUSY', 'EIO', 'EMFILE', 'ENFILE', 'EINTR']);

export class FileSecretSource implements SecretSource {
  readonly description: string;
  private readonly requiredOwnerUid: number;

  constructor(
    private readonly path: string,
    options: FileSecretSourceOptions = {},
  ) {
    this.description = describeSecret.file(path);
    this.requiredOwnerUid = options.requiredOwnerUid ?? 0;
  }

  async fetch(): Promise<SecretValue> {
    try {
      // Check the opened descriptor, not the path, so a file swapped in between is not read unchecked.
      const handle = await open(this.path, 'r');
      try {
        const stats = await handle.stat({ bigint: true });
        if (!stats.isFile()) throw new SecretAccessError(`${this.description} is not a regular file`, false);
        const mode = Number(stats.mode) & 0o777;
        if ((mode & 0o077) !== 0) {
          throw new ExposedKeyFileError(
            `${this.description} has mode ${mode.toString(8).padStart(4, '0')}: a key file must not be accessible to group or others (chmod 600)`,
          );
        }
        const uid = Number(stats.uid);
        if (uid !== this.requiredOwnerUid) {
          throw new ExposedKeyFileError(
            `${this.description} is owned by uid ${uid}: a key file must be owned by uid ${this.requiredOwnerUid}`,
          );
        }
        const value = await handle.readFile();
        // The key's age is the file's: a key written once and never touched is as old as its mtime.
        return {
          value,
          version: `mtime=${stats.mtimeNs}/size=${stats.size}/ino=${stats.ino}`,
          createdAtUnixMs: Number(stats.mtimeMs),
        };
      } finally {
        await handle.close();
      }
    } catch (error) {
      if (error instanceof SecretAccessError) throw error;
      const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
      throw new SecretAccessError(`${this.description} could not be read (${code})`, TRANSIENT_ERRNO.has(code));
    }
  }
}
