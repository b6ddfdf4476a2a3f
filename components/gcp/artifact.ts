/**
 * A GcpGateway's agent artifact in Cloud Storage (see ../artifact.ts): a bucket of the gateway
 * (`-agent`, in the gateway's region, uniform bucket-level access, public access prevention
 * enforced, emptied on destroy: it holds only this), the tarball as the object
 * `wiremesh-agent/<sha256>.tgz`, and one bucket-level `roles/storage.objectViewer` member for the
 * gateway's service account with an IAM condition on exactly that object's resource name.
 *
 * Why a conditioned bucket-level grant: object ACLs (the per-object alternative) need fine-grained
 * access control, which Google recommends against and which uniform access turns off; an IAM
 * condition `resource.name == "projects/_/buckets/B/objects/O"` restricts the role to that object:
 * reading any other object, or listing the bucket (whose resource is the bucket), is denied. The
 * condition names the content-addressed object, so a new artifact gets a new grant.
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import type { AgentArtifact } from '../artifact';
import type { AgentArtifactLocation } from '../bootstrap';

/** Read access to objects (get, list: the condition leaves only get on the one object). */
export const OBJECT_VIEWER_ROLE = 'roles/storage.objectViewer';

export interface GcpAgentArtifact {
  bucket: gcp.storage.Bucket;
  object: gcp.storage.BucketObject;
  /** The service account's read grant on exactly the object. */
  readGrant: gcp.storage.BucketIAMMember;
  /** What the user data downloads (names only). */
  location: pulumi.Output<AgentArtifactLocation>;
}

/** The IAM condition expression matching exactly one object of a bucket. */
export function objectCondition(bucket: string, object: string): string {
  return `resource.name == "projects/_/buckets/${bucket}/objects/${object}"`;
}

/** The bucket, the object and the service account's conditioned read grant of a gateway's artifact. */
export function createGcpAgentArtifact(
  name: string,
  artifact: AgentArtifact,
  where: { project: pulumi.Input<string> | undefined; region: string; labels: Record<string, string> },
  serviceAccountEmail: pulumi.Input<string>,
  parent: pulumi.Resource,
): GcpAgentArtifact {
  const bucket = new gcp.storage.Bucket(
    `${name}-agent`,
    {
      project: where.project,
      location: where.region.toUpperCase(),
      uniformBucketLevelAccess: true,
      publicAccessPrevention: 'enforced',
      forceDestroy: true,
      labels: where.labels,
    },
    { parent },
  );
  const object = new gcp.storage.BucketObject(
    `${name}-agent`,
    {
      bucket: bucket.name,
      name: artifact.objectName,
      source: new pulumi.asset.FileAsset(artifact.path),
      contentType: 'application/gzip',
    },
    { parent },
  );
  const readGrant = new gcp.storage.BucketIAMMember(
    `${name}-read-agent`,
    {
      bucket: bucket.name,
      role: OBJECT_VIEWER_ROLE,
      member: pulumi.interpolate`serviceAccount:${serviceAccountEmail}`,
      condition: {
        title: 'wiremesh agent artifact',
        description: 'Only the agent artifact object of this gateway',
        expression: pulumi.all([bucket.name, object.name]).apply(([b, o]) => objectCondition(b, o)),
      },
    },
    { parent },
  );
  const location = pulumi.all([bucket.name, object.name]).apply(([bucketName, objectName]): AgentArtifactLocation => ({
    store: 'gcs',
    bucket: bucketName,
    object: objectName,
    sha256: artifact.sha256,
  }));
  return { bucket, object, readGrant, location };
}
