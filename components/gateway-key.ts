/**
 * The key of a cloud gateway (AwsGateway, GcpGateway and their groups): the caller's (`key`, a
 * secret Output; a `WireGuardKey` fits) or a new `WireGuardKey` `<name>-key` rotated after
 * `maxKeyAgeDays`. One set of checks for both clouds.
 */
import * as pulumi from '@pulumi/pulumi';
import { ComponentArgumentError, describe, requireSecretOutput } from './errors';
import { publicKeyFromPrivateKey, WireGuardKey } from './key';
import type { SecretSourceConfig } from '../agent/secrets/types';
import type { KeyRotationPlan } from './rotation';

/** Which generations of a rotated key a key secret holds, and whether the gateway holds the next one. */
export type KeyRotationState = Pick<KeyRotationPlan, 'phase' | 'current' | 'next'> & {
  /**
   * Set for a gateway whose peers hold one key per peer entry (a mesh on the kernel or wireguard-go
   * plane): its document names the next key from phase next on, with this instant to switch to it
   * at, the one its peers' documents name (docs/key-rotation.md, "The scheduled switch").
   */
  scheduledSwitchAt?: string;
};

/** A gateway document's key references: the current version, and the next one while switching. */
export interface KeySources {
  privateKey: SecretSourceConfig;
  nextPrivateKey?: SecretSourceConfig;
  switchAt?: string;
}

/**
 * Whether a gateway's document names its next key: in phase switch, or from phase next with a
 * scheduled switch (then with its instant).
 */
export function namesNextKey(rotation: KeyRotationState | undefined): boolean {
  if (rotation?.next == null) return false;
  return rotation.phase === 'switch' || rotation.scheduledSwitchAt !== undefined;
}

/** {@link KeySources} from the current source and, when the document names it, the next one. */
export function keySources(
  privateKey: pulumi.Output<SecretSourceConfig>,
  nextPrivateKey: pulumi.Output<SecretSourceConfig> | undefined,
  rotation: KeyRotationState | undefined,
): pulumi.Output<KeySources> {
  const named = namesNextKey(rotation) ? nextPrivateKey : undefined;
  const switchAt = named !== undefined ? rotation?.scheduledSwitchAt : undefined;
  return pulumi.all([privateKey, named]).apply(([current, next]) => ({
    privateKey: current,
    ...(next !== undefined ? { nextPrivateKey: next } : {}),
    ...(switchAt !== undefined ? { switchAt } : {}),
  }));
}

/** The next generation of a rotated key (phases next and switch). */
export interface NextKeyArgs {
  privateKey: pulumi.Input<string>;
  publicKey?: pulumi.Input<string>;
  createdAt: pulumi.Input<string>;
}

/** A key made elsewhere (`key` of the gateways; a `WireGuardKey` fits). */
export interface GatewayKeyArgs {
  /** The private key, base64: a secret Output. */
  privateKey: pulumi.Input<string>;
  /** Its public key; default: derived from `privateKey`. */
  publicKey?: pulumi.Input<string>;
  /** When it was created (ISO 8601), for the key-age tag / label. */
  createdAt: pulumi.Input<string>;
  /** A rotated key's plan (`WireGuardKey.rotation`): the key secret keeps one version per generation. */
  rotation?: KeyRotationState;
  /** A rotated key's next generation (`WireGuardKey.next`), present when `rotation.next` is. */
  next?: NextKeyArgs | undefined;
}

/** The key a gateway uses, resolved. */
export interface ResolvedGatewayKey {
  privateKey: pulumi.Output<string>;
  publicKey: pulumi.Output<string>;
  createdAt: pulumi.Input<string>;
  rotation?: KeyRotationState;
  next?: { privateKey: pulumi.Output<string>; publicKey: pulumi.Output<string>; createdAt: pulumi.Input<string> };
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
    if ((key.rotation?.next != null) !== (key.next !== undefined)) {
      throw new ComponentArgumentError(
        `${label}: key.next must be given exactly when key.rotation.next is (a WireGuardKey has both)`,
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
    const resolved = resolvedPair(label, 'key', key);
    if (key.rotation === undefined) return resolved;
    return {
      ...resolved,
      rotation: key.rotation,
      ...(key.next !== undefined ? { next: resolvedPair(label, 'key.next', key.next) } : {}),
    };
  }
  const created = new WireGuardKey(`${name}-key`, maxKeyAgeDays === undefined ? {} : { maxAgeDays: maxKeyAgeDays }, {
    parent,
  });
  return {
    privateKey: created.privateKey,
    publicKey: created.publicKey,
    createdAt: created.createdAt,
    rotation: created.rotation,
    ...(created.next !== undefined ? { next: created.next } : {}),
  };
}

function resolvedPair(
  label: string,
  what: string,
  key: NextKeyArgs,
): { privateKey: pulumi.Output<string>; publicKey: pulumi.Output<string>; createdAt: pulumi.Input<string> } {
  const privateKey = requireSecretOutput(label, `${what}.privateKey`, key.privateKey);
  const publicKey =
    key.publicKey !== undefined
      ? pulumi.output(key.publicKey)
      : pulumi.unsecret(privateKey.apply(publicKeyFromPrivateKey));
  return { privateKey, publicKey, createdAt: key.createdAt };
}

/** The name of the secret version holding a generation (`<secret>-version` for an unrotated key). */
export function keyVersionName(
  secretName: string,
  rotation: KeyRotationState | undefined,
  generation?: number,
): string {
  return rotation === undefined ? `${secretName}-version` : `${secretName}-version-g${generation ?? rotation.current}`;
}

/** The key secret arguments of a resolved key: its current generation and, while rotating, the next. */
export function keySecretVersions(key: ResolvedGatewayKey): {
  privateKey: pulumi.Output<string>;
  createdAt: pulumi.Input<string>;
  rotation?: KeyRotationState;
  nextPrivateKey?: pulumi.Output<string>;
} {
  return {
    privateKey: key.privateKey,
    createdAt: key.createdAt,
    ...(key.rotation !== undefined ? { rotation: key.rotation } : {}),
    ...(key.next !== undefined ? { nextPrivateKey: key.next.privateKey } : {}),
  };
}
