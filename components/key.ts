/**
 * WireGuard key pairs generated at deploy time, kept only as Pulumi secrets, rotated on a schedule.
 *
 * ## Design
 *
 * `WireGuardKey` (token `wiremesh:keys:WireGuardKey`) wraps one child: a `pulumi.dynamic.Resource`
 * of type `pulumi-nodejs:dynamic/wiremesh:WireGuardKeyPair` whose provider is {@link wireGuardKeyProvider}.
 *
 * - **Generation happens in the provider's `create`**, i.e. once, at deploy time, in the engine's
 *   dynamic-provider host: 32 bytes from `node:crypto`, clamped as RFC 7748 §5 and `wg genkey` do,
 *   public key derived with `x25519` from `@noble/curves/ed25519` (what `wg pubkey` computes). The
 *   key pair then lives in the stack state as the resource's outputs; later updates do not call
 *   `create` again, so the key is stable across `pulumi up` runs. No key is ever a resource *input*
 *   and none is computed in the program, so no preview can show or change it.
 * - **Secrecy:** the child declares `additionalSecretOutputs: ["privateKey"]` (the engine encrypts
 *   it in the state) and the component re-wraps it with `pulumi.secret`, so `privateKey` is a secret
 *   Output everywhere, also under mocks. `publicKey` and `createdAt` are plain.
 * - **Rotation:** the program computes a rotation *epoch* from the clock:
 *   `index = floor(daysSinceUnixEpoch(now) / maxAgeDays)`, `start = index * maxAgeDays` days after
 *   1970-01-01T00:00:00Z. `epoch` and `epochStart` are the child's only inputs (with `maxAgeDays`).
 *   The provider's `diff` asks for a replacement exactly when `epochStart` changes (the child also
 *   sets `replaceOnChanges: ["epochStart"]`), so the first `pulumi up` on or after the epoch's end
 *   replaces the key (create-before-delete; nothing outside the state is touched). `createdAt` is the
 *   epoch start, never later than the real creation, so the key's reported age is an upper bound
 *   and `rotationDeadline(createdAt, maxAgeDays)` (the epoch end) is when the next run replaces it.
 *   Every stack using the same `maxAgeDays` rotates on the same UTC day boundaries: deterministic,
 *   reproducible in previews and tests (`now` is injectable).
 *
 * ## Limits
 *
 * - Rotation happens only when `pulumi up` runs: schedule one (e.g. daily CI). Between the deadline
 *   and that run the key is older than `maxAgeDays`; the key-age policy sees it through `createdAt`.
 * - The first key of a stack may live less than `maxAgeDays` (it is created mid-epoch).
 * - Changing `maxAgeDays` moves the epoch boundaries and therefore replaces the key at once.
 * - A replacement swaps the key in one step: peers must learn the new public key in the same update
 *   (the mesh publishes the new agent configuration). The agent's two-key overlap (`nextPrivateKey`)
 *   is not orchestrated here.
 * - Dynamic providers run only in Node.js Pulumi programs (not in multi-language components,
 *   pulumi/pulumi#5455) and are closure-serialized into the state: `@noble/curves` must be
 *   resolvable from the program's directory when the engine runs the provider. Under
 *   `pulumi.runtime.setMocks` the provider never runs; `components/testing.ts` emulates it by
 *   calling {@link wireGuardKeyProvider}.`create`, and the pure functions below are tested directly.
 * - The private key is in the state (encrypted with the stack's secrets provider) and in whatever
 *   secret store a component writes it to. Anyone who can decrypt the state can read it.
 */
import { randomBytes } from 'node:crypto';
import * as pulumi from '@pulumi/pulumi';
import { x25519 } from '@noble/curves/ed25519';
import { clampPrivateKey, WIREGUARD_KEY_EXACT } from '../common/keys';

/** Milliseconds in one UTC day. */
const DAY_MS = 86_400_000;

/** Default maximum age of a key, in days. */
export const DEFAULT_MAX_KEY_AGE_DAYS = 90;

/** The dynamic resource type of the key pair under a {@link WireGuardKey}. */
export const WIREGUARD_KEY_PAIR_TYPE = 'pulumi-nodejs:dynamic/wiremesh:WireGuardKeyPair';

/** A WireGuard key pair as `wg genkey` / `wg pubkey` print them: 44-character base64 each. */
export interface WireGuardKeyPair {
  /** The clamped X25519 private key, base64. */
  privateKey: string;
  /** The X25519 public key of `privateKey`, base64. */
  publicKey: string;
}

/**
 * The public key of a base64 private key, as `wg pubkey` computes it.
 * Throws (without echoing the input) when it is not a 32-byte base64 key.
 */
