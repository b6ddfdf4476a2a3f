/**
 * wiremesh-key-rotation over time, with the clock controlled through `runPolicies({ now })` and the
 * policy's `now` parameter: the recorded component stack, a WireGuardKey created on a known day
 * (its own injectable clock) stored in an AwsKeySecret, and hand-written key secrets on AWS and GCP.
 */
import { AwsKeySecret } from '../../components/aws/key-secret';
import { awsMockOptions } from '../../components/aws/testing';
import { WireGuardKey } from '../../components/key';
import { resolve, setupMocks } from '../../components/testing';
import { fromRecordedResources, mandatory, runPolicies, type RunnerResource, type Violation } from '../../policies/run';
import { firstKeyCreatedAt, recordComponentStack } from './stacks';

const DAY = 86_400_000;
const POLICY = 'wiremesh-key-rotation';
const only = (violations: Violation[]) => violations.filter((v) => v.policyName === POLICY);
const at = (base: Date, days: number) => new Date(base.getTime() + days * DAY);

let stack: RunnerResource[];
let keyStack: RunnerResource[];
/** The epoch start of the WireGuardKey "k" made with `now: 2025-01-10`, 90-day epochs, no overlap (its offset is its name's). */
let KEY_CREATED: Date;
/** Its key pair: `k-g<generation>`. */
let PAIR: string;
let rotatedStack: RunnerResource[];
let ROTATED_CREATED: Date;
const day = (base: Date, days: number): string => at(base, days).toISOString().slice(0, 10);

beforeAll(async () => {
  ({ resources: stack } = await recordComponentStack());
  const mocks = setupMocks(awsMockOptions());
  const key = new WireGuardKey('k', { maxAgeDays: 90, overlapDays: 0, now: () => new Date('2025-01-10T12:00:00Z') });
  // A rotated key (default overlap, 7 days) beside it.
  const rotated = new WireGuardKey('r', { maxAgeDays: 90, now: () => new Date('2025-01-10T12:00:00Z') });
  KEY_CREATED = new Date(await resolve(key.createdAt));
  PAIR = `k-g${key.rotation.current}`;
  ROTATED_CREATED = new Date(await resolve(rotated.createdAt));
  const secret = new AwsKeySecret('k-secret', {
    privateKey: key.privateKey,
    createdAt: key.createdAt,
    siteName: 'site-k',
  });
  await Promise.all([resolve(key.publicKey), resolve(secret.arn), resolve(rotated.publicKey)]);
  await mocks.settle();
  const recorded = fromRecordedResources(mocks.resources);
  keyStack = recorded.filter((r) => !/^r-g\d+$/.test(r.name));
  rotatedStack = recorded.filter((r) => /^r-g\d+$/.test(r.name));
}, 60_000);

