/** components/errors.ts: the one error type and the helpers of every argument check. */
import * as pulumi from '@pulumi/pulumi';
import {
  checkedInput,
  ComponentArgumentError,
  componentLabel,
  describe as describeValue,
  fail,
  isPlain,
  requireSecretOutput,
} from '../../components/errors';
import { resolve } from '../../components/testing';

const PRIVATE_KEY = 'gJqVbqkFAfHpSbTcvG5mbw0dH3xFt0HdQe3E6LwT8Wc=';

test('fail: a ComponentArgumentError prefixed with the component and its name', () => {
  expect(() => fail('GcpGateway', 'gw', 'zones must list at least one zone')).toThrow(
    new ComponentArgumentError('GcpGateway "gw": zones must list at least one zone'),
  );
  expect(componentLabel('AwsGateway', 'site-a')).toBe('AwsGateway "site-a"');
  try {
    fail('X', 'y', 'z');
  } catch (error) {
    expect((error as Error).name).toBe('ComponentArgumentError');
  }
});

test('describe never echoes a long string (keys, secrets)', () => {
  expect(describeValue(PRIVATE_KEY + PRIVATE_KEY)).toBe('a string of 88 characters');
  expect([
    describeValue('ami-1'),
    describeValue(3),
    describeValue(undefined),
    describeValue([1]),
    describeValue({}),
  ]).toEqual(['"ami-1"', '3', 'undefined', 'an array', 'a object']);
});

describe('requireSecretOutput', () => {
  test('refuses a plain value at once and names the argument', () => {
    expect(() => requireSecretOutput('AwsKeySecret "k"', 'privateKey', PRIVATE_KEY)).toThrow(
      'AwsKeySecret "k": privateKey must be a secret Output (WireGuardKey.privateKey or pulumi.secret(...)), not a plain string: a plain value is stored unencrypted in the stack state',
    );
    expect(() => requireSecretOutput('AwsKeySecret "k"', 'privateKey', undefined)).toThrow(
      'AwsKeySecret "k": privateKey is required',
    );
  });

  test('refuses an Output that is not secret, when it resolves; passes a secret on, still secret', async () => {
    await expect(
      resolve(requireSecretOutput('AwsKeySecret "k"', 'privateKey', pulumi.output(PRIVATE_KEY))),
    ).rejects.toThrow(
      'AwsKeySecret "k": privateKey must be a secret Output (wrap it with pulumi.secret(...)); it was a plain Output',
    );
    const ok = requireSecretOutput('x', 'privateKey', pulumi.secret(PRIVATE_KEY));
    expect(await resolve(ok)).toBe(PRIVATE_KEY);
    expect(await pulumi.isSecret(ok)).toBe(true);
  });
});

test('checkedInput checks a plain value now and a late one when it resolves', async () => {
  const check = (value: string): void => {
    if (!value.startsWith('ami-')) throw new ComponentArgumentError(`not an AMI: ${value}`);
  };
  expect(() => checkedInput('ubuntu', check)).toThrow('not an AMI: ubuntu');
  await expect(resolve(checkedInput(pulumi.output('ubuntu'), check))).rejects.toThrow('not an AMI: ubuntu');
  expect(await resolve(checkedInput(pulumi.output('ami-0123abcd'), check))).toBe('ami-0123abcd');
});

test('isPlain: no Output or Promise anywhere inside', () => {
  expect(isPlain({ a: [1, 'b', { c: true }] })).toBe(true);
  expect(isPlain({ a: [pulumi.output(1)] })).toBe(false);
  expect(isPlain(Promise.resolve(1))).toBe(false);
});
