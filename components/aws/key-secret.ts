/**
 * `AwsKeySecret` (`wiremesh:aws:AwsKeySecret`): a WireGuard private key in AWS Secrets Manager, for
 * the agent to fetch at boot (`{ source: 'aws-secrets-manager', secretId: <arn> }`).
 *
 * - The key must arrive as a **secret Output** (e.g. `WireGuardKey.privateKey`): a plain string is
 *   refused at once, an Output that turns out not to be secret fails the deployment before the key
 *   reaches AWS. The `SecretVersion`'s `secretString` is always a secret.
 * - Optional customer-managed KMS key (`kmsKeyId`, a key ARN); without it Secrets Manager uses the
 *   account's `aws/secretsmanager` key.
 * - Versions: one `SecretVersion` per key generation of a rotated key (`rotation`, a
 *   `WireGuardKey`'s plan): the current one staged `AWSCURRENT`, the next one `AWSPENDING` (the
 *   Secrets Manager rotation convention); the retired one is destroyed with its generation.
 *   {@link AwsKeySecret.keySources} names each by `versionId`, so a document that names a version
 *   depends on it and every key change is a document change.
 * - Tags: `wiremesh:role` and `wiremesh:key-created-at` (read by the key-age policy), plus
 *   `wiremesh:site` when given and the caller's own tags.
 * - {@link AwsKeySecret.readPolicyDocument} gives the least-privilege read policy for exactly this
 *   secret (see ./policy.ts).
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import type { SecretSourceConfig } from '../../agent/secrets/types';
import {
  secretArnRegion,
  secretReadPolicy,
  secretReadStatements,
  isKmsKeyArn,
  type IamPolicyStatement,
  type SecretReadGrant,
} from './policy';
import { checkedInput, ComponentArgumentError, componentLabel, describe, requireSecretOutput } from '../errors';
import { keySources, keyVersionName, type KeyRotationState, type KeySources } from '../gateway-key';
import { AWS_TAG_KEY_CREATED_AT, AWS_TAG_ROLE, AWS_TAG_SITE, ROLE_PRIVATE_KEY } from '../../common/defaults';

/** Tag keys the components set themselves; callers may not override them. */
const RESERVED_TAGS = [AWS_TAG_ROLE, AWS_TAG_KEY_CREATED_AT, AWS_TAG_SITE];

/** Arguments of {@link AwsKeySecret}. */
export interface AwsKeySecretArgs {
  /**
   * The WireGuard private key, base64. Must be a secret Output (`WireGuardKey.privateKey`, or
   * `pulumi.secret(...)`); a plain value is refused.
   */
  privateKey: pulumi.Input<string>;
  /** When the key was created, ISO 8601 (`WireGuardKey.createdAt`): the `wiremesh:key-created-at` tag. */
  createdAt: pulumi.Input<string>;
  /** A rotated key's plan (`WireGuardKey.rotation`): one version per generation. */
  rotation?: KeyRotationState;
  /** The next generation's private key (a secret Output), exactly when `rotation.next` is set. */
  nextPrivateKey?: pulumi.Input<string>;
  /** The `wiremesh:role` tag; default `wireguard-private-key`. */
  role?: string;
  /** The `wiremesh:site` tag, when the key belongs to one site. */
  siteName?: string;
  /**
   * ARN of a customer-managed KMS key (`arn:aws:kms:REGION:ACCOUNT:key/ID`, in the secret's region)
   * to encrypt the secret with. An alias or bare key id is refused: the read policy grants
   * `kms:Decrypt` on the key ARN. Default: the account's `aws/secretsmanager` key.
   */
  kmsKeyId?: pulumi.Input<string>;
  /** The secret's name; default: Pulumi's auto-name (resource name plus a random suffix). */
  name?: pulumi.Input<string>;
  /** The secret's description; default names the site (or the component). */
  description?: pulumi.Input<string>;
  /**
   * Days Secrets Manager keeps a deleted secret (0 = delete at once, or 7 to 30); default 7.
   * During the window a secret of the same name cannot be created again.
   */
  recoveryWindowInDays?: number;
  /** Extra tags; the `wiremesh:` tags above cannot be overridden. */
  tags?: Record<string, pulumi.Input<string>>;
}

