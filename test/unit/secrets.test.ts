import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keyToBase64 } from '../../agent/crypto/keys';
import {
  fetchWithRetry,
  parseWireGuardKey,
  SecretAccessError,
  secretSource,
  type RetryOptions,
  type SecretSource,
} from '../../agent/secrets';
import { crc32c } from '../../agent/secrets/gcp';
import {
  FAKE_ROLE,
  startFakeImds,
  startFakeSecretsManager,
  type FailureSwitch,
  type FakeSecretsManager,
  type LoopbackServer,
} from '../support/fake-aws';
import {
  FAKE_ACCESS_TOKEN,
  startFakeGceMetadata,
  startFakeSecretManager,
  type FakeSecretManager,
} from '../support/fake-gcp';

// The real GCP client with Node's built-in fetch under Jest (see the helper).
jest.mock('gaxios', () =>
  (require('../support/gaxios-fetch') as typeof import('../support/gaxios-fetch')).builtInFetchGaxios(),
);

const REGION = 'eu-west-1';
const savedEnv = { ...process.env };

afterAll(() => {
  process.env = savedEnv;
});

/** A fresh key per test, so a leak check cannot pass by accident. */
function newKey(): string {
  return keyToBase64(randomBytes(32));
}

/**
 * Awaits a rejection, checks it is a SecretAccessError, and that none of the given secrets (nor
 * their base64) appears in any rendering of it: message, stack, String() and JSON.
 */
async function expectSecretAccessError(promise: Promise<unknown>, ...secrets: string[]): Promise<SecretAccessError> {
  const error: unknown = await promise.then(
    () => undefined,
    (rejection: unknown) => rejection,
  );
  expect(error).toBeInstanceOf(SecretAccessError);
  const accessError = error as SecretAccessError;
  const renderings = [String(error), JSON.stringify(error), accessError.message, accessError.stack ?? ''];
  for (const secret of secrets) {
    for (const rendering of renderings) {
      expect(rendering).not.toContain(secret);
      expect(rendering).not.toContain(Buffer.from(secret).toString('base64'));
    }
  }
  return accessError;
}

type RecordedRetry = { message: string; attempt: number; delayMs: number };

/** Retry options with small delays, recording every reported retry. */
function retryRecorder(attempts: number): RetryOptions & { retries: RecordedRetry[] } {
  const retries: RecordedRetry[] = [];
  return {
    attempts,
    baseDelayMs: 20,
    maxDelayMs: 50,
    retries,
    onRetry: (error, attempt, delayMs) => retries.push({ message: error.message, attempt, delayMs }),
  };
}

