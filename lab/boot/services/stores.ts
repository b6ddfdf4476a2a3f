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
 * The versions are the deployment's (`deploy`, at the start and after every deploy), as the engine
 * leaves them after an update: the graph's versions exist with their staging labels, a version the
 * graph no longer has (a retired key generation, a replaced document) is destroyed.
 */
import type { ServerResponse } from 'node:http';
import { crc32c } from '../../../agent/secrets/gcp';
import { sendJson, type Handler, type LabRequest } from './http';
import { verifySigV4 } from './sigv4';
import { AWS_ACCOUNT, type World } from './world';
import type { AwsSecretRecord, GcpSecretRecord } from '../deployment';

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

/** What a deploy changed in the stores: `ARN@versionId` / `projects/P/secrets/S/versions/N`. */
export interface StoreChanges {
  created: string[];
  /** AWS versions whose staging labels moved (AWSPENDING -> AWSCURRENT at a key's retirement). */
  restaged: string[];
  destroyed: string[];
}

export class SecretStores {
  readonly accesses: StoreAccess[] = [];
  private readonly aws = new Map<string, { arn: string; name: string; versions: AwsVersion[] }>();
  /** Per secret, its versions by number; a destroyed version keeps its number and loses its value. */
  private readonly gcp = new Map<string, Map<number, { value: string | null; created: number }>>();

  constructor(private readonly world: World) {
    this.deploy(world.awsSecrets, world.gcpSecrets);
  }

  /**
   * Makes the stores hold exactly a deployment's secret versions, in the engine's order: new
   * versions first (a new AWSCURRENT moves the label, the previous holder gets AWSPREVIOUS, as
   * Secrets Manager does), then staging labels, then the versions the graph no longer has destroyed
   * (of the secrets it names). Applied at once: an agent reads the state before or after.
   */
  deploy(awsSecrets: AwsSecretRecord[], gcpSecrets: GcpSecretRecord[]): StoreChanges {
    const changes: StoreChanges = { created: [], restaged: [], destroyed: [] };
    for (const record of awsSecrets) {
      const secret = this.aws.get(record.arn) ?? { arn: record.arn, name: record.name, versions: [] };
      this.aws.set(record.arn, secret);
      let version = secret.versions.find((v) => v.versionId === record.versionId);
      if (version === undefined) {
        version = { versionId: record.versionId, value: record.value, stages: [], created: Date.now() };
        secret.versions.push(version);
        changes.created.push(`${record.arn}@${record.versionId}`);
      } else if (record.stages.some((stage) => !version!.stages.includes(stage))) {
        changes.restaged.push(`${record.arn}@${record.versionId}`);
      }
      stageAs(secret.versions, version, record.stages);
    }
    for (const [arn, secret] of this.aws) {
      const kept = new Set(awsSecrets.filter((r) => r.arn === arn).map((r) => r.versionId));
      if (kept.size === 0) continue;
      for (const v of secret.versions.filter((v) => !kept.has(v.versionId)))
        changes.destroyed.push(`${arn}@${v.versionId}`);
      secret.versions = secret.versions.filter((v) => kept.has(v.versionId));
    }
    for (const record of gcpSecrets) {
      const versions = this.gcp.get(record.name) ?? new Map<number, { value: string | null; created: number }>();
      this.gcp.set(record.name, versions);
      if (!versions.has(record.version)) {
        versions.set(record.version, { value: record.value, created: Date.now() });
        changes.created.push(`${record.name}/versions/${record.version}`);
      }
    }
    for (const [name, versions] of this.gcp) {
      const kept = new Set(gcpSecrets.filter((r) => r.name === name).map((r) => r.version));
      if (kept.size === 0) continue;
      for (const [number, version] of versions) {
        if (kept.has(number) || version.value === null) continue;
        version.value = null;
        changes.destroyed.push(`${name}/versions/${number}`);
      }
    }
    return changes;
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
    const versionPath = /^\/v1\/(projects\/([^/]+)\/secrets\/([^/]+))\/versions\/([^/:]+)(:access)?$/;
    return (request: LabRequest, response: ServerResponse) => {
      const match = request.method === 'GET' ? versionPath.exec(request.path.split('?')[0]!) : null;
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
      const versions = this.gcp.get(name) ?? new Map<number, { value: string | null; created: number }>();
      const number =
        versionId === 'latest'
          ? Math.max(0, ...[...versions].filter(([, v]) => v.value !== null).map(([n]) => n))
          : Number(versionId);
      const version = versions.get(number);
      if (version === undefined)
        return fail(404, 'NOT_FOUND', `Secret Version [${name}/versions/${versionId}] not found.`, name, caller.name);
      if (version.value === null)
        return fail(
          400,
          'FAILED_PRECONDITION',
          `Secret Version [${name}/versions/${number}] is in DESTROYED state.`,
          name,
          caller.name,
        );
      this.record({ store: 'gcp-secret-manager', secret: name, status: 200, instance: caller.name });
      if (!payload)
        return sendJson(response, 200, {
          name: `${name}/versions/${number}`,
          createTime: new Date(version.created).toISOString(),
          state: 'ENABLED',
        });
      const data = Buffer.from(version.value, 'utf8');
      sendJson(response, 200, {
        name: `${name}/versions/${number}`,
        payload: { data: data.toString('base64'), dataCrc32c: String(crc32c(data)) },
      });
    };
  }
}

/**
 * Gives `version` exactly the graph's labels `stages`, taking each off the version that held it (a
 * label is on one version at a time); moving AWSCURRENT gives its previous holder AWSPREVIOUS, which
 * Secrets Manager manages itself (the graph never names it).
 */
function stageAs(versions: AwsVersion[], version: AwsVersion, stages: string[]): void {
  for (const stage of stages) {
    const holder = versions.find((v) => v !== version && v.stages.includes(stage));
    if (holder === undefined) continue;
    holder.stages = holder.stages.filter((s) => s !== stage);
    if (stage === 'AWSCURRENT') {
      for (const v of versions) v.stages = v.stages.filter((s) => s !== 'AWSPREVIOUS');
      holder.stages.push('AWSPREVIOUS');
    }
  }
  const previous = version.stages.includes('AWSPREVIOUS') && !stages.includes('AWSCURRENT');
  version.stages = [...stages, ...(previous ? ['AWSPREVIOUS'] : [])];
}
