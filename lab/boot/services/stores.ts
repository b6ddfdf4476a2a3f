/**
 * The emulated secret stores, enforcing the access the deployment granted:
 * - AWS Secrets Manager, JSON 1.1 protocol (`X-Amz-Target: secretsmanager.GetSecretValue`): SigV4
 *   checked against the credentials the IMDS handed out (and their session token); the caller's
 *   role may read only the ARNs its role policies allow; VersionStage AWSCURRENT / AWSPREVIOUS or a
 *   VersionId. Error shapes are the service's (`__type`, `message`).
 * - GCP Secret Manager REST: `GET /v1/projects/P/secrets/S/versions/V:access` (the payload; the
 *   bearer token names the service account, which needs roles/secretmanager.secretAccessor on that
 *   secret) and `GET .../versions/V` (the version's metadata, its createTime; needs
 *   roles/secretmanager.viewer there).
 * Every call is recorded (who, which secret, the answer's status) for the lab's checks; values never.
 * New versions arrive through `putAws` / `putGcp`, as the engine writes them on an update.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { crc32c } from '../../../agent/secrets/gcp';
import { sendJson, type Handler, type LabRequest } from './http';
import { verifySigV4 } from './sigv4';
import { AWS_ACCOUNT, type World } from './world';

export interface StoreAccess {
  store: 'aws-secrets-manager' | 'gcp-secret-manager';
  /** The instance the credentials belong to, when they were valid. */
  instance?: string;
  secret: string;
  status: number;
  error?: string;
  at: string;
}

interface AwsVersion {
  versionId: string;
  value: string;
  stages: string[];
  created: number;
}

export class SecretStores {
  readonly accesses: StoreAccess[] = [];
  private readonly aws = new Map<string, { arn: string; name: string; versions: AwsVersion[] }>();
  private readonly gcp = new Map<string, Array<{ value: string; created: number }>>();

  constructor(private readonly world: World) {
    for (const secret of world.awsSecrets) this.putAws(secret.arn, secret.value, secret.name, secret.versionId);
    for (const secret of world.gcpSecrets) this.putGcp(secret.name, secret.value);
  }

  /** A new AWSCURRENT version (the previous one becomes AWSPREVIOUS); unchanged values add nothing. */
  putAws(arn: string, value: string, name?: string, versionId: string = randomUUID()): boolean {
    const secret = this.aws.get(arn) ?? { arn, name: name ?? arn.split(':').pop()!, versions: [] };
    this.aws.set(arn, secret);
    const current = secret.versions.find((v) => v.stages.includes('AWSCURRENT'));
    if (current?.value === value) return false;
    for (const v of secret.versions) v.stages = v.stages.includes('AWSCURRENT') ? ['AWSPREVIOUS'] : [];
    secret.versions.push({ versionId, value, stages: ['AWSCURRENT'], created: Date.now() });
    return true;
  }

  /** A new version (the new `latest`); unchanged values add nothing. */
  putGcp(name: string, value: string): boolean {
    const versions = this.gcp.get(name) ?? [];
    this.gcp.set(name, versions);
    if (versions[versions.length - 1]?.value === value) return false;
    versions.push({ value, created: Date.now() });
    return true;
  }

  private record(access: Omit<StoreAccess, 'at'>): void {
    this.accesses.push({ ...access, at: new Date().toISOString() });
  }

