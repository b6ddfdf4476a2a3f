/**
 * The rolling replacement's health gate (components/health-gate.ts): its provider through the real
 * AWS SDK clients and google-auth-library against loopback fakes, and its serialized text run on
 * its own in a child Node process (as the engine's dynamic-provider host runs it).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { healthGateProvider, targetHealthObservation, type HealthGateInputs } from '../../components/health-gate';
import type { LoopbackServer, FailureSwitch } from '../support/fake-aws';
import { startFakeGceMetadata } from '../support/fake-gcp';
import {
  FAKE_DEPLOYER,
  startFakeAwsHealthApis,
  startFakeGcpHealthApi,
  type FakeAwsHealthApis,
  type FakeGcpHealthApi,
} from '../support/fake-health-apis';

jest.mock('gaxios', () =>
  (require('../support/gaxios-fetch') as typeof import('../support/gaxios-fetch')).builtInFetchGaxios(),
);

const TARGET_GROUP = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/site-a-tg/0123456789abcdef';
const savedEnv = { ...process.env };
let aws: FakeAwsHealthApis;

beforeAll(async () => {
  aws = await startFakeAwsHealthApis();
  // The deployer's credentials, as the SDK's default chain finds them.
  process.env['AWS_ACCESS_KEY_ID'] = FAKE_DEPLOYER.accessKeyId;
  process.env['AWS_SECRET_ACCESS_KEY'] = FAKE_DEPLOYER.secretAccessKey;
  process.env['AWS_SESSION_TOKEN'] = FAKE_DEPLOYER.sessionToken;
  delete process.env['AWS_PROFILE'];
});

afterAll(async () => {
  process.env = savedEnv;
  await aws.close();
});

beforeEach(() => {
  aws.requests.length = 0;
});

function targetGate(
  instanceId: string,
  overrides: Partial<HealthGateInputs> = {},
  standbyAnswers = false,
): HealthGateInputs {
  return {
    label: 'site-a-gateway-instance-1',
    check: {
      kind: 'aws-target-health',
      region: 'eu-west-1',
      instanceId,
      targetGroupArn: TARGET_GROUP,
      port: 51820,
      standbyAnswers,
      endpoint: aws.url,
    },
    timeoutSeconds: 5,
    pollSeconds: 0.02,
    ...overrides,
  };
}

/** Everything a failed gate produced: its message and what it wrote to the console. */
async function failure(promise: Promise<unknown>): Promise<string> {
  const written: string[] = [];
  const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((method) =>
    jest
      .spyOn(console, method)
      .mockImplementation((...args: unknown[]) => void written.push(args.map(String).join(' '))),
  );
  try {
    await promise;
    throw new Error('the gate did not fail');
  } catch (error) {
    return `${(error as Error).message}\n${written.join('\n')}`;
  } finally {
    spies.forEach((spy) => spy.mockRestore());
  }
}

function expectNoCredentials(text: string): void {
  expect(text).not.toContain(FAKE_DEPLOYER.secretAccessKey);
  expect(text).not.toContain(FAKE_DEPLOYER.sessionToken);
}

describe('AWS: ELBv2 target health', () => {
  test('create waits through initial and unhealthy until the target is healthy', async () => {
    aws.scriptTarget('i-0aaa', [
      { State: 'initial', Reason: 'Elb.RegistrationInProgress' },
      { State: 'unhealthy', Reason: 'Target.Timeout' },
      { State: 'healthy' },
    ]);
    const { id, outs } = await healthGateProvider.create(targetGate('i-0aaa'));
    expect(id).toBe('health-gate-i-0aaa');
    expect(Date.parse(outs!.servingAt)).not.toBeNaN();
    expect(aws.actions()).toEqual(['DescribeTargetHealth', 'DescribeTargetHealth', 'DescribeTargetHealth']);
    // SigV4 with the deployer's key, for the ELB service of the instance's region.
    expect(aws.requests[0]!.headers.authorization).toMatch(
      new RegExp(
        `^AWS4-HMAC-SHA256 Credential=${FAKE_DEPLOYER.accessKeyId}/\\d{8}/eu-west-1/elasticloadbalancing/aws4_request`,
      ),
    );
    const body = new URLSearchParams(aws.requests[0]!.body);
    expect(body.get('TargetGroupArn')).toBe(TARGET_GROUP);
    expect(body.get('Targets.member.1.Port')).toBe('51820');
  });

  test('a target that never registers times out with a message naming the instance', async () => {
    const text = await failure(healthGateProvider.create(targetGate('i-0never', { timeoutSeconds: 0.3 })));
    expect(text).toContain('instance i-0never (site-a-gateway-instance-1)');
    expect(text).toContain(TARGET_GROUP);
    expect(text).toContain('did not serve within 0.3 s (last seen: target unused (Target.NotRegistered))');
    expect(text).toContain('the instances after it are not replaced');
    expectNoCredentials(text);
  });

  test("a failover standby's 503 to GET /active counts only when the gate accepts standbys", async () => {
    const standby = { State: 'unhealthy', Reason: 'Target.ResponseCodeMismatch' };
    aws.scriptTarget('i-0standby', [standby]);
    await expect(healthGateProvider.create(targetGate('i-0standby', {}, true))).resolves.toMatchObject({
      id: 'health-gate-i-0standby',
    });
    const text = await failure(healthGateProvider.create(targetGate('i-0standby', { timeoutSeconds: 0.2 }, false)));
    expect(text).toContain('last seen: target unhealthy (Target.ResponseCodeMismatch)');
    // A standby that does not answer at all is not serving either way.
    expect(targetHealthObservation({ State: 'unhealthy', Reason: 'Target.Timeout' }, true).serving).toBe(false);
  });

  test('a denied call fails at once, naming the error, never the credentials', async () => {
    aws.scriptTarget('i-0denied', [{ error: 'AccessDenied', status: 403 }]);
    const started = Date.now();
    const text = await failure(healthGateProvider.create(targetGate('i-0denied', { timeoutSeconds: 30 })));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(text).toContain('instance i-0denied (site-a-gateway-instance-1)');
    expect(text).toMatch(/cannot be checked: AccessDenied \(HTTP 403\): fake AccessDenied/);
    expectNoCredentials(text);
    expect(aws.actions()).toEqual(['DescribeTargetHealth']);
  });

  test('a throttled or failing service is retried until the deadline', async () => {
    aws.scriptTarget('i-0flaky', [
      { error: 'Throttling', status: 400 },
      { error: 'InternalFailure', status: 500 },
      { State: 'healthy' },
    ]);
    await expect(healthGateProvider.create(targetGate('i-0flaky'))).resolves.toMatchObject({
      id: 'health-gate-i-0flaky',
    });
    expect(aws.actions()).toHaveLength(3);
  });
});