export function publicKeyFromPrivateKey(privateKey: string): string {
  const bytes = Buffer.from(privateKey.trim(), 'base64');
  if (!WIREGUARD_KEY_EXACT.test(privateKey.trim()) || bytes.length !== 32) {
    throw new Error('a WireGuard private key must be 32 bytes in base64 (44 characters ending in "=")');
  }
  return Buffer.from(x25519.getPublicKey(bytes)).toString('base64');
}

/**
 * Pure key generation: the WireGuard key pair for 32 bytes of entropy (clamped, then the public key
 * derived with `x25519` from `@noble/curves`). Deterministic, so it is tested against RFC 7748
 * vectors; {@link generateWireGuardKeyPair} feeds it fresh randomness.
 */
export function wireGuardKeyPairFromEntropy(entropy: Uint8Array): WireGuardKeyPair {
  const privateKey = clampPrivateKey(entropy);
  return {
    privateKey: Buffer.from(privateKey).toString('base64'),
    publicKey: Buffer.from(x25519.getPublicKey(privateKey)).toString('base64'),
  };
}

/** A fresh key pair from `node:crypto` randomness (what `wg genkey | tee priv | wg pubkey` gives). */
export function generateWireGuardKeyPair(): WireGuardKeyPair {
  return wireGuardKeyPairFromEntropy(randomBytes(32));
}

/** One rotation period: the n-th block of `maxAgeDays` UTC days since 1970-01-01. */
export interface RotationEpoch {
  /** floor(daysSinceUnixEpoch / maxAgeDays). */
  index: number;
  /** The period's first instant, ISO 8601 (UTC midnight): the key's `createdAt`. */
  start: string;
  /** The period's end, ISO 8601: the next period's start, when the key is replaced. */
  end: string;
}

function checkMaxAgeDays(maxAgeDays: number): void {
  if (!Number.isInteger(maxAgeDays) || maxAgeDays < 1 || maxAgeDays > 3650) {
    throw new Error(`maxAgeDays must be a whole number of days from 1 to 3650, got ${String(maxAgeDays)}`);
  }
}

/** The rotation period containing `now`. Throws on an invalid date or `maxAgeDays`. */
export function rotationEpoch(now: Date, maxAgeDays: number): RotationEpoch {
  checkMaxAgeDays(maxAgeDays);
  const ms = now.getTime();
  if (!Number.isFinite(ms)) throw new Error('now() must return a valid Date');
  const index = Math.floor(Math.floor(ms / DAY_MS) / maxAgeDays);
  return {
    index,
    start: new Date(index * maxAgeDays * DAY_MS).toISOString(),
    end: new Date((index + 1) * maxAgeDays * DAY_MS).toISOString(),
  };
}

/**
 * When a key created at `createdAt` must be replaced: `createdAt` plus `maxAgeDays` days, ISO 8601.
 * For a {@link WireGuardKey} this is the end of its rotation epoch, when the next `pulumi up`
 * replaces it.
 */
export function rotationDeadline(createdAt: string | Date, maxAgeDays: number): string {
  checkMaxAgeDays(maxAgeDays);
  const ms = (typeof createdAt === 'string' ? new Date(createdAt) : createdAt).getTime();
  if (!Number.isFinite(ms)) throw new Error(`createdAt must be an ISO 8601 date, got ${String(createdAt)}`);
  return new Date(ms + maxAgeDays * DAY_MS).toISOString();
}

/** Inputs of the dynamic key-pair resource (plain values; no key material). */
export interface WireGuardKeyPairInputs {
  /** Rotation epoch index. */
  epoch: number;
  /** Rotation epoch start, ISO 8601; a change replaces the key. */
  epochStart: string;
  maxAgeDays: number;
}

/** Outputs (state) of the dynamic key-pair resource. */
export interface WireGuardKeyPairOutputs extends WireGuardKeyPairInputs, WireGuardKeyPair {
  /** The epoch start: the key's nominal creation time, ISO 8601. */
  createdAt: string;
}

/**
 * The dynamic provider behind {@link WireGuardKey}: `create` generates the key pair (the only place
 * a key is made), `diff` replaces exactly when the rotation epoch start changes, `update` never
 * changes the key (only a `maxAgeDays` change that keeps the epoch start reaches it), `read`
 * returns the state as it is. Exported so tests (and the mocks in components/testing.ts) can
 * drive it as the engine would.
 */