/**
 * A Secrets Manager secret holding one WireGuard private key.
 *
 * ```ts
 * const key = new WireGuardKey("site-a");
 * const secret = new AwsKeySecret("site-a-key", { privateKey: key.privateKey, createdAt: key.createdAt });
 * new aws.iam.RolePolicy("read", { role, policy: secret.readPolicyDocument() });
 * ```
 */
export class AwsKeySecret extends pulumi.ComponentResource {
  /** ARN of the secret: the `secretId` the agent reads. */
  public readonly arn: pulumi.Output<string>;
  /** Name of the secret. */
  public readonly name: pulumi.Output<string>;
  /** The customer-managed KMS key ARN, if one was given. */
  public readonly kmsKeyArn: pulumi.Output<string | undefined>;
  /** The version holding the current key (AWSCURRENT). */
  public readonly versionId: pulumi.Output<string>;
  /** Where the agent reads this key from (agent/secrets/types.ts): the current version, by `versionId`. */
  public readonly sourceConfig: pulumi.Output<SecretSourceConfig>;
  /** The document's key references: `privateKey`, and `nextPrivateKey` (with `switchAt` when scheduled) while the gateway switches to it. */
  public readonly keySources: pulumi.Output<KeySources>;

  constructor(name: string, args: AwsKeySecretArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super('wiremesh:aws:AwsKeySecret', name, {}, opts);
    const label = componentLabel('AwsKeySecret', name);
    if (typeof args !== 'object' || args === null) throw new ComponentArgumentError(`${label}: args are required`);
    const privateKey = requireSecretOutput(label, 'privateKey', args.privateKey);
    if (args.createdAt === undefined || args.createdAt === null || args.createdAt === '') {
      throw new ComponentArgumentError(
        `${label}: createdAt is required (the key's creation time, ISO 8601; WireGuardKey.createdAt)`,
      );
    }
    const createdAt = checkedInput(args.createdAt, (value) => {
      if (typeof value !== 'string' || !Number.isFinite(Date.parse(value))) {
        throw new ComponentArgumentError(`${label}: createdAt must be an ISO 8601 date, got ${describe(value)}`);
      }
    });
    const role = args.role ?? ROLE_PRIVATE_KEY;
    checkTagValue(label, 'role', role);
    if (args.siteName !== undefined) checkTagValue(label, 'siteName', args.siteName);
    const recoveryWindowInDays = args.recoveryWindowInDays ?? 7;
    checkRecoveryWindow(label, recoveryWindowInDays);
    checkCallerTags(label, args.tags);
    const kmsKeyId = args.kmsKeyId === undefined ? undefined : checkedKmsKeyArn(label, 'kmsKeyId', args.kmsKeyId);

    const secret = new aws.secretsmanager.Secret(
      `${name}-secret`,
      {
        name: args.name,
        description:
          args.description ?? `WireGuard private key${args.siteName ? ` of site ${args.siteName}` : ` (${name})`}`,
        kmsKeyId,
        recoveryWindowInDays,
        tags: {
          ...(args.tags ?? {}),
          [AWS_TAG_ROLE]: role,
          [AWS_TAG_KEY_CREATED_AT]: createdAt,
          ...(args.siteName !== undefined ? { [AWS_TAG_SITE]: args.siteName } : {}),
        },
      },
      { parent: this },
    );
    const rotation = args.rotation;
    if ((rotation?.next != null) !== (args.nextPrivateKey !== undefined)) {
      throw new ComponentArgumentError(`${label}: nextPrivateKey must be given exactly when rotation.next is`);
    }
    const versionOf = (key: pulumi.Output<string>, generation: number | undefined, stage: string) =>
      new aws.secretsmanager.SecretVersion(
        keyVersionName(name, rotation, generation),
        { secretId: secret.id, secretString: key, ...(rotation !== undefined ? { versionStages: [stage] } : {}) },
        { parent: this },
      );
    const version = versionOf(privateKey, rotation?.current, 'AWSCURRENT');
    const next =
      rotation?.next != null
        ? versionOf(requireSecretOutput(label, 'nextPrivateKey', args.nextPrivateKey), rotation.next, 'AWSPENDING')
        : undefined;

    this.arn = secret.arn;
    this.name = secret.name;
    this.kmsKeyArn = kmsKeyId === undefined ? pulumi.output<string | undefined>(undefined) : kmsKeyId;
    this.versionId = version.versionId;
    this.sourceConfig = awsSecretSource(secret.arn, version.versionId);
    this.keySources = keySources(
      this.sourceConfig,
      next !== undefined ? awsSecretSource(secret.arn, next.versionId) : undefined,
      rotation,
    );
    this.registerOutputs({ arn: this.arn, name: this.name, kmsKeyArn: this.kmsKeyArn, versionId: this.versionId });
  }