describe('AWS Secrets Manager through the real SDK with IMDSv2 credentials', () => {
  let imds: LoopbackServer & { token: string };
  let store: FakeSecretsManager;
  let scratch: string;

  beforeAll(async () => {
    imds = await startFakeImds();
    store = await startFakeSecretsManager(REGION);
    scratch = await mkdtemp(join(tmpdir(), 'wiremesh-aws-'));
    // Only the instance metadata link of the default chain may answer.
    for (const name of Object.keys(process.env)) {
      if (name.startsWith('AWS_')) delete process.env[name];
    }
    process.env['AWS_CONFIG_FILE'] = join(scratch, 'no-config');
    process.env['AWS_SHARED_CREDENTIALS_FILE'] = join(scratch, 'no-credentials');
    process.env['AWS_EC2_METADATA_SERVICE_ENDPOINT'] = imds.url;
  });

  afterAll(async () => {
    await Promise.all([imds.close(), store.close(), rm(scratch, { recursive: true, force: true })]);
  });

  beforeEach(() => {
    imds.requests.length = 0;
    store.requests.length = 0;
  });

  /** A plain secret name needs the region; an ARN carries it. */
  function awsSource(
    secretId: string,
    { withRegion = true, versionStage }: { withRegion?: boolean; versionStage?: string } = {},
  ): SecretSource {
    const region = withRegion ? REGION : undefined;
    return secretSource(
      { source: 'aws-secrets-manager', secretId, region, versionStage, endpoint: store.url },
      { requestTimeoutMs: 500 },
    );
  }

  test('fetches a key signed with the role credentials from IMDSv2, region taken from the ARN', async () => {
    const key = newKey();
    const arn = store.putSecret('wiremesh/site-a/private-key', `${key}\n`, 'version-1');
    const source = awsSource(arn, { withRegion: false });

    const secret = await source.fetch();

    expect(parseWireGuardKey(secret, 'the private key')).toEqual(Buffer.from(key, 'base64'));
    expect(secret.version).toBe('version-1');
    expect(source.description).toBe(`AWS Secrets Manager secret ${arn}`);

    const [tokenRequest, ...metadataGets] = imds.requests;
    expect(tokenRequest).toMatchObject({ method: 'PUT', path: '/latest/api/token' });
    expect(Number(tokenRequest?.headers['x-aws-ec2-metadata-token-ttl-seconds'])).toBeGreaterThan(0);
    expect(metadataGets.map((request) => `${request.method} ${request.path}`)).toEqual([
      'GET /latest/meta-data/iam/security-credentials/',
      `GET /latest/meta-data/iam/security-credentials/${FAKE_ROLE.name}`,
    ]);
    for (const request of metadataGets) expect(request.headers['x-aws-ec2-metadata-token']).toBe(imds.token);

    const [call] = store.requests;
    expect(call?.headers['x-amz-target']).toBe('secretsmanager.GetSecretValue');
    expect(JSON.parse(call?.body ?? '{}')).toEqual({ SecretId: arn });
    expect(call?.headers.authorization).toMatch(
      new RegExp(`^AWS4-HMAC-SHA256 Credential=${FAKE_ROLE.accessKeyId}/\\d{8}/${REGION}/secretsmanager/aws4_request,`),
    );
    expect(call?.headers['x-amz-security-token']).toBe(FAKE_ROLE.sessionToken);
  });

  test('fetches a SecretBinary value at the requested version stage', async () => {
    const key = randomBytes(32);
    store.putSecret('wiremesh/site-a/psk', key, 'version-2');

    const secret = await awsSource('wiremesh/site-a/psk', { versionStage: 'AWSPENDING' }).fetch();

    // CreatedDate is the version's creation: the key's age (wiremesh_key_age_seconds) counts from it.
    expect(secret).toEqual({ value: key, version: 'version-2', createdAtUnixMs: 1_700_000_000_000 });
    expect(JSON.parse(store.requests[0]?.body ?? '{}')).toEqual({
      SecretId: 'wiremesh/site-a/psk',
      VersionStage: 'AWSPENDING',
    });
  });

  test('asks for the exact version a key rotation names (versionId)', async () => {
    const key = newKey();
    store.putSecret('wiremesh/site-a/private-key', key, 'version-7');

    const source = secretSource(
      {
        source: 'aws-secrets-manager',
        secretId: 'wiremesh/site-a/private-key',
        region: REGION,
        versionId: 'version-7',
        endpoint: store.url,
      },
      { requestTimeoutMs: 500 },
    );

    expect((await source.fetch()).version).toBe('version-7');
    expect(source.description).toBe('AWS Secrets Manager secret wiremesh/site-a/private-key version version-7');
    expect(JSON.parse(store.requests[0]?.body ?? '{}')).toEqual({
      SecretId: 'wiremesh/site-a/private-key',
      VersionId: 'version-7',
    });
  });

  test('a missing secret is not retried, and the error names the secret and the failure class', async () => {
    const retry = retryRecorder(5);
    const error = await expectSecretAccessError(fetchWithRetry(awsSource('wiremesh/missing'), retry));

    expect(error.retryable).toBe(false);
    expect(error.message).toBe('AWS Secrets Manager secret wiremesh/missing: ResourceNotFoundException (HTTP 400)');
    expect(store.requests).toHaveLength(1);
    expect(retry.retries).toEqual([]);
  });

  test('a plain secret name without a region is a configuration error, not retried', async () => {
    const error = await expectSecretAccessError(
      fetchWithRetry(awsSource('wiremesh/anything', { withRegion: false }), retryRecorder(5)),
    );

    expect(error.retryable).toBe(false);
    expect(error.message).toBe(
      'AWS Secrets Manager secret wiremesh/anything: no region configured (give a region or an ARN, or set AWS_REGION)',
    );
    expect(store.requests).toHaveLength(0);
  });

  test('transient 500s are retried with growing, bounded delays until the fetch succeeds', async () => {
    const key = newKey();
    store.putSecret('wiremesh/flaky', key, 'version-7');
    store.failures.failNext(3, 'status-500');
    const retry = retryRecorder(5);

    const secret = await fetchWithRetry(awsSource('wiremesh/flaky'), retry);

    expect(secret.value.toString()).toBe(key);
    expect(store.requests).toHaveLength(4);
    expect(retry.retries.map(({ attempt }) => attempt)).toEqual([1, 2, 3]);
    // Doubling from 20 ms, capped at 50 ms, each delay drawn from the upper half of its ceiling.
    const ceilings = [20, 40, 50];
    retry.retries.forEach(({ delayMs, message }, index) => {
      expect(delayMs).toBeGreaterThanOrEqual((ceilings[index] as number) / 2);
      expect(delayMs).toBeLessThanOrEqual(ceilings[index] as number);
      expect(message).toBe('AWS Secrets Manager secret wiremesh/flaky: InternalServiceError (HTTP 500)');
    });
  });

  test('a dropped connection and an unanswered request are retryable failures', async () => {
    const key = newKey();
    store.putSecret('wiremesh/unreachable', key, 'version-1');
    const source = awsSource('wiremesh/unreachable');

    store.failures.failNext(1, 'close');
    const dropped = await expectSecretAccessError(source.fetch(), key);
    expect(dropped.retryable).toBe(true);
    expect(dropped.message).toBe('AWS Secrets Manager secret wiremesh/unreachable: no answer from the service');

    store.failures.failNext(1, 'hang');
    const unanswered = await expectSecretAccessError(source.fetch(), key);
    expect(unanswered.retryable).toBe(true);
    expect(unanswered.message).toBe(
      'AWS Secrets Manager secret wiremesh/unreachable: no answer from the service (TimeoutError ETIMEDOUT)',
    );

    expect((await source.fetch()).value.toString()).toBe(key);
  });

  test('gives up after the configured attempts with an error that says so', async () => {
    const key = newKey();
    store.putSecret('wiremesh/down', key, 'version-1');
    store.failures.failNext(3, 'status-500');
    const retry = retryRecorder(3);

    const error = await expectSecretAccessError(fetchWithRetry(awsSource('wiremesh/down'), retry), key);

    expect(error.retryable).toBe(true);
    expect(error.message).toBe(
      'gave up after 3 attempts: AWS Secrets Manager secret wiremesh/down: InternalServiceError (HTTP 500)',
    );
    expect(retry.retries).toHaveLength(2);
  });

  test('an unreachable metadata service is a retryable credentials failure', async () => {
    const closedImds = await startFakeImds();
    await closedImds.close();
    process.env['AWS_EC2_METADATA_SERVICE_ENDPOINT'] = closedImds.url;
    try {
      const error = await expectSecretAccessError(awsSource('wiremesh/anything').fetch());
      expect(error.retryable).toBe(true);
      expect(error.message).toBe(
        'AWS Secrets Manager secret wiremesh/anything: no AWS credentials could be obtained (CredentialsProviderError)',
      );
      expect(store.requests).toHaveLength(0);
    } finally {
      process.env['AWS_EC2_METADATA_SERVICE_ENDPOINT'] = imds.url;
    }
  });
});

