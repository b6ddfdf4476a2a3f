/**
 * The key of a cloud gateway (AwsGateway, GcpGateway and their groups): the caller's (`key`, a
 * secret Output; a `WireGuardKey` fits) or a new `WireGuardKey` `<name>-key` rotated after
 * `maxKeyAgeDays`. One set of checks for both clouds.
 */
import * as pulumi from '@pulumi/pulumi';
import { ComponentArgumentError, describe, requireSecretOutput } from './errors';
import { publicKeyFromPrivateKey, WireGuardKey } from './key';

/** A key made elsewhere (`key` of the gateways; a `WireGuardKey` fits). */
export interface GatewayKeyArgs {
  /** The private key, base64: a secret Output. */
  privateKey: pulumi.Input<string>;
  /** Its public key; default: derived from `privateKey`. */
  publicKey?: pulumi.Input<string>;
  /** When it was created (ISO 8601), for the key-age tag / label. */
  createdAt: pulumi.Input<string>;
}

/** The key a gateway uses, resolved. */
export interface ResolvedGatewayKey {
  privateKey: pulumi.Output<string>;
  publicKey: pulumi.Output<string>;
  createdAt: pulumi.Input<string>;
}

/** Checks `key` and `maxKeyAgeDays` (before anything is made). */
export function checkGatewayKeyArgs(
  label: string,
  key: GatewayKeyArgs | undefined,
  maxKeyAgeDays: number | undefined,
): void {
  if (key !== undefined) {
    if (typeof key !== 'object' || key === null || !('privateKey' in key) || !('createdAt' in key)) {
      throw new ComponentArgumentError(
        `${label}: key must have privateKey (a secret Output) and createdAt, and may have publicKey (a WireGuardKey fits)`,
      );
    }
    if (!pulumi.Output.isInstance(key.privateKey)) {
      throw new ComponentArgumentError(
        `${label}: key.privateKey must be a secret Output (WireGuardKey.privateKey or pulumi.secret(...)), not a plain ${typeof key.privateKey}: ` +
          'a plain value is stored unencrypted in the stack state',
      );
    }
    if (key.createdAt === undefined || key.createdAt === null || key.createdAt === '') {
      throw new ComponentArgumentError(
        `${label}: key.createdAt is required (when the key was created, ISO 8601) for the key-age tag`,
      );
    }
    if (maxKeyAgeDays !== undefined) {
      throw new ComponentArgumentError(
        `${label}: maxKeyAgeDays applies only to a key the gateway creates; rotate the given key where it is created`,
      );
    }
  }
  if (maxKeyAgeDays !== undefined && (!Number.isInteger(maxKeyAgeDays) || maxKeyAgeDays < 1 || maxKeyAgeDays > 3650)) {
    throw new ComponentArgumentError(
      `${label}: maxKeyAgeDays must be a whole number of days from 1 to 3650, got ${describe(maxKeyAgeDays)}`,
    );
  }
}

/** The caller's key (checked to be a secret when it resolves), or a new WireGuardKey `<name>-key` under `parent`. */
export function gatewayKey(
  name: string,
  label: string,
  key: GatewayKeyArgs | undefined,
  maxKeyAgeDays: number | undefined,
  parent: pulumi.Resource,
): ResolvedGatewayKey {
  if (key !== undefined) {
    const privateKey = requireSecretOutput(label, 'key.privateKey', key.privateKey);
    const publicKey =
      key.publicKey !== undefined
        ? pulumi.output(key.publicKey)
        : pulumi.unsecret(privateKey.apply(publicKeyFromPrivateKey));
    return { privateKey, publicKey, createdAt: key.createdAt };
  }
  const created = new WireGuardKey(`${name}-key`, maxKeyAgeDays === undefined ? {} : { maxAgeDays: maxKeyAgeDays }, {
    parent,
  });
  return { privateKey: created.privateKey, publicKey: created.publicKey, createdAt: created.createdAt };
}