function awsKeySecret(name: string, tags: Record<string, string>): RunnerResource {
  return {
    type: 'aws:secretsmanager/secret:Secret',
    name,
    props: { name, arn: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbCdEf`, tags },
  };
}

describe('wiremesh-key-rotation', () => {
  test('the recorded component stack passes a day after its keys were made', () => {
    const created = firstKeyCreatedAt(stack);
    expect(runPolicies(stack, { now: at(created, 1) })).toEqual([]);
  });

  test('a WireGuardKey at 89 days passes, at 91 days it fails with what to run (reported once, on the key pair)', () => {
    expect(firstKeyCreatedAt(keyStack)).toEqual(KEY_CREATED);
    const config = { [POLICY]: { warnDays: 0 } };
    expect(only(runPolicies(keyStack, { now: at(KEY_CREATED, 89), config }))).toEqual([]);
    const late = only(runPolicies(keyStack, { now: at(KEY_CREATED, 91), config }));
    expect(late).toEqual([
      expect.objectContaining({
        enforcementLevel: 'mandatory',
        resourceName: PAIR,
        message: `run \`pulumi up\` to rotate: the WireGuard key "${PAIR}" (created ${KEY_CREATED.toISOString()}, 91 days old) expired on ${day(KEY_CREATED, 90)} (maximum age 90 days).`,
      }),
    ]);
  });

  test('within the warning window the key is reported at advisory level; the level is configurable', () => {
    const warned = only(runPolicies(keyStack, { now: at(KEY_CREATED, 80) }));
    expect(warned).toEqual([
      expect.objectContaining({
        enforcementLevel: 'advisory',
        message: expect.stringContaining(
          `expires on ${day(KEY_CREATED, 90)} (in 10 days): the first \`pulumi up\` on or after that day rotates it`,
        ),
      }),
    ]);
    expect(only(runPolicies(keyStack, { now: at(KEY_CREATED, 70) }))).toEqual([]); // before the 14-day window
    expect(
      only(runPolicies(keyStack, { now: at(KEY_CREATED, 70), config: { [POLICY]: { warnDays: 30 } } })),
    ).toHaveLength(1);
    const advisory = only(runPolicies(keyStack, { now: at(KEY_CREATED, 91), config: { [POLICY]: 'advisory' } }));
    expect(advisory.map((v) => v.enforcementLevel)).toEqual(['advisory']);
    expect(only(runPolicies(keyStack, { now: at(KEY_CREATED, 91), config: { [POLICY]: 'disabled' } }))).toEqual([]);
  });

  test("the clock can also be set with the policy's now parameter; maxAgeDays is configurable", () => {
    expect(
      mandatory(only(runPolicies(keyStack, { config: { [POLICY]: { now: at(KEY_CREATED, 91).toISOString() } } }))),
    ).toHaveLength(1);
    const strict = only(
      runPolicies(keyStack, { now: at(KEY_CREATED, 31), config: { [POLICY]: { maxAgeDays: 30, warnDays: 0 } } }),
    );
    expect(strict.map((v) => v.message)).toEqual([
      `WireGuard key "${PAIR}" rotates every 90 days (its maxAgeDays), more than the maximum of 30: set maxAgeDays to at most 30.`,
      `run \`pulumi up\` to rotate: the WireGuard key "${PAIR}" (created ${KEY_CREATED.toISOString()}, 31 days old) expired on ${day(KEY_CREATED, 30)} (maximum age 30 days).`,
    ]);
  });

  test('a key pair without maxAgeDays has no rotation schedule', () => {
    const noSchedule = keyStack.map((r) =>
      r.name === PAIR ? { ...r, props: { ...r.props, maxAgeDays: undefined } } : r,
    );
    expect(only(runPolicies(noSchedule, { now: at(KEY_CREATED, 1) })).map((v) => v.message)).toEqual([
      `WireGuard key "${PAIR}" has no rotation schedule: create it with WireGuardKey and a maxAgeDays (at most 90).`,
    ]);
  });

  test('a rotated generation (overlap 7) is the key in use until its epoch ends: 96 days passes, 98 fails; retiring, it may stay one overlap more; the overlap is bounded', () => {
    const config = { [POLICY]: { warnDays: 0 } };
    // The key's clock (2025-01-10) lies inside a rotation: the old generation and its successor.
    const [old, newest] = rotatedStack
      .filter((r) => r.type.endsWith('WireGuardKeyPair'))
      .sort((a, b) => Number(a.props.epoch) - Number(b.props.epoch));
    expect(Number(newest!.props.epoch)).toBe(Number(old!.props.epoch) + 1);
    expect(old!.props.overlapDays).toBe(7);
    const OLD_CREATED = new Date(old!.props.createdAt as string);
    const NEWEST_CREATED = new Date(newest!.props.createdAt as string);
    expect(NEWEST_CREATED).toEqual(at(OLD_CREATED, 90));
    expect(ROTATED_CREATED).toEqual(OLD_CREATED); // still the current generation (phase switch)
    // The newest generation alone is the key in use until its epoch ends.
    const mine = [newest!];
    expect(only(runPolicies(mine, { now: at(NEWEST_CREATED, 96), config }))).toEqual([]);
    expect(only(runPolicies(mine, { now: at(NEWEST_CREATED, 98), config })).map((v) => v.message)).toEqual([
      `run \`pulumi up\` to rotate: the WireGuard key "${newest!.name}" (created ${NEWEST_CREATED.toISOString()}, 98 days old) expired on ${day(NEWEST_CREATED, 97)} (maximum age 97 days).`,
    ]);
    // Beside its successor, the old generation only waits for retirement: one more overlap.
    const both = [old!, newest!];
    expect(only(runPolicies(both, { now: at(OLD_CREATED, 103), config }))).toEqual([]);
    expect(only(runPolicies(both, { now: at(OLD_CREATED, 105), config })).map((v) => v.message)).toEqual([
      `run \`pulumi up\` to retire: the WireGuard key "${old!.name}" (created ${OLD_CREATED.toISOString()}, 105 days old) was replaced by its next generation and had to be retired by ${day(OLD_CREATED, 104)} (its epoch plus two overlap windows, 104 days).`,
    ]);
    const strict = only(
      runPolicies(mine, { now: at(ROTATED_CREATED, 1), config: { [POLICY]: { warnDays: 0, maxOverlapDays: 3 } } }),
    );
    expect(strict.map((v) => v.message)).toEqual([
      `WireGuard key "${newest!.name}" has an overlap window of 7 days, more than the maximum of 3: set overlapDays to at most 3 (two keys are valid during the overlap).`,
    ]);
  });

  test('a hand-written AWS key secret with created-at and max-age tags: 89 days passes, 91 fails', () => {
    const secret = awsKeySecret('manual-key', {
      'wiremesh:role': 'wireguard-private-key',
      'wiremesh:key-created-at': '2025-01-01T00:00:00Z',
      'wiremesh:key-max-age-days': '90',
    });
    const config = { [POLICY]: { warnDays: 0 } };
    expect(only(runPolicies([secret], { now: new Date('2025-03-31T00:00:00Z'), config }))).toEqual([]); // 89 days
    expect(only(runPolicies([secret], { now: new Date('2025-04-02T00:00:00Z'), config }))).toEqual([
      expect.objectContaining({
        enforcementLevel: 'mandatory',
        urn: 'urn:pulumi:stack::project::aws:secretsmanager/secret:Secret::manual-key',
        message:
          'rotate the key secret "manual-key": it was created 2025-01-01T00:00:00.000Z (91 days ago) and expired on 2025-04-01 (maximum age 90 days). ' +
          'Put a new key version and update the wiremesh:key-created-at tag, or generate the key with WireGuardKey so that `pulumi up` rotates it.',
      }),
    ]);
  });

  test('a hand-written GCP key secret (label form of the creation time): 89 days passes, 91 fails', () => {
    const secret: RunnerResource = {
      type: 'gcp:secretmanager/secret:Secret',
      name: 'gcp-key',
      props: {
        secretId: 'gcp-key',
        labels: {
          'wiremesh-role': 'wireguard-private-key',
          'wiremesh-key-created-at': '2025-01-01t00-00-00z',
          'wiremesh-key-max-age-days': '90',
        },
      },
    };
    const config = { [POLICY]: { warnDays: 0 } };
    expect(only(runPolicies([secret], { now: new Date('2025-03-31T00:00:00Z'), config }))).toEqual([]);
    expect(
      only(runPolicies([secret], { now: new Date('2025-04-02T00:00:00Z'), config })).map((v) => v.message),
    ).toEqual([
      expect.stringMatching(
        /^rotate the key secret "gcp-key": .* expired on 2025-04-01 .* update the wiremesh-key-created-at label/,
      ),
    ]);
  });

  test('a key secret without a schedule, or without a creation time, is reported with what to add', () => {
    const unscheduled = awsKeySecret('unscheduled', { 'wiremesh:key-created-at': '2025-01-01T00:00:00Z' });
    const undated = awsKeySecret('undated', {
      'wiremesh:role': 'wireguard-preshared-key',
      'wiremesh:key-max-age-days': '30',
    });
    const messages = only(runPolicies([unscheduled, undated], { now: new Date('2025-01-02T00:00:00Z') })).map(
      (v) => v.message,
    );
    expect(messages).toEqual([
      expect.stringContaining('key secret "unscheduled" has no rotation schedule: generate the key with WireGuardKey'),
      expect.stringContaining(
        'key secret "undated" has no creation time: set the wiremesh:key-created-at tag (ISO 8601)',
      ),
    ]);
  });

  test('a key secret rotated by the store (SecretRotation, GCP rotation period) needs a period within the maximum', () => {
    const secret = awsKeySecret('rotated', {
      'wiremesh:role': 'wireguard-private-key',
      'wiremesh:key-created-at': '2020-01-01T00:00:00Z',
    });
    const rotation = (days: number): RunnerResource => ({
      type: 'aws:secretsmanager/secretRotation:SecretRotation',
      name: 'rotation',
      props: {
        secretId: secret.props.arn,
        rotationLambdaArn: 'arn:aws:lambda:eu-west-1:123456789012:function:rotate',
        rotationRules: { automaticallyAfterDays: days },
      },
    });
    const now = new Date('2025-06-01T00:00:00Z');
    expect(only(runPolicies([secret, rotation(30)], { now }))).toEqual([]); // the tag is old, but the store rotates it
    expect(only(runPolicies([secret, rotation(120)], { now })).map((v) => v.message)).toEqual([
      'key secret "rotated" rotates every 120 days (the SecretRotation "rotation"), more than the maximum of 90: set its schedule to at most 90.',
    ]);
    const gcpSecret: RunnerResource = {
      type: 'gcp:secretmanager/secret:Secret',
      name: 'gcp-rotated',
      props: {
        secretId: 'gcp-rotated',
        labels: { 'wiremesh-role': 'wireguard-private-key' },
        rotation: { rotationPeriod: `${30 * 86_400}s` },
      },
    };
    expect(only(runPolicies([gcpSecret], { now }))).toEqual([]);
  });

  test('preview of a rotation: a key pair and secret whose creation time is unknown are skipped until the update', () => {
    const UNKNOWN = '04da6b54-80e4-46f7-96ec-b56ff0331ba9';
    const preview = keyStack.map((r) => {
      if (r.name === PAIR)
        return { ...r, props: { maxAgeDays: 90, createdAt: UNKNOWN, privateKey: UNKNOWN, publicKey: UNKNOWN } };
      if (r.name === 'k-secret-secret')
        return {
          ...r,
          props: { ...r.props, tags: { ...(r.props.tags as object), 'wiremesh:key-created-at': UNKNOWN } },
        };
      return r;
    });
    expect(only(runPolicies(preview, { now: at(KEY_CREATED, 200) }))).toEqual([]);
  });
});
