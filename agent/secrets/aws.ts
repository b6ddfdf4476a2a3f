/** A secret in AWS Secrets Manager, read with the SDK's default credential chain (IMDSv2 on EC2). */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { classifyAwsError } from './aws-errors';
import { describeSecret, SecretAccessError, type SecretSource, type SecretValue } from './types';

export interface AwsSecretSourceOptions {
  secretId: string;
  /** Defaults to the region in an ARN secretId, else the SDK's own resolution (AWS_REGION, config file). */
  region?: string;
  /** Overrides the service endpoint, e.g. a VPC endpoint or a local fake. */
  endpoint?: string;
  versionStage?: string;
  /** An exact version (a key rotation names the version it means, so a document change is a key change). */
  versionId?: string;
  /** Bounds each attempt so a store that accepts connections but never answers is retried. */
  requestTimeoutMs?: number;
}

const ARN_REGION = /^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):/;

export class AwsSecretSource implements SecretSource {
  readonly description: string;
  private readonly client: SecretsManagerClient;

  constructor(private readonly options: AwsSecretSourceOptions) {
    this.description = describeSecret.aws(options.secretId, options.versionId);
    const timeoutMs = options.requestTimeoutMs ?? 10_000;
    this.client = new SecretsManagerClient({
      region: options.region ?? ARN_REGION.exec(options.secretId)?.[1],
      endpoint: options.endpoint,
      // fetchWithRetry owns retrying so that every retry is reported; the SDK's own would be silent.
      maxAttempts: 1,
      requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs, throwOnRequestTimeout: true },
    });
  }

  async fetch(): Promise<SecretValue> {
    try {
      await this.client.config.region();
    } catch {
      throw new SecretAccessError(
        `${this.description}: no region configured (give a region or an ARN, or set AWS_REGION)`,
        false,
      );
    }
    let answer;
    try {
      answer = await this.client.send(
        new GetSecretValueCommand({
          SecretId: this.options.secretId,
          VersionStage: this.options.versionStage,
          VersionId: this.options.versionId,
        }),
      );
    } catch (error) {
      const { failure, retryable } = classifyAwsError(error);
      throw new SecretAccessError(`${this.description}: ${failure}`, retryable);
    }
    const value =
      answer.SecretString !== undefined
        ? Buffer.from(answer.SecretString, 'utf8')
        : answer.SecretBinary !== undefined
          ? Buffer.from(answer.SecretBinary)
          : undefined;
    if (value === undefined) throw new SecretAccessError(`${this.description}: the answer holds no value`, false);
    if (answer.VersionId === undefined)
      throw new SecretAccessError(`${this.description}: the answer has no VersionId`, false);
    // CreatedDate is the version's: when this key was put into the store.
    return {
      value,
      version: answer.VersionId,
      ...(answer.CreatedDate && { createdAtUnixMs: answer.CreatedDate.getTime() }),
    };
  }
}
