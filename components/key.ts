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
 * - **Rotation across deploys** (./rotation.ts, docs/key-rotation.md): the key is a sequence of
 *   generations, one per epoch of `maxAgeDays` days, shifted by an offset derived from the key's
 *   name. Each generation is its own child `<name>-g<N>`, so a rotation is a *create* (the next
 *   generation, one overlap window before the epoch ends) and later a *delete* (the old one, at
 *   retirement), never a replacement of the key in use. `current` is the generation documents
 *   name as `privateKey` / `publicKey`, `next` the one they offer as `nextPrivateKey` /
 *   `nextPublicKey` (phases next and switch). `rotation` is the plan (phase, what happens when):
 *   plain values computed from the clock, so `pulumi preview` shows it. `createdAt` of a generation
 *   is one overlap window before its epoch starts, never later than the real creation.
 *
 * ## Limits
 *
 * - Rotation happens only when `pulumi up` runs: schedule one (e.g. daily CI). Between the deadline
 *   and that run the key is older than `maxAgeDays`; the key-age policy sees it through `createdAt`.
 * - The first key of a stack may live less than `maxAgeDays` (it is created mid-epoch).
 * - Changing `maxAgeDays` or the name moves the epoch boundaries and therefore the generation.
 * - `overlapDays: 0` replaces the key in one step at the epoch end (no overlap): peers must learn
 *   the new public key in the same update.
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
import {
  checkMaxAgeDays,
  DAY_MS,
  DEFAULT_MAX_KEY_AGE_DAYS,
  defaultOverlapDays,
  generationCreatedAt,
  keyRotationPlan,
  type KeyRotationPlan,
} from './rotation';

export { DEFAULT_MAX_KEY_AGE_DAYS, DEFAULT_OVERLAP_DAYS, type KeyRotationPlan, type RotationPhase } from './rotation';

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
  /** Rotation epoch index (the generation). */
  epoch: number;
  /** Rotation epoch start, ISO 8601; a change replaces the key. */
  epochStart: string;
  maxAgeDays: number;
  /** The overlap window of a generation of a rotated WireGuardKey, days (the key-age policy reads it). */
  overlapDays?: number;
  /** The nominal creation time when it is not the epoch start (a generation: one overlap before it). */
  createdAt?: string;
}

/** Outputs (state) of the dynamic key-pair resource. */
export interface WireGuardKeyPairOutputs extends WireGuardKeyPairInputs, WireGuardKeyPair {
  /** The key's nominal creation time (`createdAt` input, else the epoch start), ISO 8601. */
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
      ...inputs,
      createdAt: inputs.createdAt ?? inputs.epochStart,
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
  /** Epoch length in days (whole days, 1 to 3650); default 90. */
  maxAgeDays?: number;
  /**
   * Overlap window in days (0, or under maxAgeDays / 4); default 7: the next generation exists
   * this long before the epoch ends, and the old one this long after. 0: replaced at the epoch end.
   */
  overlapDays?: number;
  /**
   * Every peer reported the next generation in use (status documents read before this deploy):
   * retire the old generation at the epoch end instead of `overlapDays` after it.
   */
  rotationComplete?: boolean;
  /** The clock used to compute the rotation plan; default `() => new Date()`. For tests. */
  now?: () => Date;
}

/** One generation of a {@link WireGuardKey}. */
export interface WireGuardKeyGeneration {
  /** The generation number (its epoch index). */
  generation: number;
  /** The private key, base64. Always a secret Output. */
  privateKey: pulumi.Output<string>;
  /** The public key, base64. Not secret. */
  publicKey: pulumi.Output<string>;
  /** Its nominal creation time, ISO 8601. */
  createdAt: pulumi.Output<string>;
}

class WireGuardKeyPairResource extends pulumi.dynamic.Resource {
  declare public readonly privateKey: pulumi.Output<string>;
  declare public readonly publicKey: pulumi.Output<string>;
  declare public readonly createdAt: pulumi.Output<string>;

  constructor(name: string, inputs: WireGuardKeyPairInputs, opts: pulumi.CustomResourceOptions) {
    super(
      wireGuardKeyProvider,
      name,
      // The outputs the provider makes are declared unknown inputs; a generation's createdAt is its own input.
      { privateKey: undefined, publicKey: undefined, createdAt: undefined, ...inputs },
      opts,
      'wiremesh',
      'WireGuardKeyPair',
    );
  }
}

