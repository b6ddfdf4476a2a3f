/**
 * The IAM role and instance profile of an AwsGateway: `AmazonSSMManagedInstanceCore` (administration
 * through SSM Session Manager, no SSH) and an inline policy reading exactly the gateway's key and
 * config secrets and the `extraSecretReads` (with `kms:Decrypt` scoped by encryption context and
 * `kms:ViaService` when a customer KMS key is used).
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { ComponentArgumentError, describe } from '../errors';
import { ec2AssumeRolePolicy, secretReadPolicy, type SecretReadGrant } from './policy';

/** AmazonSSMManagedInstanceCore, the managed policy SSM Session Manager needs (the ARN's partition is the role's). */
const SSM_CORE_POLICY = 'policy/AmazonSSMManagedInstanceCore';

export interface GatewayRole {
  role: aws.iam.Role;
  readSecrets: aws.iam.RolePolicy;
  ssm: aws.iam.RolePolicyAttachment;
  profile: aws.iam.InstanceProfile;
}

/** The role, its read policy over `grants`, the SSM attachment and the instance profile. */
export function createGatewayRole(
  name: string,
  siteName: string,
  grants: pulumi.Input<SecretReadGrant>[],
  permissionsBoundary: pulumi.Input<string> | undefined,
  tags: Record<string, pulumi.Input<string>>,
  parent: pulumi.Resource,
): GatewayRole {
  const role = new aws.iam.Role(
    `${name}-role`,
    {
      description: `wiremesh gateway of site ${siteName}`,
      assumeRolePolicy: ec2AssumeRolePolicy(),
      permissionsBoundary,
      tags,
    },
    { parent },
  );
  const readSecrets = new aws.iam.RolePolicy(
    `${name}-read-secrets`,
    { role: role.id, policy: secretReadPolicy(grants) },
    { parent },
  );
  const ssm = new aws.iam.RolePolicyAttachment(
    `${name}-ssm`,
    {
      role: role.name,
      policyArn: role.arn.apply((arn) => `arn:${arn.split(':')[1] ?? 'aws'}:iam::aws:${SSM_CORE_POLICY}`),
    },
    { parent },
  );
  const profile = new aws.iam.InstanceProfile(`${name}-profile`, { role: role.name, tags }, { parent });
  return { role, readSecrets, ssm, profile };
}

/** `extraSecretReads` with their labels checked (when they resolve): letters and digits, unique, not the gateway's own. */
export function checkedExtraSecretReads(
  label: string,
  grants: pulumi.Input<SecretReadGrant>[] | undefined,
): pulumi.Output<SecretReadGrant>[] {
  if (grants === undefined) return [];
  if (!Array.isArray(grants)) throw new ComponentArgumentError(`${label}: extraSecretReads must be an array`);
  const all = pulumi.all(grants).apply((resolved) => {
    const seen = new Set(['KeySecret', 'ConfigSecret']);
    for (const grant of resolved) {
      if (typeof grant !== 'object' || grant === null || typeof grant.secretArn !== 'string') {
        throw new ComponentArgumentError(`${label}: extraSecretReads entries need a label and a secretArn`);
      }
      if (typeof grant.label !== 'string' || !/^[A-Za-z0-9]+$/.test(grant.label) || seen.has(grant.label)) {
        throw new ComponentArgumentError(
          `${label}: extraSecretReads label ${describe(grant.label)} must be letters and digits, unique, and not KeySecret or ConfigSecret`,
        );
      }
      seen.add(grant.label);
    }
    return resolved;
  });
  return grants.map((_, i) => all.apply((resolved) => resolved[i]! as SecretReadGrant));
}
