/** Where the agent's keys and configuration document come from, and what every store answers. */

export type SecretSourceConfig =
  | { source: 'file'; path: string }
  | {
      source: 'aws-secrets-manager';
      secretId: string;
      region?: string;
      endpoint?: string;
      versionStage?: string;
      versionId?: string;
    }
  /** `name` is projects/P/secrets/S (meaning the latest version) or projects/P/secrets/S/versions/V. */
  | { source: 'gcp-secret-manager'; name: string; endpoint?: string };

export interface SecretValue {
  value: Buffer;
  /** Changes whenever the content may have changed; safe to log. */
  version: string;
  /**
   * When this content was created, where the store says so in the same answer: a file's mtime, an
   * AWS version's CreatedDate. Absent otherwise (see SecretSource.createdAt).
   */
  createdAtUnixMs?: number;
}

export interface SecretSource {
  /** Names the secret (e.g. "file /etc/wiremesh/key"), never its content: safe to log. */
  readonly description: string;
  /** Rejects only with a SecretAccessError. */
  fetch(): Promise<SecretValue>;
  /**
   * When `value` was created, for stores whose fetch answer does not say (GCP: the version's
   * createTime, one more call that needs `secretmanager.versions.get`). Rejects with a SecretAccessError.
   */
  createdAt?(value: SecretValue): Promise<number>;
}

/** How each store names a secret in messages; here, so naming one needs no SDK. */
export const describeSecret = {
  file: (path: string): string => `file ${path}`,
  aws: (secretId: string, versionId?: string): string =>
    `AWS Secrets Manager secret ${secretId}${versionId ? ` version ${versionId}` : ''}`,
  gcp: (versionName: string): string => `GCP Secret Manager secret ${versionName}`,
};

/** projects/P/secrets/S means its latest version. */
export function gcpVersionName(name: string): string {
  return name.includes('/versions/') ? name : `${name}/versions/latest`;
}

/**
 * The only error a secret source throws. Its message names the secret and the failure class;
 * it never carries the secret, nor the underlying SDK error (whose hidden fields may hold a raw
 * response), so it is safe to log and to serialize.
 */
export class SecretAccessError extends Error {
  override readonly name = 'SecretAccessError';

  constructor(
    message: string,
    /** True when trying again later may succeed (store unreachable, throttled, 5xx). */
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/**
 * A key file others can read or change: the key may already be exposed, so the agent refuses to
 * start on it rather than wait for a fix (as ssh does with an unprotected identity file).
 */
export class ExposedKeyFileError extends SecretAccessError {
  constructor(message: string) {
    super(message, false);
  }
}
