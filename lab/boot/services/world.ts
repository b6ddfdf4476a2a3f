/**
 * What the emulated clouds know, shared by the lab's service processes: each instance's identity
 * and the credentials its metadata service hands out, the secrets and who may read them. Built
 * by the lab from the mocks graph (deployment.ts), passed to each service process as a 0600 file.
 */
import { randomBytes } from 'node:crypto';
import type {
  ArtifactObjectRecord,
  AwsSecretRecord,
  GcpSecretRecord,
  LabDeployment,
  LabRouteTable,
} from '../deployment';

export const AWS_ACCOUNT = '123456789012';

export interface AwsInstanceIdentity {
  name: string;
  instanceId: string;
  privateIp: string;
  region: string;
  availabilityZone: string;
  roleName: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  readableSecretArns: string[];
  /** The S3 object ARNs its role policies allow s3:GetObject on. */
  readableObjectArns: string[];
  /** The route-table ARNs its role policies allow ec2:ReplaceRoute on. */
  replaceableRouteTableArns: string[];
  describesRouteTables: boolean;
}

/** An instance's primary network interface, as EC2 knows it. */
export interface NetworkInterfaceIdentity {
  id: string;
  privateIp: string;
  instanceId: string;
}

export interface GcpInstanceIdentity {
  name: string;
  instanceId: string;
  privateIp: string;
  project: string;
  zone: string;
  email: string;
  accessToken: string;
  readableSecretIds: string[];
  /** Secrets whose version metadata it may read (GetSecretVersion: createTime). */
  viewableSecretIds: string[];
  /** The Cloud Storage objects (`projects/_/buckets/B/objects/O`) it may read. */
  readableObjects: string[];
}

export interface World {
  awsInstances: AwsInstanceIdentity[];
  gcpInstances: GcpInstanceIdentity[];
  awsSecrets: AwsSecretRecord[];
  gcpSecrets: GcpSecretRecord[];
  /** The objects the deployment uploaded (the agent artifacts), with the local file each holds. */
  artifacts: ArtifactObjectRecord[];
  /** The VPC route tables with the routes the deployment made (the EC2 service's initial state). */
  routeTables: LabRouteTable[];
  networkInterfaces: NetworkInterfaceIdentity[];
}

const token = (bytes: number) => randomBytes(bytes).toString('base64url');

/** Identities for the deployment's gateways at `privateIps` (by gateway name), with fresh credentials. */
export function worldOf(deployment: LabDeployment, privateIps: Record<string, string>): World {
  const awsInstances: AwsInstanceIdentity[] = [];
  const gcpInstances: GcpInstanceIdentity[] = [];
  const networkInterfaces: NetworkInterfaceIdentity[] = [];
  deployment.gateways.forEach((gateway, index) => {
    const privateIp = privateIps[gateway.name];
    if (privateIp === undefined) throw new Error(`lab: no address for gateway ${gateway.name}`);
    if (gateway.cloud === 'aws') {
      const instanceId = `i-0lab${String(index).padStart(12, '0')}`;
      if (gateway.networkInterfaceId !== undefined)
        networkInterfaces.push({ id: gateway.networkInterfaceId, privateIp, instanceId });
      awsInstances.push({
        name: gateway.name,
        instanceId,
        privateIp,
        region: deployment.awsRegion,
        availabilityZone: `${deployment.awsRegion}a`,
        roleName: gateway.role!.name,
        accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
        secretAccessKey: token(30),
        sessionToken: token(48),
        readableSecretArns: gateway.role!.readableSecretArns,
        readableObjectArns: gateway.role!.readableObjectArns,
        replaceableRouteTableArns: gateway.role!.replaceableRouteTableArns,
        describesRouteTables: gateway.role!.describesRouteTables,
      });
    } else {
      gcpInstances.push({
        name: gateway.name,
        instanceId: String(4_000_000_000_000_000 + index),
        privateIp,
        project: deployment.gcpProject,
        zone: 'europe-west1-b',
        email: gateway.serviceAccount!.email,
        accessToken: `ya29.lab-${token(32)}`,
        readableSecretIds: gateway.serviceAccount!.readableSecretIds,
        viewableSecretIds: gateway.serviceAccount!.viewableSecretIds,
        readableObjects: gateway.serviceAccount!.readableObjects,
      });
    }
  });
  return {
    awsInstances,
    gcpInstances,
    awsSecrets: deployment.awsSecrets,
    gcpSecrets: deployment.gcpSecrets,
    artifacts: deployment.artifacts,
    routeTables: deployment.routeTables,
    networkInterfaces,
  };
}
