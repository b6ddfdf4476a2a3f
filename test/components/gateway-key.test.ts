/** components/gateway-key.ts: the `key` / `maxKeyAgeDays` checks both clouds share. */
import * as pulumi from '@pulumi/pulumi';
import { ComponentArgumentError } from '../../components/errors';
import { checkGatewayKeyArgs } from '../../components/gateway-key';

const label = 'GcpGateway "gw"';

describe('checkGatewayKeyArgs', () => {
  test("accepts no key, a generated key's age, and a secret key with its creation time", () => {
    expect(() => checkGatewayKeyArgs(label, undefined, undefined)).not.toThrow();
    expect(() => checkGatewayKeyArgs(label, undefined, 30)).not.toThrow();
    expect(() =>
      checkGatewayKeyArgs(label, { privateKey: pulumi.secret('k'), createdAt: '2025-01-01T00:00:00Z' }, undefined),
    ).not.toThrow();
  });

  test.each<[string, Parameters<typeof checkGatewayKeyArgs>[1], number | undefined, string]>([
    [
      'a plain private key',
      { privateKey: 'k', createdAt: '2025-01-01T00:00:00Z' },
      undefined,
      'key.privateKey must be a secret Output',
    ],
    [
      'no creation time',
      { privateKey: pulumi.secret('k') } as never,
      undefined,
      'key must have privateKey (a secret Output) and createdAt',
    ],
    [
      'an empty creation time',
      { privateKey: pulumi.secret('k'), createdAt: '' },
      undefined,
      'key.createdAt is required',
    ],
    [
      'a maximum age for a given key',
      { privateKey: pulumi.secret('k'), createdAt: '2025-01-01T00:00:00Z' },
      30,
      'maxKeyAgeDays applies only to a key the gateway creates',
    ],
    [
      'a fractional maximum age',
      undefined,
      1.5,
      'maxKeyAgeDays must be a whole number of days from 1 to 3650, got 1.5',
    ],
  ])('refuses %s', (_what, key, maxKeyAgeDays, message) => {
    expect(() => checkGatewayKeyArgs(label, key, maxKeyAgeDays)).toThrow(ComponentArgumentError);
    expect(() => checkGatewayKeyArgs(label, key, maxKeyAgeDays)).toThrow(`${label}: ${message}`);
  });
});
