/**
 * Loopback fakes of AWS Secrets Manager (the awsJson1_1 GetSecretValue subset) and of the EC2
 * instance metadata service (IMDSv2 only: every GET needs the session token). Both record every
 * request so tests can check how the real SDK authenticated.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readRequest, sendJson, type LabRequest } from '../../lab/boot/services/http';

export { sendJson };

/** What the fakes record: the lab's buffered request (tests read method, path, headers and body). */
export type RecordedRequest = LabRequest;

export interface LoopbackServer {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

/** Starts an HTTP server on 127.0.0.1 port 0 that records each request before handling it. The GCP fake uses it too. */
export async function startLoopbackServer(
  handle: (request: RecordedRequest, response: ServerResponse) => void,
): Promise<LoopbackServer> {
  const requests: RecordedRequest[] = [];
  const server = createServer((incoming, response) => {
    readRequest(incoming).then(
      (request) => {
        requests.push(request);
        handle(request, response);
      },
      () => response.destroy(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve, reject) => {
        // Hung and kept-alive connections would otherwise hold close() open.
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** How the next requests fail: a 500 answer, a connection closed without an answer, or no answer at all. */
export type FailureMode = 'status-500' | 'close' | 'hang';

/** Fails the next `count` requests in `mode`, then lets them through; shared by both fakes. */
export class FailureSwitch {
  private remaining = 0;
  private mode: FailureMode = 'status-500';

  failNext(count: number, mode: FailureMode): void {
    this.remaining = count;
    this.mode = mode;
  }

  /** Returns the failure to apply to this request, if any. */
  take(): FailureMode | undefined {
    if (this.remaining === 0) return undefined;
    this.remaining--;
    return this.mode;
  }
}

/** Applies a failure mode except status-500, whose body depends on the protocol. */
export function failConnection(mode: 'close' | 'hang', response: ServerResponse): void {
  if (mode === 'close') response.socket?.destroy();
  // 'hang': answer nothing; close() ends the connection.
}

export const FAKE_ROLE = {
  name: 'wiremesh-agent-role',
  accessKeyId: 'ASIAFAKEWIREMESHROLE',
  secretAccessKey: 'fake-secret-access-key-for-tests-only',
  sessionToken: 'fake-session-token-for-tests-only',
};

const FAKE_ACCOUNT = '123456789012';

export interface FakeSecretsManager extends LoopbackServer {
  readonly failures: FailureSwitch;
  /** Stores a secret under its name, a string as SecretString, bytes as SecretBinary; returns its ARN. */
  putSecret(name: string, value: string | Buffer, versionId: string): string;
}

export async function startFakeSecretsManager(region = 'eu-west-1'): Promise<FakeSecretsManager> {
  const secrets = new Map<string, { arn: string; name: string; value: string | Buffer; versionId: string }>();
  const failures = new FailureSwitch();
  const server = await startLoopbackServer((request, response) => {
    const failure = failures.take();
    if (failure === 'status-500') {
      return sendJson(response, 500, { __type: 'InternalServiceError', message: 'fake outage' });
    }
    if (failure !== undefined) return failConnection(failure, response);
    if (request.method !== 'POST' || request.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue') {
      return sendJson(response, 400, { __type: 'InvalidRequestException', message: 'only GetSecretValue is faked' });
    }
    const { SecretId } = JSON.parse(request.body) as { SecretId: string; VersionStage?: string };
    const secret = [...secrets.values()].find((candidate) => candidate.arn === SecretId || candidate.name === SecretId);
    if (secret === undefined) {
      return sendJson(response, 400, {
        __type: 'ResourceNotFoundException',
        message: "Secrets Manager can't find the specified secret.",
      });
    }
    sendJson(response, 200, {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: secret.versionId,
      ...(typeof secret.value === 'string'
        ? { SecretString: secret.value }
        : { SecretBinary: secret.value.toString('base64') }),
      VersionStages: ['AWSCURRENT'],
      CreatedDate: 1_700_000_000,
    });
  });
  return {
    ...server,
    failures,
    putSecret(name, value, versionId) {
      const arn = `arn:aws:secretsmanager:${region}:${FAKE_ACCOUNT}:secret:${name}-AbCdEf`;
      secrets.set(name, { arn, name, value, versionId });
      return arn;
    },
  };
}

/** IMDSv2: PUT /latest/api/token issues a session token that both credential GETs must carry. */
export async function startFakeImds(): Promise<LoopbackServer & { readonly token: string }> {
  const token = 'fake-imds-session-token';
  const credentialsPath = '/latest/meta-data/iam/security-credentials/';
  const server = await startLoopbackServer((request, response) => {
    const text = (status: number, body: string) => {
      response.writeHead(status, { 'content-type': 'text/plain' });
      response.end(body);
    };
    if (request.method === 'PUT' && request.path === '/latest/api/token') {
      if (!request.headers['x-aws-ec2-metadata-token-ttl-seconds']) return text(400, 'missing TTL header');
      return text(200, token);
    }
    if (request.method !== 'GET') return text(405, 'method not allowed');
    if (request.headers['x-aws-ec2-metadata-token'] !== token) return text(401, 'IMDSv2 token required');
    if (request.path === credentialsPath) return text(200, FAKE_ROLE.name);
    if (request.path === credentialsPath + FAKE_ROLE.name) {
      return sendJson(response, 200, {
        Code: 'Success',
        LastUpdated: new Date().toISOString(),
        Type: 'AWS-HMAC',
        AccessKeyId: FAKE_ROLE.accessKeyId,
        SecretAccessKey: FAKE_ROLE.secretAccessKey,
        Token: FAKE_ROLE.sessionToken,
        Expiration: new Date(Date.now() + 6 * 3600_000).toISOString(),
      });
    }
    text(404, 'not found');
  });
  return { ...server, token };
}
