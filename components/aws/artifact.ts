/**
 * An AwsGateway's agent artifact in S3 (see ../artifact.ts): a private bucket of the gateway
 * (`-agent`: public access blocked; S3's default SSE-S3 encryption and bucket-owner-enforced
 * ownership; emptied on destroy, it holds only this), the tarball as the object
 * `wiremesh-agent/<sha256>.tgz` (uploaded with an S3-checked SHA-256), and an inline policy of the
 * gateway's role (`-read-agent`) allowing `s3:GetObject` on exactly that object's ARN. The
 * artifact is not secret, so no KMS key: its integrity is the sha256 the user data checks.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import type { AgentArtifact } from '../artifact';
import type { AgentArtifactLocation } from '../bootstrap';

export interface AwsAgentArtifact {
  bucket: aws.s3.Bucket;
  publicAccessBlock: aws.s3.BucketPublicAccessBlock;
  object: aws.s3.BucketObjectv2;
  /** The role policy reading exactly the object. */
  readPolicy: aws.iam.RolePolicy;
  /** What the user data downloads (names only). */
  location: pulumi.Output<AgentArtifactLocation>;
}

/** `arn:<partition>:s3:::<bucket>/<key>`, the partition taken from the bucket's ARN. */
export function objectArn(bucketArn: string, key: string): string {
  return `${bucketArn}/${key}`;
}

/** The inline policy allowing s3:GetObject on exactly one object. */
export function artifactReadPolicy(arn: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Sid: 'ReadAgentArtifact', Effect: 'Allow', Action: 's3:GetObject', Resource: arn }],
  });
}

/** A bucket name prefix from a resource name: lowercase letters, digits and dashes, room for the provider's suffix. */
function bucketPrefix(name: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, 30)
    .replace(/-+$/, '');
  return `${slug || 'wiremesh'}-agent-`;
}

/** The bucket, the object and the role's read grant of a gateway's artifact. */
export function createAwsAgentArtifact(
  name: string,
  artifact: AgentArtifact,
  role: aws.iam.Role,
  tags: Record<string, pulumi.Input<string>>,
  parent: pulumi.Resource,
): AwsAgentArtifact {
  const bucket = new aws.s3.Bucket(
    `${name}-agent`,
    { bucketPrefix: bucketPrefix(name), forceDestroy: true, tags },
    { parent },
  );
  const publicAccessBlock = new aws.s3.BucketPublicAccessBlock(
    `${name}-agent`,
    {
      bucket: bucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    },
    { parent },
  );
  const object = new aws.s3.BucketObjectv2(
    `${name}-agent`,
    {
      bucket: bucket.id,
      key: artifact.objectName,
      source: new pulumi.asset.FileAsset(artifact.path),
      contentType: 'application/gzip',
      checksumAlgorithm: 'SHA256',
      tags,
    },
    { parent, dependsOn: [publicAccessBlock] },
  );
  const readPolicy = new aws.iam.RolePolicy(
    `${name}-read-agent`,
    {
      role: role.id,
      policy: pulumi.all([bucket.arn, object.key]).apply(([arn, key]) => artifactReadPolicy(objectArn(arn, key))),
    },
    { parent },
  );
  const location = pulumi
    .all([bucket.bucket, bucket.region, object.key])
    .apply(([bucketName, region, key]): AgentArtifactLocation => ({
      store: 's3',
      region,
      bucket: bucketName,
      key,
      sha256: artifact.sha256,
    }));
  return { bucket, publicAccessBlock, object, readPolicy, location };
}