describe('AWS: EC2 instance status checks', () => {
  const statusGate = (instanceId: string, timeoutSeconds = 5): HealthGateInputs => ({
    label: 'site-a-gateway-instance-2',
    check: { kind: 'aws-instance-status', region: 'eu-west-1', instanceId, endpoint: aws.url },
    timeoutSeconds,
    pollSeconds: 0.02,
  });

  test('waits until running with both status checks ok', async () => {
    aws.scriptInstance('i-0boot', [
      { state: 'pending' },
      { state: 'running', instanceStatus: 'initializing', systemStatus: 'ok' },
      { state: 'running', instanceStatus: 'ok', systemStatus: 'ok' },
    ]);
    await expect(healthGateProvider.create(statusGate('i-0boot'))).resolves.toMatchObject({
      id: 'health-gate-i-0boot',
    });
    expect(aws.actions()).toEqual(['DescribeInstanceStatus', 'DescribeInstanceStatus', 'DescribeInstanceStatus']);
    const body = new URLSearchParams(aws.requests[0]!.body);
    expect(body.get('InstanceId.1')).toBe('i-0boot');
    expect(body.get('IncludeAllInstances')).toBe('true');
  });

  test('a terminated instance fails at once; an impaired one times out naming it', async () => {
    aws.scriptInstance('i-0gone', [
      { state: 'terminated', instanceStatus: 'not-applicable', systemStatus: 'not-applicable' },
    ]);
    expect(await failure(healthGateProvider.create(statusGate('i-0gone', 30)))).toContain(
      'instance i-0gone (site-a-gateway-instance-2) will not serve: instance terminated',
    );
    aws.scriptInstance('i-0sick', [{ state: 'running', instanceStatus: 'impaired', systemStatus: 'ok' }]);
    const text = await failure(healthGateProvider.create(statusGate('i-0sick', 0.2)));
    expect(text).toContain('instance i-0sick (site-a-gateway-instance-2) did not serve within 0.2 s');
    expect(text).toContain('instance status impaired');
    expectNoCredentials(text);
  });
});

