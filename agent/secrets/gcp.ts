/**
 * A secret version in GCP Secret Manager, read with the real SecretManagerServiceClient over its
 * HTTP/1.1 REST transport, with Application Default Credentials (the metadata server on GCE).
 */
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { describeSecret, gcpVersionName, SecretAccessError, type SecretSource, type SecretValue } from './types';

export interface GcpSecretSourceOptions {
  /** projects/P/secrets/S (the latest version) or projects/P/secrets/S/versions/V. */
  name: string;
  /** Host, host:port, or URL such as http://127.0.0.1:8080; defaults to secretmanager.googleapis.com. */
  endpoint?: string;
  /** Bounds each attempt so a store that accepts connections but never answers is retried. */
  requestTimeoutMs?: number;
}

/** gRPC status codes after which the same call may succeed later. */
const RETRYABLE_STATUS = new Map([
  [2, 'UNKNOWN'],
  [4, 'DEADLINE_EXCEEDED'],
  [8, 'RESOURCE_EXHAUSTED'],
  [10, 'ABORTED'],
  [13, 'INTERNAL'],
  [14, 'UNAVAILABLE'],
]);
const PERMANENT_STATUS = new Map([
  [1, 'CANCELLED'],
  [3, 'INVALID_ARGUMENT'],
  [5, 'NOT_FOUND'],
  [6, 'ALREADY_EXISTS'],
  [7, 'PERMISSION_DENIED'],
  [9, 'FAILED_PRECONDITION'],
  [11, 'OUT_OF_RANGE'],
  [12, 'UNIMPLEMENTED'],
  [15, 'DATA_LOSS'],
  [16, 'UNAUTHENTICATED'],
]);

type ClientOptions = NonNullable<ConstructorParameters<typeof SecretManagerServiceClient>[0]>;

export class GcpSecretSource implements SecretSource {
  readonly description: string;
  private readonly versionName: string;
  private readonly clientOptions: ClientOptions;
  private client: SecretManagerServiceClient;
  private readonly requestTimeoutMs: number;

  constructor(options: GcpSecretSourceOptions) {
    this.versionName = gcpVersionName(options.name);
    this.description = describeSecret.gcp(this.versionName);
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    // REST everywhere, so the transport the tests exercise is the one production uses. The project
    // comes from the name, sparing google-auth-library its search (which runs `gcloud`).
    const projectId = /^projects\/([^/]+)\//.exec(this.versionName)?.[1];
    this.clientOptions = { fallback: true, projectId, ...endpointOptions(options.endpoint) };
    this.client = new SecretManagerServiceClient(this.clientOptions);
  }

  async fetch(): Promise<SecretValue> {
    try {
      // Awaited here because accessSecretVersion() rethrows a failed initialize() (no credentials)
      // from a promise nobody awaits: an unhandled rejection, which would end the agent.
      await this.client.initialize();
    } catch {
      // The client keeps the failed initialization; the next try needs a fresh one.
      this.client = new SecretManagerServiceClient(this.clientOptions);
      throw new SecretAccessError(`${this.description}: no GCP credentials could be obtained`, true);
    }
    let answer;
    try {
      // fetchWithRetry owns retrying so that every retry is reported; gax's own would be silent.
      [answer] = await this.client.accessSecretVersion(
        { name: this.versionName },
        { retry: null, timeout: this.requestTimeoutMs },
      );
    } catch (error) {
      const { failure, retryable } = classifyGcpError(error);
      throw new SecretAccessError(`${this.description}: ${failure}`, retryable);
    }
    const data = answer.payload?.data;
    if (data === undefined || data === null)
      throw new SecretAccessError(`${this.description}: the answer holds no payload`, false);
    const value = typeof data === 'string' ? Buffer.from(data, 'base64') : Buffer.from(data);
    const expectedCrc = answer.payload?.dataCrc32c;
    if (expectedCrc !== undefined && expectedCrc !== null && BigInt(expectedCrc.toString()) !== BigInt(crc32c(value))) {
      throw new SecretAccessError(`${this.description}: the payload does not match its CRC32C checksum`, true);
    }
    if (!answer.name) throw new SecretAccessError(`${this.description}: the answer names no version`, false);
    return { value, version: answer.name };
  }

  /** The version's createTime; AccessSecretVersion does not return it. */
  async createdAt(value: SecretValue): Promise<number> {
    let version;
    try {
      await this.client.initialize();
      [version] = await this.client.getSecretVersion(
        { name: value.version },
        { retry: null, timeout: this.requestTimeoutMs },
      );
    } catch (error) {
      throw new SecretAccessError(
        `${describeSecret.gcp(value.version)}: its createTime could not be read: ${classifyGcpError(error).failure}`,
        false,
      );
    }
    const seconds = version.createTime?.seconds;
    if (seconds === undefined || seconds === null)
      throw new SecretAccessError(`${describeSecret.gcp(value.version)}: the answer has no createTime`, false);
    return Number(seconds) * 1000 + Math.floor((version.createTime?.nanos ?? 0) / 1e6);
  }
}

function endpointOptions(endpoint: string | undefined): { apiEndpoint?: string; port?: number; protocol?: string } {
  if (endpoint === undefined) return {};
  const url = new URL(endpoint.includes('://') ? endpoint : `https://${endpoint}`);
  const protocol = url.protocol.replace(/:$/, '');
  const port = url.port ? Number(url.port) : protocol === 'http' ? 80 : 443;
  return { apiEndpoint: url.hostname, port, protocol };
}

/** Names the failure from its gRPC status only; the client's messages are not passed on. */
function classifyGcpError(error: unknown): { failure: string; retryable: boolean } {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (typeof code === 'number') {
    const retryableName = RETRYABLE_STATUS.get(code);
    if (retryableName !== undefined) return { failure: `${retryableName} (gRPC status ${code})`, retryable: true };
    return { failure: `${PERMANENT_STATUS.get(code) ?? 'status'} (gRPC status ${code})`, retryable: false };
  }
  // No status: the call failed before any answer.
  return { failure: 'no answer from the service', retryable: true };
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
    table[byte] = crc >>> 0;
  }
  return table;
})();

/** CRC-32C (Castagnoli), which Secret Manager sends to detect a payload corrupted on the way. */
export function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = (CRC32C_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