/**
 * A WireGuard (X25519) key pair generated at deploy time and rotated every `maxAgeDays`, with an
 * overlap: `next` exists before `current` is retired (see ./rotation.ts).
 *
 * ```ts
 * const key = new WireGuardKey("gw-a", { maxAgeDays: 90, overlapDays: 7 });
 * key.privateKey // Output<string>, secret: the current generation, for Secrets Manager / Secret Manager
 * key.publicKey  // Output<string>, plain: peers' configuration
 * key.next       // the next generation during a rotation (nextPrivateKey / nextPublicKey), else undefined
 * key.rotation   // the plan: phase, generations, nextCreatedAt, switchAt, epochEnd, retireAt
 * ```
 *
 * See the file header for the design and its limits.
 */
export class WireGuardKey extends pulumi.ComponentResource {
  /** The current generation's private key, base64 (`wg genkey` format). Always a secret Output. */
  public readonly privateKey: pulumi.Output<string>;
  /** The current generation's public key, base64 (`wg pubkey` format). Not secret. */
  public readonly publicKey: pulumi.Output<string>;
  /** The current generation's nominal creation time, ISO 8601. */
  public readonly createdAt: pulumi.Output<string>;
  /** When the current generation is retired (the plan's `retireAt`), ISO 8601. */
  public readonly rotationDeadline: pulumi.Output<string>;
  /** The epoch length in days this key was created with. */
  public readonly maxAgeDays: number;
  /** The generation the documents name as `privateKey` / `publicKey`. */
  public readonly current: WireGuardKeyGeneration;
  /** The generation offered as `nextPrivateKey` / `nextPublicKey` (phases next and switch). */
  public readonly next: WireGuardKeyGeneration | undefined;
  /** The rotation plan at this deploy's clock (plain: known in a preview). */
  public readonly rotation: KeyRotationPlan;

  constructor(name: string, args: WireGuardKeyArgs = {}, opts: pulumi.ComponentResourceOptions = {}) {
    // Validate before registering anything.
    const maxAgeDays = args.maxAgeDays ?? DEFAULT_MAX_KEY_AGE_DAYS;
    checkMaxAgeDays(maxAgeDays);
    const overlapDays = args.overlapDays ?? defaultOverlapDays(maxAgeDays);
    const now = (args.now ?? (() => new Date()))();
    if (!(now instanceof Date)) throw new Error('WireGuardKey: now() must return a Date');
    const rotation = keyRotationPlan(name, now, maxAgeDays, overlapDays, args.rotationComplete ?? false);
    super('wiremesh:keys:WireGuardKey', name, {}, opts);
    this.maxAgeDays = maxAgeDays;
    this.rotation = rotation;

    const generation = (g: number): WireGuardKeyGeneration => {
      const epochStart = new Date((g * maxAgeDays + rotation.offsetDays) * DAY_MS).toISOString();
      const pair = new WireGuardKeyPairResource(
        `${name}-g${g}`,
        {
          epoch: g,
          epochStart,
          maxAgeDays,
          overlapDays,
          createdAt: generationCreatedAt(g, maxAgeDays, rotation.offsetDays, overlapDays),
        },
        { parent: this, additionalSecretOutputs: ['privateKey'], replaceOnChanges: ['epochStart'] },
      );
      return {
        generation: g,
        privateKey: pulumi.secret(pair.privateKey),
        publicKey: pulumi.unsecret(pair.publicKey),
        createdAt: pulumi.unsecret(pair.createdAt),
      };
    };
    this.current = generation(rotation.current);
    this.next = rotation.next === null ? undefined : generation(rotation.next);
    this.privateKey = this.current.privateKey;
    this.publicKey = this.current.publicKey;
    this.createdAt = this.current.createdAt;
    this.rotationDeadline = pulumi.output(rotation.retireAt);
    this.registerOutputs({
      privateKey: this.privateKey,
      publicKey: this.publicKey,
      createdAt: this.createdAt,
      rotationDeadline: this.rotationDeadline,
      nextPublicKey: this.next?.publicKey,
      rotation,
    });
  }
}