describe('GCP: backend service getHealth', () => {
  let metadata: LoopbackServer & { failures: FailureSwitch };
  let compute: FakeGcpHealthApi;
  let scratch: string;
  const backendService =
    'https://www.googleapis.com/compute/v1/projects/p1/regions/europe-west1/backendServices/site-b-ilb';
  const instance = 'https://www.googleapis.com/compute/v1/projects/p1/zones/europe-west1-b/instances/site-b-0-abc';
  const instanceGroup =
    'https://www.googleapis.com/compute/v1/projects/p1/zones/europe-west1-b/instanceGroups/site-b-ig-b';

  beforeAll(async () => {
    metadata = await startFakeGceMetadata();
    compute = await startFakeGcpHealthApi();
    scratch = await mkdtemp(join(tmpdir(), 'wiremesh-gate-'));
    delete process.env['GOOGLE_APPLICATION_CREDENTIALS'];
    process.env['CLOUDSDK_CONFIG'] = join(scratch, 'no-gcloud-config');
    process.env['GCE_METADATA_HOST'] = new URL(metadata.url).host;
  });

  afterAll(async () => {
    await Promise.all([metadata.close(), compute.close(), rm(scratch, { recursive: true, force: true })]);
  });

  const gcpGate = (timeoutSeconds = 5): HealthGateInputs => ({
    label: 'site-b-0',
    check: {
      kind: 'gcp-backend-health',
      backendService,
      instanceGroup,
      instance,
      instanceId: '4567890123456789012',
      endpoint: compute.url,
    },
    timeoutSeconds,
    pollSeconds: 0.02,
  });

  test('waits until the load balancer reports the instance HEALTHY', async () => {
    compute.scriptInstance(instance, ['UNHEALTHY', 'UNHEALTHY', 'HEALTHY']);
    await expect(healthGateProvider.create(gcpGate())).resolves.toMatchObject({ id: 'health-gate-site-b-0-abc' });
    const calls = compute.requests.filter((r) => r.path.endsWith('/getHealth'));
    expect(calls).toHaveLength(3);
    expect(calls[0]!.path).toBe('/compute/v1/projects/p1/regions/europe-west1/backendServices/site-b-ilb/getHealth');
    expect(JSON.parse(calls[0]!.body)).toEqual({ group: instanceGroup });
  });

  test('times out naming the instance and the backend service', async () => {
    compute.scriptInstance(instance, ['UNHEALTHY']);
    const text = await failure(healthGateProvider.create(gcpGate(0.2)));
    expect(text).toContain(
      `instance ${instance} (site-b-0) in ${backendService} did not serve within 0.2 s (last seen: backend UNHEALTHY)`,
    );
  });
});

describe('diff', () => {
  test('a new instance replaces the gate; a new timeout updates it; the same inputs change nothing', async () => {
    const olds = { ...targetGate('i-0old'), servingAt: '2026-01-01T00:00:00.000Z' };
    await expect(healthGateProvider.diff!('g', olds, targetGate('i-0new'))).resolves.toEqual({
      changes: true,
      replaces: ['check'],
    });
    await expect(healthGateProvider.diff!('g', olds, targetGate('i-0old', { timeoutSeconds: 60 }))).resolves.toEqual({
      changes: true,
    });
    await expect(healthGateProvider.diff!('g', olds, targetGate('i-0old'))).resolves.toEqual({ changes: false });
  });
});

describe('the serialized provider', () => {
  /** Runs the serialized provider's create in a fresh Node process; `nodePath` is where it finds the SDKs. */
  async function createInFreshProcess(
    inputs: HealthGateInputs,
    nodePath: string | null,
  ): Promise<{ text: string; result: string }> {
    // As pulumi.dynamic.Resource serializes its provider: a closure over the provider object alone.
    const provider = healthGateProvider;
    const serialized = await pulumi.runtime.serializeFunction(() => provider);
    const scratch = await mkdtemp(join(tmpdir(), 'wiremesh-gate-provider-'));
    try {
      const file = join(scratch, 'provider.js');
      await writeFile(file, serialized.text);
      const script = `const provider = require(${JSON.stringify(file)}).${serialized.exportName}();
        provider.create(${JSON.stringify(inputs)}).then((r) => console.log(JSON.stringify(r)), (e) => { console.log(e.message); process.exit(3); });`;
      const env = { ...process.env, NODE_PATH: nodePath ?? '' };
      const result = await new Promise<string>((done, fail) =>
        execFile(process.execPath, ['-e', script], { env, cwd: scratch, timeout: 30_000 }, (error, out, err) =>
          error && error.code !== 3 ? fail(new Error(`${error.message}\n${err}`)) : done(out),
        ),
      );
      return { text: serialized.text, result };
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }

  test('runs on its own in a fresh Node process (nothing of this repository captured)', async () => {
    aws.scriptTarget('i-0child', [{ State: 'initial' }, { State: 'healthy' }]);
    const { text, result } = await createInFreshProcess(
      targetGate('i-0child'),
      resolve(__dirname, '../../node_modules'),
    );
    expect(text).not.toMatch(/components\/|@pulumi\/pulumi/);
    expect(text).toContain("require('@aws-sdk/client-elastic-load-balancing-v2')");
    expect(JSON.parse(result)).toMatchObject({
      id: 'health-gate-i-0child',
      outs: { label: 'site-a-gateway-instance-1' },
    });
  });

  test('a denied call fails at once with its reason (the serialized error keeps its message)', async () => {
    aws.scriptTarget('i-0denied', [{ error: 'AccessDenied', status: 403 }]);
    const { result } = await createInFreshProcess(
      targetGate('i-0denied', { timeoutSeconds: 30 }),
      resolve(__dirname, '../../node_modules'),
    );
    expect(result).toMatch(/cannot be checked: AccessDenied \(HTTP 403\): fake AccessDenied/);
  });

  test('fails at once, naming the package, where the deploying program lacks the optional ELBv2 client', async () => {
    const startedAt = Date.now();
    const { result } = await createInFreshProcess(targetGate('i-0child'), null);
    expect(result).toContain('cannot be checked: @aws-sdk/client-elastic-load-balancing-v2 is not installed');
    expect(result).toContain('npm install @aws-sdk/client-elastic-load-balancing-v2');
    expect(Date.now() - startedAt).toBeLessThan(20_000);
  });
});