describe('GCP Secret Manager through the real client (REST transport) with a metadata server token', () => {
  let metadata: LoopbackServer & { failures: FailureSwitch };
  let store: FakeSecretManager;
  let scratch: string;

  beforeAll(async () => {
    metadata = await startFakeGceMetadata();
    store = await startFakeSecretManager();
    scratch = await mkdtemp(join(tmpdir(), 'wiremesh-gcp-'));
    // Application Default Credentials must come from the metadata server alone.
    delete process.env['GOOGLE_APPLICATION_CREDENTIALS'];
    delete process.env['GOOGLE_SDK_NODE_LOGGING'];
    process.env['CLOUDSDK_CONFIG'] = join(scratch, 'no-gcloud-config');
    process.env['GCE_METADATA_HOST'] = new URL(metadata.url).host;
  });

  afterAll(async () => {
    await Promise.all([metadata.close(), store.close(), rm(scratch, { recursive: true, force: true })]);
  });

  beforeEach(() => {
    metadata.requests.length = 0;
    store.requests.length = 0;
  });

  function gcpSource(name: string): SecretSource {
    return secretSource({ source: 'gcp-secret-manager', name, endpoint: store.url }, { requestTimeoutMs: 500 });
  }

  test('fetches the latest version with the bearer token from the metadata server', async () => {
    const key = newKey();
    store.addVersion('projects/wiremesh-test/secrets/site-b-key', newKey());
    const latest = store.addVersion('projects/wiremesh-test/secrets/site-b-key', key);
    const source = gcpSource('projects/wiremesh-test/secrets/site-b-key');

    const secret = await source.fetch();

    expect(parseWireGuardKey(secret, 'the private key')).toEqual(Buffer.from(key, 'base64'));
    expect(secret.version).toBe(latest);
    expect(source.description).toBe(
      'GCP Secret Manager secret projects/wiremesh-test/secrets/site-b-key/versions/latest',
    );
    expect(store.requests.map((request) => `${request.method} ${request.path.split('?')[0]}`)).toEqual([
      'GET /v1/projects/wiremesh-test/secrets/site-b-key/versions/latest:access',
    ]);
    expect(store.bearerTokens()).toEqual([FAKE_ACCESS_TOKEN]);
    const tokenRequests = metadata.requests.filter((request) =>
      request.path.startsWith('/computeMetadata/v1/instance/service-accounts/default/token'),
    );
    expect(tokenRequests).toHaveLength(1);
    expect(tokenRequests[0]?.headers['metadata-flavor']).toBe('Google');
  });

  test('fetches a pinned version', async () => {
    const pinned = store.addVersion('projects/wiremesh-test/secrets/site-c-key', 'first');
    store.addVersion('projects/wiremesh-test/secrets/site-c-key', 'second');

    const secret = await gcpSource(pinned).fetch();

    expect(secret).toEqual({ value: Buffer.from('first'), version: pinned });
  });

  test("reads a version's createTime (the key's age), which AccessSecretVersion does not return", async () => {
    const version = store.addVersion('projects/wiremesh-test/secrets/aged-key', newKey(), {
      createTime: '2026-01-02T03:04:05.678Z',
    });
    const source = gcpSource('projects/wiremesh-test/secrets/aged-key');
    const secret = await source.fetch();
    expect(secret.createdAtUnixMs).toBeUndefined();

    expect(await source.createdAt!(secret)).toBe(Date.parse('2026-01-02T03:04:05.678Z'));
    expect(store.requests.map((request) => `${request.method} ${request.path.split('?')[0]}`)).toEqual([
      'GET /v1/projects/wiremesh-test/secrets/aged-key/versions/latest:access',
      `GET /v1/${version}`,
    ]);
  });

  test('a createTime it may not read (no secretmanager.versions.get) is an error naming the version, not the value', async () => {
    const key = newKey();
    store.addVersion('projects/wiremesh-test/secrets/unreadable-age', key, { denyGet: true });
    const source = gcpSource('projects/wiremesh-test/secrets/unreadable-age');
    const secret = await source.fetch();
    const error = await expectSecretAccessError(source.createdAt!(secret), key);
    expect(error.message).toBe(
      'GCP Secret Manager secret projects/wiremesh-test/secrets/unreadable-age/versions/1: its createTime could not be read: PERMISSION_DENIED (gRPC status 7)',
    );
  });

  test('a missing secret is not retried', async () => {
    const retry = retryRecorder(5);
    const error = await expectSecretAccessError(
      fetchWithRetry(gcpSource('projects/wiremesh-test/secrets/missing'), retry),
    );

    expect(error.retryable).toBe(false);
    expect(error.message).toBe(
      'GCP Secret Manager secret projects/wiremesh-test/secrets/missing/versions/latest: NOT_FOUND (gRPC status 5)',
    );
    expect(store.requests).toHaveLength(1);
    expect(retry.retries).toEqual([]);
  });

  test('transient 503s, an unanswered request and a dropped connection are retryable', async () => {
    const key = newKey();
    store.addVersion('projects/wiremesh-test/secrets/flaky', key);
    const source = gcpSource('projects/wiremesh-test/secrets/flaky');
    const failure = (what: string) =>
      `GCP Secret Manager secret projects/wiremesh-test/secrets/flaky/versions/latest: ${what}`;

    store.failures.failNext(2, 'status-500');
    const retry = retryRecorder(5);
    expect((await fetchWithRetry(source, retry)).value.toString()).toBe(key);
    expect(retry.retries.map(({ message }) => message)).toEqual([
      failure('UNAVAILABLE (gRPC status 14)'),
      failure('UNAVAILABLE (gRPC status 14)'),
    ]);

    store.failures.failNext(1, 'hang');
    const unanswered = await expectSecretAccessError(source.fetch(), key);
    expect(unanswered).toMatchObject({ retryable: true, message: failure('DEADLINE_EXCEEDED (gRPC status 4)') });

    store.failures.failNext(1, 'close');
    const dropped = await expectSecretAccessError(source.fetch(), key);
    expect(dropped).toMatchObject({ retryable: true, message: failure('UNAVAILABLE (gRPC status 14)') });
  });

  test('a payload that fails its CRC-32C check is refused as retryable, without echoing it', async () => {
    const key = newKey();
    store.addVersion('projects/wiremesh-test/secrets/corrupted', key, { wrongChecksum: true });

    const error = await expectSecretAccessError(gcpSource('projects/wiremesh-test/secrets/corrupted').fetch(), key);

    expect(error).toMatchObject({ retryable: true });
    expect(error.message).toBe(
      'GCP Secret Manager secret projects/wiremesh-test/secrets/corrupted/versions/latest: the payload does not match its CRC32C checksum',
    );
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });

  test('a failing token endpoint is a retryable failure, and a later try gets a token', async () => {
    const key = newKey();
    store.addVersion('projects/wiremesh-test/secrets/token-outage', key);
    // More failures than gcp-metadata's own retries of the token request absorb.
    metadata.failures.failNext(4, 'status-500');
    const retry = retryRecorder(5);

    expect(
      (await fetchWithRetry(gcpSource('projects/wiremesh-test/secrets/token-outage'), retry)).value.toString(),
    ).toBe(key);
    expect(retry.retries.length).toBeGreaterThanOrEqual(1);
    expect(retry.retries[0]?.message).toMatch(
      /^GCP Secret Manager secret projects\/wiremesh-test\/secrets\/token-outage\/versions\/latest: /,
    );
  });

  test('no credentials at all is a retryable failure that neither crashes the process nor sticks', async () => {
    const key = newKey();
    store.addVersion('projects/wiremesh-test/secrets/no-credentials', key);
    const source = gcpSource('projects/wiremesh-test/secrets/no-credentials');
    // As off GCP: google-auth-library finds no metadata server, so no credentials.
    process.env['METADATA_SERVER_DETECTION'] = 'none';
    try {
      const error = await expectSecretAccessError(source.fetch(), key);
      expect(error).toMatchObject({ retryable: true });
      expect(error.message).toBe(
        'GCP Secret Manager secret projects/wiremesh-test/secrets/no-credentials/versions/latest: no GCP credentials could be obtained',
      );
      expect(store.requests).toHaveLength(0);
    } finally {
      delete process.env['METADATA_SERVER_DETECTION'];
    }

    expect((await source.fetch()).value.toString()).toBe(key);
  });

  test('refuses to run while the client would log responses', () => {
    process.env['GOOGLE_SDK_NODE_LOGGING'] = 'all';
    try {
      expect(() => gcpSource('projects/wiremesh-test/secrets/any')).toThrow(
        new SecretAccessError(
          'GCP Secret Manager secret projects/wiremesh-test/secrets/any/versions/latest: refusing to run with GOOGLE_SDK_NODE_LOGGING set, as it would log the secret',
          false,
        ),
      );
    } finally {
      delete process.env['GOOGLE_SDK_NODE_LOGGING'];
    }
  });
});

