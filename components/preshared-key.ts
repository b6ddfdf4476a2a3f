/**
 * WireGuard preshared keys (`wg genpsk`) generated at deploy time, kept only as Pulumi secrets,
 * rotated on the same schedule as {@link WireGuardKey}.
 *
 * `WireGuardPresharedKey` (token `wiremesh:keys:WireGuardPresharedKey`) wraps one child: a
 * `pulumi.dynamic.Resource` of type `pulumi-nodejs:dynamic/wiremesh:WireGuardPresharedKeyValue`
 * whose provider is {@link wireGuardPresharedKeyProvider}. It follows components/key.ts exactly:
 *
 * - the 32 random bytes (`node:crypto`, unclamped: a preshared key is a symmetric key) are made in
 *   the provider's `create`, once, at deploy time; later updates keep them. No key is an input;
 * - `additionalSecretOutputs: ["presharedKey"]` and `pulumi.secret` make `presharedKey` a secret
 *   Output everywhere, also under mocks;
 * - rotation: the same epochs as WireGuardKey (`rotationEpoch(now, maxAgeDays)`), a new
 *   `epochStart` replaces the key; `createdAt` is the epoch start (for the key-age tag/label).
 *
 * Under `pulumi.runtime.setMocks` the provider never runs; components/testing.ts runs its `create`
 * as it does the key pair's.
 */
import { randomBytes } from 'node:crypto';
import * as pulumi from '@pulumi/pulumi';
import { DEFAULT_MAX_KEY_AGE_DAYS, rotationDeadline, rotationEpoch } from './key';

/** The dynamic resource type of the value under a {@link WireGuardPresharedKey}. */
export const WIREGUARD_PRESHARED_KEY_TYPE = 'pulumi-nodejs:dynamic/wiremesh:WireGuardPresharedKeyValue';

/** A fresh preshared key, base64 (what `wg genpsk` prints: 32 random bytes). */
export function generatePresharedKey(): string {
  return randomBytes(32).toString('base64');
}

/** Inputs of the dynamic preshared-key resource (plain values; no key material). */
export interface WireGuardPresharedKeyInputs {
  epoch: number;
  epochStart: string;
  maxAgeDays: number;
}

/** Outputs (state) of the dynamic preshared-key resource. */
export interface WireGuardPresharedKeyOutputs extends WireGuardPresharedKeyInputs {
  presharedKey: string;
  createdAt: string;
}

/**
 * The dynamic provider behind {@link WireGuardPresharedKey}: `create` generates the key, `diff`
 * replaces exactly when the epoch start changes, `update` keeps the key. Exported for tests and
 * the mocks of components/testing.ts.
 */
export const wireGuardPresharedKeyProvider: pulumi.dynamic.ResourceProvider<
  WireGuardPresharedKeyInputs,
  WireGuardPresharedKeyOutputs
> = {
  async create(inputs: WireGuardPresharedKeyInputs) {
    const outs: WireGuardPresharedKeyOutputs = {
      epoch: inputs.epoch,
      epochStart: inputs.epochStart,
      maxAgeDays: inputs.maxAgeDays,
      createdAt: inputs.epochStart,
      presharedKey: generatePresharedKey(),
    };
    // The id names no part of the key.
    return { id: `wgpsk-${randomBytes(6).toString('hex')}`, outs };
  },
  async diff(_id: string, olds: WireGuardPresharedKeyOutputs, news: WireGuardPresharedKeyInputs) {
    if (olds.epochStart !== news.epochStart)
      return { changes: true, replaces: ['epochStart'], deleteBeforeReplace: false };
    return { changes: olds.epoch !== news.epoch || olds.maxAgeDays !== news.maxAgeDays };
  },
  async update(_id: string, olds: WireGuardPresharedKeyOutputs, news: WireGuardPresharedKeyInputs) {
    return { outs: { ...olds, epoch: news.epoch, maxAgeDays: news.maxAgeDays } };
  },
  async read(id: string, props?: WireGuardPresharedKeyOutputs) {
    return { id, props };
  },
};

/** Arguments of {@link WireGuardPresharedKey}. */
export interface WireGuardPresharedKeyArgs {
  /** Maximum key age in days (1 to 3650); default 90. */
  maxAgeDays?: number;
  /** The clock of the rotation epoch; default `() => new Date()`. For tests. */
  now?: () => Date;
}

class WireGuardPresharedKeyValue extends pulumi.dynamic.Resource {
  declare public readonly presharedKey: pulumi.Output<string>;
  declare public readonly createdAt: pulumi.Output<string>;

  constructor(name: string, inputs: WireGuardPresharedKeyInputs, opts: pulumi.CustomResourceOptions) {
    super(
      wireGuardPresharedKeyProvider,
      name,
      { ...inputs, presharedKey: undefined, createdAt: undefined },
      opts,
      'wiremesh',
      'WireGuardPresharedKeyValue',
    );
  }
}

/**
 * A WireGuard preshared key generated at deploy time and rotated every `maxAgeDays`.
 *
 * ```ts
 * const psk = new WireGuardPresharedKey("a-b-psk");
 * psk.presharedKey // Output<string>, secret: store it in both ends' secret stores
 * psk.createdAt    // Output<string>, ISO 8601
 * ```
 */
export class WireGuardPresharedKey extends pulumi.ComponentResource {
  /** The key, base64 (`wg genpsk` format). Always a secret Output. */
  public readonly presharedKey: pulumi.Output<string>;
  /** Start of the key's rotation epoch, ISO 8601. */
  public readonly createdAt: pulumi.Output<string>;
  /** When the next `pulumi up` replaces the key. */
  public readonly rotationDeadline: pulumi.Output<string>;
  public readonly maxAgeDays: number;

  constructor(name: string, args: WireGuardPresharedKeyArgs = {}, opts: pulumi.ComponentResourceOptions = {}) {
    const maxAgeDays = args.maxAgeDays ?? DEFAULT_MAX_KEY_AGE_DAYS;
    const now = (args.now ?? (() => new Date()))();
    if (!(now instanceof Date)) throw new Error('WireGuardPresharedKey: now() must return a Date');
    const epoch = rotationEpoch(now, maxAgeDays); // validates maxAgeDays
    super('wiremesh:keys:WireGuardPresharedKey', name, {}, opts);
    this.maxAgeDays = maxAgeDays;
    const value = new WireGuardPresharedKeyValue(
      `${name}-value`,
      { epoch: epoch.index, epochStart: epoch.start, maxAgeDays },
      { parent: this, additionalSecretOutputs: ['presharedKey'], replaceOnChanges: ['epochStart'] },
    );
    this.presharedKey = pulumi.secret(value.presharedKey);
    this.createdAt = pulumi.unsecret(value.createdAt);
    this.rotationDeadline = this.createdAt.apply((createdAt) => rotationDeadline(createdAt, maxAgeDays));
    this.registerOutputs({
      presharedKey: this.presharedKey,
      createdAt: this.createdAt,
      rotationDeadline: this.rotationDeadline,
    });
  }
}
