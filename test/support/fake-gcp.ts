/**
 * Loopback fakes of the GCP Secret Manager REST API (AccessSecretVersion only) and of the GCE
 * metadata server's token endpoint. The API records the bearer token each call carried.
 */
import { crc32c } from '../../agent/secrets/gcp';
import { FailureSwitch, failConnection, sendJson, startLoopbackServer, type LoopbackServer } from './fake-aws';

export const FAKE_ACCESS_TOKEN = 'ya29.fake-metadata-server-token';

const TOKEN_PATH = '/computeMetadata/v1/instance/service-accounts/default/token';

/**
 * Answers like the metadata server: only requests with Metadata-Flavor: Google, and says so in its
 * answers. `failures` applies to the token endpoint only, so the server still looks present.
 */
export async function startFakeGceMetadata(): Promise<LoopbackServer & { readonly failures: FailureSwitch }> {
  const failures = new FailureSwitch();
  const answers = new Map<string, { type: string; body: string }>([
    ['/computeMetadata/v1/instance', { type: 'text/plain', body: '' }],
    ['/computeMetadata/v1/project/project-id', { type: 'text/plain', body: 'wiremesh-test' }],
    ['/computeMetadata/v1/universe/universe-domain', { type: 'text/plain', body: 'googleapis.com' }],
    [
      TOKEN_PATH,
      {
        type: 'application/json',
        body: JSON.stringify({ access_token: FAKE_ACCESS_TOKEN, expires_in: 3599, token_type: 'Bearer' }),
      },
    ],
  ]);
  const server = await startLoopbackServer((request, response) => {
    const path = request.path.split('?')[0] ?? '';
    const failure = path === TOKEN_PATH ? failures.take() : undefined;
    if (failure === 'status-500')
      return sendJson(response, 500, { error: 'fake outage' }, { 'metadata-flavor': 'Google' });
    if (failure !== undefined) return failConnection(failure, response);
    const answer = answers.get(path);
    const flavored = request.headers['metadata-flavor'] === 'Google';
    const status = !flavored ? 403 : answer === undefined ? 404 : 200;
    response.writeHead(status, { 'metadata-flavor': 'Google', 'content-type': answer?.type ?? 'text/plain' });
    response.end(status === 200 ? answer?.body : '');
  });
  return { ...server, failures };
}

export interface FakeSecretManager extends LoopbackServer {
  readonly failures: FailureSwitch;
  /** Adds a version to projects/P/secrets/S; returns the new version's resource name. */
  /** createTime: what GetSecretVersion answers (default: when added); denyGet: it answers PERMISSION_DENIED. */
  addVersion(
    secretName: string,
    value: string,
    options?: { wrongChecksum?: boolean; createTime?: string; denyGet?: boolean },
  ): string;
  /** The bearer token of every access call, in order. */
  bearerTokens(): string[];
}

function googleError(code: number, status: string, message: string) {
  return { error: { code, status, message } };
}

export async function startFakeSecretManager(): Promise<FakeSecretManager> {
  const versions = new Map<
    string,
    Array<{ data: Buffer; wrongChecksum: boolean; createTime: string; denyGet: boolean }>
  >();
  const failures = new FailureSwitch();
  const access = /^\/v1\/(projects\/[^/]+\/secrets\/[^/]+)\/versions\/([^/:?]+)(:access)?(\?.*)?$/;
  const server = await startLoopbackServer((request, response) => {
    const failure = failures.take();
    if (failure === 'status-500') return sendJson(response, 503, googleError(503, 'UNAVAILABLE', 'fake outage'));
    if (failure !== undefined) return failConnection(failure, response);
    if (request.headers.authorization !== `Bearer ${FAKE_ACCESS_TOKEN}`) {
      return sendJson(
        response,
        401,
        googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.'),
      );
    }
    const match = request.method === 'GET' ? access.exec(request.path) : null;
    if (match === null)
      return sendJson(response, 404, googleError(404, 'NOT_FOUND', 'only AccessSecretVersion is faked'));
    const [, secretName = '', versionId = '', accessCall] = match;
    const stored = versions.get(secretName) ?? [];
    const number = versionId === 'latest' ? stored.length : Number(versionId);
    const version = stored[number - 1];
    if (version === undefined) {
      return sendJson(
        response,
        404,
        googleError(404, 'NOT_FOUND', `Secret Version [${secretName}/versions/${versionId}] not found.`),
      );
    }
    if (accessCall === undefined) {
      // GetSecretVersion: the version's metadata, which needs secretmanager.versions.get.
      if (version.denyGet)
        return sendJson(
          response,
          403,
          googleError(403, 'PERMISSION_DENIED', "Permission 'secretmanager.versions.get' denied"),
        );
      return sendJson(response, 200, {
        name: `${secretName}/versions/${number}`,
        createTime: version.createTime,
        state: 'ENABLED',
      });
    }
    sendJson(response, 200, {
      name: `${secretName}/versions/${number}`,
      payload: {
        data: version.data.toString('base64'),
        dataCrc32c: String((crc32c(version.data) ^ (version.wrongChecksum ? 1 : 0)) >>> 0),
      },
    });
  });
  return {
    ...server,
    failures,
    addVersion(
      secretName,
      value,
      { wrongChecksum = false, createTime = new Date().toISOString(), denyGet = false } = {},
    ) {
      const stored = versions.get(secretName) ?? [];
      stored.push({ data: Buffer.from(value, 'utf8'), wrongChecksum, createTime, denyGet });
      versions.set(secretName, stored);
      return `${secretName}/versions/${stored.length}`;
    },
    bearerTokens: () =>
      server.requests.flatMap((request) =>
        request.headers.authorization?.startsWith('Bearer ') ? [request.headers.authorization.slice(7)] : [],
      ),
  };
}