export const wireGuardKeyProvider: pulumi.dynamic.ResourceProvider<WireGuardKeyPairInputs, WireGuardKeyPairOutputs> = {
  async create(inputs: WireGuardKeyPairInputs) {
    const pair = generateWireGuardKeyPair();
    const outs: WireGuardKeyPairOutputs = {
      epoch: inputs.epoch,
      epochStart: inputs.epochStart,
      maxAgeDays: inputs.maxAgeDays,
      createdAt: inputs.epochStart,
      privateKey: pair.privateKey,
      publicKey: pair.publicKey,
    };
    return { id: `wgkey-${pair.publicKey.slice(0, 12).replace(/[+/]/g, '_')}`, outs };
  },
  async diff(_id: string, olds: WireGuardKeyPairOutputs, news: WireGuardKeyPairInputs) {
    if (olds.epochStart !== news.epochStart) {
      return { changes: true, replaces: ['epochStart'], deleteBeforeReplace: false };
    }
    const changes = olds.epoch !== news.epoch || olds.maxAgeDays !== news.maxAgeDays;
    return { changes };
  },
  async update(_id: string, olds: WireGuardKeyPairOutputs, news: WireGuardKeyPairInputs) {
    return { outs: { ...olds, epoch: news.epoch, maxAgeDays: news.maxAgeDays } };
  },
  async read(id: string, props?: WireGuardKeyPairOutputs) {
    return { id, props };
  },
};

/** Arguments of {@link WireGuardKey}. */
export interface WireGuardKeyArgs {
  /**
   * Maximum key age in days (whole days, 1 to 3650); default 90. The key is replaced by the first
   * `pulumi up` at or after `rotationDeadline(createdAt, maxAgeDays)`.
   */
  maxAgeDays?: number;
  /** The clock used to compute the rotation epoch; default `() => new Date()`. For tests. */
  now?: () => Date;
}

class WireGuardKeyPairResource extends pulumi.dynamic.Resource {
  declare public readonly privateKey: pulumi.Output<string>;
  declare public readonly publicKey: pulumi.Output<string>;
  declare public readonly createdAt: pulumi.Output<string>;

  constructor(name: string, inputs: WireGuardKeyPairInputs, opts: pulumi.CustomResourceOptions) {
    super(
      wireGuardKeyProvider,
      name,
      { ...inputs, privateKey: undefined, publicKey: undefined, createdAt: undefined },
      opts,
      'wiremesh',
      'WireGuardKeyPair',
    );
  }
}

/**
 * A WireGuard (X25519) key pair generated at deploy time and rotated every `maxAgeDays`.
 *
 * ```ts
 * const key = new WireGuardKey("gw-a", { maxAgeDays: 90 });
 * key.privateKey // Output<string>, secret: store it in Secrets Manager / Secret Manager
 * key.publicKey  // Output<string>, plain: peers' configuration
 * key.createdAt  // Output<string>, ISO 8601: tag it (wiremesh:key-created-at)
 * ```
 *
 * See the file header for the design and its limits.
 */
export class WireGuardKey extends pulumi.ComponentResource {
  /** The private key, base64 (`wg genkey` format). Always a secret Output. */
  public readonly privateKey: pulumi.Output<string>;
  /** The public key, base64 (`wg pubkey` format). Not secret. */
  public readonly publicKey: pulumi.Output<string>;
  /** Start of the key's rotation epoch, ISO 8601: its nominal creation time. */
  public readonly createdAt: pulumi.Output<string>;
  /** `rotationDeadline(createdAt, maxAgeDays)`: when the next `pulumi up` replaces the key. */
  public readonly rotationDeadline: pulumi.Output<string>;
  /** The maximum key age in days this key was created with. */
  public readonly maxAgeDays: number;

  constructor(name: string, args: WireGuardKeyArgs = {}, opts: pulumi.ComponentResourceOptions = {}) {
    // Validate before registering anything.
    const maxAgeDays = args.maxAgeDays ?? DEFAULT_MAX_KEY_AGE_DAYS;
    checkMaxAgeDays(maxAgeDays);
    const now = (args.now ?? (() => new Date()))();
    if (!(now instanceof Date)) throw new Error('WireGuardKey: now() must return a Date');
    const epoch = rotationEpoch(now, maxAgeDays);
    super('wiremesh:keys:WireGuardKey', name, {}, opts);
    this.maxAgeDays = maxAgeDays;

    const pair = new WireGuardKeyPairResource(
      `${name}-pair`,
      { epoch: epoch.index, epochStart: epoch.start, maxAgeDays },
      { parent: this, additionalSecretOutputs: ['privateKey'], replaceOnChanges: ['epochStart'] },
    );
    this.privateKey = pulumi.secret(pair.privateKey);
    this.publicKey = pulumi.unsecret(pair.publicKey);
    this.createdAt = pulumi.unsecret(pair.createdAt);
    this.rotationDeadline = this.createdAt.apply((createdAt) => rotationDeadline(createdAt, maxAgeDays));
    this.registerOutputs({
      privateKey: this.privateKey,
      publicKey: this.publicKey,
      createdAt: this.createdAt,
      rotationDeadline: this.rotationDeadline,
    });
  }
}
