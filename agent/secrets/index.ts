/** Secret sources for the agent's keys and configuration document, with retry and key parsing. */
import { setTimeout as sleep } from 'node:timers/promises';
import { KeyFormatError, keyFromBase64 } from '../crypto/keys';
import type * as AwsModule from './aws';
import { FileSecretSource } from './file';
import type * as GcpModule from './gcp';
import {
  describeSecret,
  gcpVersionName,
  SecretAccessError,
  type SecretSource,
  type SecretSourceConfig,
  type SecretValue,
} from './types';

export {
  describeSecret,
  ExposedKeyFileError,
  SecretAccessError,
  type SecretSource,
  type SecretSourceConfig,
  type SecretValue,
} from './types';

export interface SecretSourceOptions {
  /** The uid a key file must be owned by; 0 (root) unless a test needs another. */
  fileOwnerUid?: number;
  /** Bounds one request to a cloud store; 10 s unless set. */
  requestTimeoutMs?: number;
}

/**
 * A cloud store's source, its module loaded at the first fetch: each SDK costs tens of MB of
 * memory, and an agent whose keys are files never loads either.
 */
class LazySecretSource implements SecretSource {
  private loaded: Promise<SecretSource> | null = null;

  constructor(
    readonly description: string,
    private readonly load: () => Promise<SecretSource>,
  ) {}

  private source(): Promise<SecretSource> {
    this.loaded ??= this.load();
    return this.loaded;
  }

  async fetch(): Promise<SecretValue> {
    return (await this.source()).fetch();
  }

  async createdAt(value: SecretValue): Promise<number> {
    const source = await this.source();
    if (!source.createdAt) throw new SecretAccessError(`${this.description}: the store gives no creation time`, false);
    return source.createdAt(value);
  }
}

/** Throws a SecretAccessError at once for a configuration it cannot serve safely. */
export function secretSource(config: SecretSourceConfig, options: SecretSourceOptions = {}): SecretSource {
  switch (config.source) {
    case 'file':
      return new FileSecretSource(config.path, { requiredOwnerUid: options.fileOwnerUid });
    case 'aws-secrets-manager':
      return new LazySecretSource(describeSecret.aws(config.secretId, config.versionId), async () => {
        // require() rather than import(): the build emits CommonJS, and jest runs it so.
        const { AwsSecretSource } = require('./aws') as typeof AwsModule;
        return new AwsSecretSource({ ...config, requestTimeoutMs: options.requestTimeoutMs });
      });
    case 'gcp-secret-manager': {
      const description = describeSecret.gcp(gcpVersionName(config.name));
      // The client logs every response, payload included, to stderr when this variable enables it.
      if (process.env['GOOGLE_SDK_NODE_LOGGING']) {
        throw new SecretAccessError(
          `${description}: refusing to run with GOOGLE_SDK_NODE_LOGGING set, as it would log the secret`,
          false,
        );
      }
      return new LazySecretSource(description, async () => {
        const { GcpSecretSource } = require('./gcp') as typeof GcpModule;
        return new GcpSecretSource({ ...config, requestTimeoutMs: options.requestTimeoutMs });
      });
    }
  }
}

export interface RetryOptions {
  /** Total tries, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Called before each wait, so the caller can report that the store is unreachable. */
  onRetry?(error: SecretAccessError, attempt: number, delayMs: number): void;
}

/**
 * Fetches, waiting between failed tries for a delay that doubles from baseDelayMs up to
 * maxDelayMs, drawn from its upper half so that many agents restarting at once spread out.
 * A non-retryable error is thrown at once; when the tries run out, a SecretAccessError saying how
 * many failed, with the last failure.
 */
export async function fetchWithRetry(source: SecretSource, options: RetryOptions): Promise<SecretValue> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await source.fetch();
    } catch (error) {
      if (!(error instanceof SecretAccessError) || !error.retryable) throw error;
      if (attempt >= options.attempts) {
        throw new SecretAccessError(`gave up after ${attempt} attempts: ${error.message}`, true);
      }
      const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1));
      const delayMs = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
      options.onRetry?.(error, attempt, delayMs);
      await sleep(delayMs);
    }
  }
}

/** Decodes a base64 WireGuard key (surrounding whitespace allowed); `what` names it in errors. */
export function parseWireGuardKey(value: SecretValue, what: string): Buffer {
  try {
    return keyFromBase64(value.value.toString('utf8'));
  } catch (error) {
    if (error instanceof KeyFormatError) {
      throw new SecretAccessError(`${what} (version ${value.version}) is not a WireGuard key: ${error.message}`, false);
    }
    throw error;
  }
}
