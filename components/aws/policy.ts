/**
 * Least-privilege IAM policy documents for reading one Secrets Manager secret, as the agent does
 * (`GetSecretValue`, nothing else).
 *
 * With a customer-managed KMS key, Secrets Manager decrypts on the caller's behalf, so the caller
 * also needs `kms:Decrypt` on that key. The grant is narrowed to exactly that use, as in the
 * `AWSSecretsManagerClientReadOnlyAccess` managed policy but without its wildcards:
 *
 * - `kms:ViaService = secretsmanager.<region>.amazonaws.com`: only through Secrets Manager;
 * - `kms:EncryptionContext:SecretARN = <secret ARN>`: only for this secret (Secrets Manager puts
 *   the secret's ARN into the encryption context of every data key it uses).
 *
 * The KMS key policy must still allow IAM policies to grant use of the key (the default key policy
 * does, through its "Enable IAM User Permissions" statement).
 */
import * as pulumi from '@pulumi/pulumi';
import { ComponentArgumentError } from '../errors';

export interface IamPolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface IamPolicyDocument {
  Version: '2012-10-17';
  Statement: IamPolicyStatement[];
}

/** One secret to read: its ARN and, when it is encrypted with a customer-managed key, that key's ARN. */
export interface SecretReadGrant {
  /** Used in statement ids (letters and digits only), e.g. `KeySecret` gives `ReadKeySecret`. */
  label: string;
  secretArn: string;
  kmsKeyArn?: string;
}

/** `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`: the secret ARNs come from AWS, only their parts are read. */
const ARN = /^arn:(aws[a-z-]*):([a-z0-9-]+):([a-z0-9-]+):(\d{12})?:.+$/;
const KMS_KEY_ARN = /^arn:(aws[a-z-]*):kms:([a-z0-9-]+):(\d{12}):key\/[A-Za-z0-9-]+$/;

/** True for `arn:<partition>:kms:<region>:<account>:key/<id>` (not an alias, not a bare key id). */
export function isKmsKeyArn(value: string): boolean {
  return KMS_KEY_ARN.test(value);
}

/** The partition and region of an ARN. Throws for a string that is not a regional ARN. */
export function arnParts(arn: string): { partition: string; region: string } {
  const match = ARN.exec(arn);
  if (!match)
    throw new ComponentArgumentError(`"${arn}" is not a regional ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE)`);
  return { partition: match[1]!, region: match[3]! };
}

/** The region of a secret ARN (what the agent's Secrets Manager client must use). */
export function secretArnRegion(secretArn: string): string {
  return arnParts(secretArn).region;
}

/**
 * The DNS suffix of a partition's service endpoints, for `kms:ViaService`: amazonaws.com.cn in
 * the China partition (aws-cn), amazonaws.com elsewhere (aws, aws-us-gov). Not verified against
 * the China regions.
 */
function serviceSuffix(partition: string): string {
  return partition === 'aws-cn' ? 'amazonaws.com.cn' : 'amazonaws.com';
}

/** The statements that allow reading exactly one secret (and decrypting it, with a customer key). */
export function secretReadStatements(grant: SecretReadGrant): IamPolicyStatement[] {
  if (!/^[A-Za-z0-9]+$/.test(grant.label))
    throw new ComponentArgumentError(`statement label "${grant.label}" must be letters and digits`);
  const secret = arnParts(grant.secretArn);
  const statements: IamPolicyStatement[] = [
    { Sid: `Read${grant.label}`, Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: grant.secretArn },
  ];
  if (grant.kmsKeyArn !== undefined) {
    const key = KMS_KEY_ARN.exec(grant.kmsKeyArn);
    if (!key)
      throw new ComponentArgumentError(`"${grant.kmsKeyArn}" is not a KMS key ARN (arn:...:kms:REGION:ACCOUNT:key/ID)`);
    if (key[2] !== secret.region || key[1] !== secret.partition) {
      throw new ComponentArgumentError(
        `the KMS key ${grant.kmsKeyArn} is not in the region of the secret ${grant.secretArn}: Secrets Manager needs a key in its own region`,
      );
    }
    statements.push({
      Sid: `Decrypt${grant.label}`,
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Resource: grant.kmsKeyArn,
      Condition: {
        StringEquals: {
          'kms:ViaService': `secretsmanager.${secret.region}.${serviceSuffix(secret.partition)}`,
          'kms:EncryptionContext:SecretARN': grant.secretArn,
        },
      },
    });
  }
  return statements;
}

/** A policy document (JSON) allowing exactly the reads in `grants`. */
export function secretReadPolicy(grants: pulumi.Input<SecretReadGrant>[]): pulumi.Output<string> {
  return pulumi.all(grants).apply((resolved) => {
    const document: IamPolicyDocument = {
      Version: '2012-10-17',
      Statement: resolved.flatMap((grant) =>
        secretReadStatements({
          label: grant.label,
          secretArn: grant.secretArn,
          kmsKeyArn: grant.kmsKeyArn ?? undefined,
        }),
      ),
    };
    return JSON.stringify(document);
  });
}

/** The trust policy that lets EC2 instances assume a role (through their instance profile). */
export function ec2AssumeRolePolicy(): string {
  const document = {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'Ec2AssumeRole', Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' },
    ],
  };
  return JSON.stringify(document);
}