  /** What the read policy needs to know about this secret. */
  readGrant(label = 'KeySecret'): pulumi.Output<SecretReadGrant> {
    return pulumi.all([this.arn, this.kmsKeyArn]).apply(([secretArn, kmsKeyArn]) => ({
      label,
      secretArn,
      ...(kmsKeyArn !== undefined ? { kmsKeyArn } : {}),
    }));
  }

  /** The statements allowing exactly `GetSecretValue` on this secret (and `kms:Decrypt` for it). */
  readPolicyStatements(label = 'KeySecret'): pulumi.Output<IamPolicyStatement[]> {
    return this.readGrant(label).apply(secretReadStatements);
  }

  /** The least-privilege IAM policy document (JSON) to read exactly this secret. */
  readPolicyDocument(label = 'KeySecret'): pulumi.Output<string> {
    return secretReadPolicy([this.readGrant(label)]);
  }
}

/** The agent's source configuration for a secret ARN (the region is the ARN's), at `versionId` when given. */
export function awsSecretSource(
  arn: pulumi.Input<string>,
  versionId?: pulumi.Input<string>,
): pulumi.Output<SecretSourceConfig> {
  return pulumi.all([arn, versionId]).apply(([secretId, id]): SecretSourceConfig => ({
    source: 'aws-secrets-manager',
    secretId,
    region: secretArnRegion(secretId),
    ...(id !== undefined ? { versionId: id } : {}),
  }));
}

/** A KMS key ARN argument, checked now when plain and on resolution when late. */
export function checkedKmsKeyArn(label: string, what: string, value: pulumi.Input<string>): pulumi.Output<string> {
  return checkedInput(value, (resolved) => {
    if (typeof resolved !== 'string' || !isKmsKeyArn(resolved)) {
      throw new ComponentArgumentError(
        `${label}: ${what} must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), got ${describe(resolved)}: ` +
          'the read policy grants kms:Decrypt on the key ARN, which an alias or a bare key id cannot name',
      );
    }
  });
}

export function checkRecoveryWindow(label: string, days: unknown): void {
  if (typeof days !== 'number' || !Number.isInteger(days) || (days !== 0 && (days < 7 || days > 30))) {
    throw new ComponentArgumentError(
      `${label}: recoveryWindowInDays must be 0 or a whole number from 7 to 30, got ${describe(days)}`,
    );
  }
}

export function checkCallerTags(label: string, tags: Record<string, unknown> | undefined): void {
  for (const key of Object.keys(tags ?? {})) {
    if (RESERVED_TAGS.includes(key))
      throw new ComponentArgumentError(`${label}: tags may not set ${key}; the component sets it`);
    if (key.startsWith('aws:')) throw new ComponentArgumentError(`${label}: tag key ${key} is reserved by AWS`);
  }
}

/** AWS tag values: at most 256 of letters, digits, spaces and _.:/=+-@. */
function checkTagValue(label: string, what: string, value: unknown): void {
  if (typeof value !== 'string' || !/^[\p{L}\p{N}\s_.:/=+\-@]{1,256}$/u.test(value)) {
    throw new ComponentArgumentError(
      `${label}: ${what} must be 1 to 256 letters, digits, spaces or _.:/=+-@, got ${describe(value)}`,
    );
  }
}