describe('local key files', () => {
  let scratch: string;
  const ownUid = process.getuid?.() ?? 0;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'wiremesh-file-'));
  });

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  async function keyFile(name: string, content: string, mode: number): Promise<string> {
    const path = join(scratch, name);
    await writeFile(path, content);
    await chmod(path, mode);
    return path;
  }

  test('accepts a 0600 file owned by the required uid, with a version that changes with the file', async () => {
    const key = newKey();
    const path = await keyFile('good.key', `${key}\n`, 0o600);
    // Root by default; a run as another user must require its own uid.
    const source = secretSource({ source: 'file', path }, { fileOwnerUid: ownUid });

    const first = await source.fetch();
    expect(parseWireGuardKey(first, 'the private key')).toEqual(Buffer.from(key, 'base64'));
    expect(source.description).toBe(`file ${path}`);

    // Rotated the usual way: a new file renamed over the old one.
    await keyFile('good.key.new', `${newKey()}\n`, 0o600);
    await rename(`${path}.new`, path);
    const second = await source.fetch();
    expect(second.version).not.toBe(first.version);
    // A file key is as old as the file's last write.
    const { mtimeMs } = await stat(path);
    expect(second.createdAtUnixMs).toBe(Math.floor(mtimeMs));
  });

  test('refuses a file readable by group or others, without echoing its content', async () => {
    const key = newKey();
    const path = await keyFile('loose.key', key, 0o644);

    const error = await expectSecretAccessError(
      secretSource({ source: 'file', path }, { fileOwnerUid: ownUid }).fetch(),
      key,
    );

    expect(error.retryable).toBe(false);
    expect(error.message).toBe(
      `file ${path} has mode 0644: a key file must not be accessible to group or others (chmod 600)`,
    );
  });

  test('refuses a file owned by another uid, without echoing its content', async () => {
    const key = newKey();
    const path = await keyFile('foreign.key', key, 0o600);
    // As root, hand the file to nobody; as anyone else the file is already not root's.
    const ownerUid = ownUid === 0 ? 65534 : ownUid;
    if (ownUid === 0) await chown(path, ownerUid, 65534);

    const error = await expectSecretAccessError(secretSource({ source: 'file', path }).fetch(), key);

    expect(error.retryable).toBe(false);
    expect(error.message).toBe(`file ${path} is owned by uid ${ownerUid}: a key file must be owned by uid 0`);
  });

  test('a missing file is a permanent failure naming the path', async () => {
    const path = join(scratch, 'absent.key');
    const error = await expectSecretAccessError(secretSource({ source: 'file', path }).fetch());

    expect(error).toMatchObject({ retryable: false, message: `file ${path} could not be read (ENOENT)` });
  });
});

describe('parseWireGuardKey', () => {
  test('accepts base64 with surrounding whitespace', () => {
    const key = newKey();
    expect(parseWireGuardKey({ value: Buffer.from(`  ${key}\r\n`), version: 'v1' }, 'the private key')).toEqual(
      Buffer.from(key, 'base64'),
    );
  });

  test.each([
    ['a truncated key', newKey().slice(0, 40)],
    ['a JSON document', JSON.stringify({ privateKey: newKey() })],
    ['a hex key', randomBytes(32).toString('hex')],
  ])('refuses %s, naming what it is for but not the content', async (_, content) => {
    const parsing = Promise.resolve().then(() =>
      parseWireGuardKey({ value: Buffer.from(content), version: 'v3' }, 'the preshared key for peer site-b'),
    );

    const error = await expectSecretAccessError(parsing, content);

    expect(error.retryable).toBe(false);
    expect(error.message).toBe(
      'the preshared key for peer site-b (version v3) is not a WireGuard key: a key must be 32 bytes in base64 (44 characters ending in "=")',
    );
  });
});