  secretsManager(): Handler {
    return (request: LabRequest, response: ServerResponse) => {
      const fail = (status: number, type: string, message: string, secret: string, instance?: string) => {
        this.record({ store: 'aws-secrets-manager', secret, status, error: type, ...(instance ? { instance } : {}) });
        sendJson(response, status, { __type: type, message }, { 'content-type': 'application/x-amz-json-1.1' });
      };
      if (request.method !== 'POST' || request.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue') {
        return fail(400, 'InvalidRequestException', 'the lab serves GetSecretValue only', '');
      }
      let input: { SecretId?: string; VersionStage?: string; VersionId?: string };
      try {
        input = JSON.parse(request.body) as typeof input;
      } catch {
        return fail(400, 'SerializationException', 'the body is not JSON', '');
      }
      const secretId = input.SecretId ?? '';
      const signature = verifySigV4(
        request,
        (key) => this.world.awsInstances.find((i) => i.accessKeyId === key)?.secretAccessKey,
      );
      if (!signature.ok) {
        const type =
          signature.reason === 'unknown access key' ? 'UnrecognizedClientException' : 'InvalidSignatureException';
        return fail(400, type, `The request signature we calculated does not match: ${signature.reason}`, secretId);
      }
      const caller = this.world.awsInstances.find((i) => i.accessKeyId === signature.accessKeyId)!;
      if (request.headers['x-amz-security-token'] !== caller.sessionToken) {
        return fail(
          400,
          'UnrecognizedClientException',
          'The security token included in the request is invalid.',
          secretId,
          caller.name,
        );
      }
      if (signature.service !== 'secretsmanager' || signature.region !== caller.region) {
        return fail(
          400,
          'InvalidSignatureException',
          `Credential should be scoped to a valid region and service secretsmanager`,
          secretId,
          caller.name,
        );
      }
      const secret = [...this.aws.values()].find((s) => s.arn === secretId || s.name === secretId);
      const resource = secret?.arn ?? `arn:aws:secretsmanager:${caller.region}:${AWS_ACCOUNT}:secret:${secretId}`;
      if (!caller.readableSecretArns.includes(resource)) {
        return fail(
          400,
          'AccessDeniedException',
          `User: arn:aws:sts::${AWS_ACCOUNT}:assumed-role/${caller.roleName}/${caller.instanceId} is not authorized to perform: secretsmanager:GetSecretValue on resource: ${secretId} because no identity-based policy allows the secretsmanager:GetSecretValue action`,
          secretId,
          caller.name,
        );
      }
      if (secret === undefined)
        return fail(
          400,
          'ResourceNotFoundException',
          "Secrets Manager can't find the specified secret.",
          secretId,
          caller.name,
        );
      const version =
        input.VersionId !== undefined
          ? secret.versions.find((v) => v.versionId === input.VersionId)
          : secret.versions.find((v) => v.stages.includes(input.VersionStage ?? 'AWSCURRENT'));
      if (version === undefined) {
        return fail(
          400,
          'ResourceNotFoundException',
          "Secrets Manager can't find the specified secret value for staging label or version.",
          secretId,
          caller.name,
        );
      }
      this.record({ store: 'aws-secrets-manager', secret: secret.arn, status: 200, instance: caller.name });
      sendJson(
        response,
        200,
        {
          ARN: secret.arn,
          Name: secret.name,
          VersionId: version.versionId,
          SecretString: version.value,
          VersionStages: version.stages,
          CreatedDate: version.created / 1000,
        },
        { 'content-type': 'application/x-amz-json-1.1' },
      );
    };
  }

  secretManager(): Handler {
    const version = /^\/v1\/(projects\/([^/]+)\/secrets\/([^/]+))\/versions\/([^/:]+)(:access)?$/;
    return (request: LabRequest, response: ServerResponse) => {
      const match = request.method === 'GET' ? version.exec(request.path.split('?')[0]!) : null;
      const fail = (code: number, status: string, message: string, secret: string, instance?: string) => {
        this.record({
          store: 'gcp-secret-manager',
          secret,
          status: code,
          error: status,
          ...(instance ? { instance } : {}),
        });
        sendJson(response, code, { error: { code, message, status } });
      };
      if (match === null)
        return fail(404, 'NOT_FOUND', 'the lab serves AccessSecretVersion and GetSecretVersion only', request.path);
      const [, name = '', , secretId = '', versionId = '', accessSuffix] = match;
      const payload = accessSuffix !== undefined;
      const bearer = /^Bearer (.+)$/.exec(String(request.headers.authorization ?? ''))?.[1];
      const caller = this.world.gcpInstances.find((i) => i.accessToken === bearer);
      if (caller === undefined)
        return fail(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.', name);
      if (!(payload ? caller.readableSecretIds : caller.viewableSecretIds).includes(secretId)) {
        return fail(
          403,
          'PERMISSION_DENIED',
          `Permission 'secretmanager.versions.${payload ? 'access' : 'get'}' denied for resource '${name}/versions/${versionId}' (or it may not exist).`,
          name,
          caller.name,
        );
      }
      const versions = this.gcp.get(name) ?? [];
      const number = versionId === 'latest' ? versions.length : Number(versionId);
      const found = versions[number - 1];
      if (found === undefined)
        return fail(404, 'NOT_FOUND', `Secret Version [${name}/versions/${versionId}] not found.`, name, caller.name);
      this.record({ store: 'gcp-secret-manager', secret: name, status: 200, instance: caller.name });
      if (!payload)
        return sendJson(response, 200, {
          name: `${name}/versions/${number}`,
          createTime: new Date(found.created).toISOString(),
          state: 'ENABLED',
        });
      const data = Buffer.from(found.value, 'utf8');
      sendJson(response, 200, {
        name: `${name}/versions/${number}`,
        payload: { data: data.toString('base64'), dataCrc32c: String(crc32c(data)) },
      });
    };
  }
}
