/**
 * How the boot lab names a failed bring-up from what the VM shows (lab/boot/lab.ts `diagnose`): the
 * agent's log, cloud-init's module errors, the unit's state. The full lab proves "secret read" on a
 * booted VM (boot.test.ts); these cover every name on recorded evidence.
 */
import { diagnose, type GatewayTimings } from '../../lab/boot/lab';

const timings = (steps: GatewayTimings['steps'] = {}): GatewayTimings => ({
  gateway: 'gw',
  steps,
  cloudInitStages: {},
});
const log = (...events: object[]) =>
  events.map((e) => JSON.stringify({ level: 30, name: 'wiremesh-agent', ...e })).join('\n');

test('a refused secret read is "secret read", with the store error and no value', () => {
  const agentLog = log({
    event: 'agent.failed',
    error: 'AWS Secrets Manager secret arn:aws:secretsmanager:eu-west-1:1:secret:k: AccessDeniedException (HTTP 400)',
  });
  expect(diagnose(agentLog, [], { ActiveState: 'activating' }, timings())).toEqual({
    step: 'secret read',
    detail: "the agent's secret read was refused: AccessDeniedException (HTTP 400)",
  });
  expect(
    diagnose(
      log({ event: 'agent.failed', error: 'GCP Secret Manager secret s: PERMISSION_DENIED (gRPC status 7)' }),
      [],
      undefined,
      timings(),
    )?.step,
  ).toBe('secret read');
});

test('credentials the metadata service never gave are "IMDS", once retried', () => {
  const retry = {
    event: 'secret.retry',
    error: 'AWS Secrets Manager secret x: no AWS credentials could be obtained (CredentialsProviderError)',
  };
  expect(diagnose(log(retry), [], undefined, timings())).toBeUndefined();
  expect(diagnose(log(retry, retry, retry), [], undefined, timings())?.step).toBe('IMDS');
});

test('a cloud-init module error before the install names the module; after it, the unit', () => {
  const errors = ["modules-final: ('package-update-upgrade-install', ProcessExecutionError('apt-get update'))"];
  expect(diagnose('', errors, undefined, timings({ boot: 1 }))?.step).toBe(
    'cloud-init module package-update-upgrade-install',
  );
  expect(
    diagnose(
      '',
      ["modules-final: ('scripts_user', RuntimeError('runparts'))"],
      undefined,
      timings({ boot: 1, install: 9 }),
    )?.step,
  ).toBe('unit start');
});

test('a unit that gave up is "unit start", with the restarts and the last agent error', () => {
  const agentLog = log({ event: 'agent.failed', error: 'ioctl TUNSETIFF: Operation not permitted' });
  expect(diagnose(agentLog, [], { ActiveState: 'failed', NRestarts: '10' }, timings())).toEqual({
    step: 'unit start',
    detail:
      "wiremesh-agent.service failed after 10 restarts; the agent's last error: ioctl TUNSETIFF: Operation not permitted",
  });
  expect(diagnose(agentLog, [], { ActiveState: 'active' }, timings())).toBeUndefined();
});
