/**
 * Instance metadata services at 169.254.169.254, one per cloud network, answering each instance by
 * its source address as the hypervisor does:
 * - EC2 IMDSv2: PUT /latest/api/token (TTL header) issues a session token that every GET must carry
 *   (IMDSv1 GETs are refused: the instances require tokens); role credentials, region, placement,
 *   instance identity document.
 * - GCE metadata server: only requests with `Metadata-Flavor: Google` (and no X-Forwarded-For),
 *   answers carry that header; service-account email and OAuth access token, project, zone.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { sendJson, sendText, type Handler, type LabRequest } from './http';
import { AWS_ACCOUNT, type AwsInstanceIdentity, type GcpInstanceIdentity } from './world';

const MAX_TOKEN_TTL_SECONDS = 21_600;

export function ec2MetadataHandler(instances: AwsInstanceIdentity[], now: () => number = Date.now): Handler {
  const tokens = new Map<string, { instance: string; expires: number }>();
  return (request: LabRequest, response: ServerResponse) => {
    const instance = instances.find((i) => i.privateIp === request.remoteAddress);
    if (instance === undefined) return sendText(response, 404, 'no instance at this address');
    const path = request.path.split('?')[0]!;
    if (request.method === 'PUT' && path === '/latest/api/token') {
      const ttl = Number(request.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TOKEN_TTL_SECONDS)
        return sendText(response, 400, 'invalid TTL');
      if (request.headers['x-forwarded-for'] !== undefined)
        return sendText(response, 403, 'forwarded requests are refused');
      const token = randomBytes(32).toString('base64url');
      tokens.set(token, { instance: instance.name, expires: now() + ttl * 1000 });
      return sendText(response, 200, token, { 'x-aws-ec2-metadata-token-ttl-seconds': String(ttl) });
    }
    if (request.method !== 'GET') return sendText(response, 405, 'method not allowed');
    const session = tokens.get(String(request.headers['x-aws-ec2-metadata-token'] ?? ''));
    if (session === undefined || session.instance !== instance.name || session.expires < now())
      return sendText(response, 401, 'Unauthorized');
    const credentials = '/latest/meta-data/iam/security-credentials/';
    const answers: Record<string, () => void> = {
      [credentials]: () => sendText(response, 200, instance.roleName),
      [credentials + instance.roleName]: () =>
        sendJson(response, 200, {
          Code: 'Success',
          LastUpdated: new Date(now()).toISOString(),
          Type: 'AWS-HMAC',
          AccessKeyId: instance.accessKeyId,
          SecretAccessKey: instance.secretAccessKey,
          Token: instance.sessionToken,
          Expiration: new Date(now() + 6 * 3600_000).toISOString(),
        }),
      '/latest/meta-data/instance-id': () => sendText(response, 200, instance.instanceId),
      '/latest/meta-data/local-ipv4': () => sendText(response, 200, instance.privateIp),
      '/latest/meta-data/placement/region': () => sendText(response, 200, instance.region),
      '/latest/meta-data/placement/availability-zone': () => sendText(response, 200, instance.availabilityZone),
      '/latest/dynamic/instance-identity/document': () =>
        sendJson(response, 200, {
          accountId: AWS_ACCOUNT,
          architecture: 'x86_64',
          availabilityZone: instance.availabilityZone,
          imageId: 'ami-0123456789abcdef0',
          instanceId: instance.instanceId,
          instanceType: 't3.small',
          privateIp: instance.privateIp,
          region: instance.region,
          version: '2017-09-30',
        }),
    };
    const answer = answers[path];
    if (answer === undefined) return sendText(response, 404, 'Not Found');
    answer();
  };
}

export function gceMetadataHandler(instances: GcpInstanceIdentity[]): Handler {
  return (request: LabRequest, response: ServerResponse) => {
    const flavor = { 'metadata-flavor': 'Google' };
    if (request.headers['metadata-flavor'] !== 'Google' || request.headers['x-forwarded-for'] !== undefined) {
      return sendText(response, 403, 'Missing required header: Metadata-Flavor', flavor);
    }
    const instance = instances.find((i) => i.privateIp === request.remoteAddress);
    if (instance === undefined) return sendText(response, 404, 'no instance at this address', flavor);
    const path = request.path.split('?')[0]!.replace(/\/+$/, '');
    const account = '/computeMetadata/v1/instance/service-accounts/default';
    const answers: Record<string, () => void> = {
      '': () => sendText(response, 200, 'computeMetadata/\n', flavor),
      '/computeMetadata/v1': () => sendText(response, 200, 'instance/\nproject/\nuniverse/\n', flavor),
      '/computeMetadata/v1/instance': () => sendText(response, 200, 'id\nservice-accounts/\nzone\n', flavor),
      '/computeMetadata/v1/instance/id': () => sendText(response, 200, instance.instanceId, flavor),
      '/computeMetadata/v1/instance/zone': () =>
        sendText(response, 200, `projects/${instance.project}/zones/${instance.zone}`, flavor),
      '/computeMetadata/v1/instance/network-interfaces/0/ip': () => sendText(response, 200, instance.privateIp, flavor),
      '/computeMetadata/v1/project/project-id': () => sendText(response, 200, instance.project, flavor),
      '/computeMetadata/v1/universe/universe-domain': () => sendText(response, 200, 'googleapis.com', flavor),
      [`${account}/email`]: () => sendText(response, 200, instance.email, flavor),
      [`${account}/scopes`]: () => sendText(response, 200, 'https://www.googleapis.com/auth/cloud-platform\n', flavor),
      [`${account}/token`]: () =>
        sendJson(response, 200, { access_token: instance.accessToken, expires_in: 3599, token_type: 'Bearer' }, flavor),
    };
    const answer = answers[path];
    if (answer === undefined) return sendText(response, 404, 'Not Found', flavor);
    answer();
  };
}
