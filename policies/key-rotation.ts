/**
 * `wiremesh-key-rotation` (stack policy): every WireGuard key is younger than its maximum age and
 * has a rotation schedule.
 *
 * Keys it finds:
 * - the key pair of every `WireGuardKey` (`pulumi-nodejs:dynamic/wiremesh:WireGuardKeyPair`):
 *   created at `createdAt` (outputs) or `epochStart` (inputs), scheduled by its `maxAgeDays`;
 * - every key secret: an AWS Secrets Manager secret tagged `wiremesh:role` = a key role
 *   (`wireguard-private-key`, `wireguard-preshared-key`) or tagged `wiremesh:key-created-at`; a GCP
 *   Secret Manager secret labelled likewise (`wiremesh-role`, `wiremesh-key-created-at`, or the exact
 *   time in the `wiremesh-key-created-at` annotation). Its schedule is, in this order: a key pair
 *   with the same creation time (the secret holds that `WireGuardKey`'s key, as `AwsKeySecret` /
 *   `GcpKeySecret` do); an `aws.secretsmanager.SecretRotation` on it, or the GCP secret's
 *   `rotation.rotationPeriod` (the store rotates it: no age check, the period must fit); a
 *   `wiremesh:key-max-age-days` tag / `wiremesh-key-max-age-days` label (hand-written keys).
 *
 * A key past `createdAt + min(its maxAgeDays, maxAgeDays)` is reported at the policy's level, one
 * within `warnDays` of it at advisory level, each with what to run. A generation `<key>-g<N>` of
 * a rotated `WireGuardKey` (its `overlapDays` input, components/rotation.ts) is created (nominally)
 * one overlap before its epoch starts. While it is the newest generation of its key it is the key
 * in use (or about to be): its deadline is its epoch's end, `createdAt + maxAgeDays + overlapDays`,
 * by when a deploy must have created and switched to the next one. Once its successor is in the
 * stack it is only retiring, and must be gone one overlap later (`+ 2 * overlapDays`). Its
 * overlap may not exceed the policy's `maxOverlapDays`. Preshared keys
 * (`WireGuardPresharedKeyValue`) are key pairs for this policy. The clock is the `now` config
 * value (ISO 8601) when set, else the real clock: tests and `runPolicies({ now })` set it.
 *
 * Why a stack policy: a `WireGuardKey`'s inputs always carry the current epoch (the program computes
 * it from the clock), so only the state after the update says how old the key really is; and a
 * secret's schedule is often another resource (its key pair, a rotation).
 */
import type { PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy } from '@pulumi/policy';
import {
  AWS_TAG_KEY_CREATED_AT,
  AWS_TAG_KEY_MAX_AGE_DAYS,
  AWS_TAG_ROLE,
  clockFrom,
  configWithDefaults,
  DAY_MS,
  DEFAULT_KEY_SECRET_ROLES,
  DEFAULT_MAX_KEY_AGE_DAYS,
  GCP_ANNOTATION_KEY_CREATED_AT,
  GCP_LABEL_KEY_CREATED_AT,
  GCP_LABEL_KEY_MAX_AGE_DAYS,
  GCP_LABEL_ROLE,
  get,
  isoDate,
  unknownAt,
  known,
  reportAdvisory,
  stringMap,
  TYPES,
  WIREGUARD_KEY_PAIR_TYPE,
  WIREGUARD_PRESHARED_KEY_TYPE,
} from './common';
import { ROLE_PRIVATE_KEY } from '../common/defaults';
import { idsOf, untaggedKeySecrets } from './key-secrets';

export interface KeyRotationConfig {
  /** Maximum key age in days (default 90); a key with a longer `maxAgeDays` is reported too. */
  maxAgeDays: number;
  /** Days before the deadline from which a key is reported at advisory level (default 14; 0 = never). */
  warnDays: number;
  /** The instant to compare with, ISO 8601; default: the clock. */
  now: string;
  /** `wiremesh:role` / `wiremesh-role` values of secrets that hold keys. */
  keySecretRoles: string[];
  /** The longest overlap window a rotated key may have, days (default 7). */
  maxOverlapDays: number;
}

export const KEY_ROTATION_DEFAULTS: KeyRotationConfig = {
  maxAgeDays: DEFAULT_MAX_KEY_AGE_DAYS,
  warnDays: 14,
  now: '',
  keySecretRoles: DEFAULT_KEY_SECRET_ROLES,
  maxOverlapDays: 7,
};

const NAME = 'wiremesh-key-rotation';
const DESCRIPTION =
  'WireGuard keys are rotated: every key has a rotation schedule and is younger than its maximum age.';

/** A key the policy found, with what it knows about its age and schedule. */
interface FoundKey {
  resource: PolicyResource;
  what: string;
  createdAt?: Date;
  /** Its own schedule, days. */
  scheduleDays?: number;
  /** Where the schedule comes from (for messages). */
  scheduleSource?: string;
  /** Rotated by the store itself: no age check. */
  storeRotated?: boolean;
  /** Made by WireGuardKey: `pulumi up` rotates it. */
  generated: boolean;
  /** How to record a new creation time for a hand-written key. */
  createdAtField?: string;
  /** The creation time is unknown (preview of a replacement): no age check until it is known. */
  pending?: boolean;
  /** The key pair a secret holds (same creation time): reported through the pair. */
  pairOf?: FoundKey;
  /** The overlap window of a rotated generation, days (see the file header for its deadlines). */
  overlapDays?: number;
  /** A rotated generation whose successor is in the stack: no longer the key in use, only retiring. */
  retiring?: boolean;
}

function parseInstant(value: unknown): Date | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? new Date(ms) : undefined;
}

/** `2025-01-31t12-34-56z` (the GCP label form of components/gcp/key-secret.ts) as a Date. */
export function parseLabelInstant(label: unknown): Date | undefined {
  if (typeof label !== 'string') return undefined;
  const m = /^(\d{4}-\d{2}-\d{2})t(\d{2})-(\d{2})-(\d{2})z$/.exec(label);
  return m ? parseInstant(`${m[1]}T${m[2]}:${m[3]}:${m[4]}Z`) : undefined;
}

function positiveDays(value: unknown): number | undefined {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : undefined;
}

/** `7776000s` (a protobuf Duration) in days. */
function durationDays(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)s$/.exec(value.trim());
  return m ? Number(m[1]) / 86_400 : undefined;
}

function isKeyPair(r: PolicyResource): boolean {
  if (r.type === WIREGUARD_KEY_PAIR_TYPE || r.type.endsWith('/wiremesh:WireGuardKeyPair')) return true;
  if (r.type === WIREGUARD_PRESHARED_KEY_TYPE) return true;
  // Older SDKs register every dynamic resource as pulumi-nodejs:dynamic:Resource.
  return (
    r.type === 'pulumi-nodejs:dynamic:Resource' &&
    get(r.props, 'epochStart') !== undefined &&
    get(r.props, 'maxAgeDays') !== undefined
  );
}

function sameSecond(a: Date | undefined, b: Date | undefined): boolean {
  return a !== undefined && b !== undefined && Math.floor(a.getTime() / 1000) === Math.floor(b.getTime() / 1000);
}

function collectKeys(resources: PolicyResource[], config: KeyRotationConfig): FoundKey[] {
  const keys: FoundKey[] = [];
  const pairs: FoundKey[] = [];
  for (const r of resources) {
    known(() => {
      if (!isKeyPair(r)) return;
      const key: FoundKey = {
        resource: r,
        what: `WireGuard key "${r.name}"`,
        generated: true,
        scheduleSource: 'its maxAgeDays',
      };
      const createdAt = parseInstant(get(r.props, 'createdAt')) ?? parseInstant(get(r.props, 'epochStart'));
      if (createdAt) key.createdAt = createdAt;
      else if (unknownAt(r.props, 'createdAt') || unknownAt(r.props, 'epochStart')) key.pending = true;
      const days = positiveDays(get(r.props, 'maxAgeDays'));
      if (days !== undefined) key.scheduleDays = days;
      const overlap = positiveDays(get(r.props, 'overlapDays'));
      if (overlap !== undefined) key.overlapDays = overlap;
      pairs.push(key);
      keys.push(key);
    }, undefined);
  }
  markRetiringGenerations(pairs);
  const rotations = resources.filter((r) => r.type === TYPES.awsSecretRotation);
  const untagged = untaggedKeySecrets(resources, config.keySecretRoles);
  /** What a secret is called in messages: an untagged one says why it counts. */
  const whatSecret = (r: PolicyResource, mark: string): string => {
    const version = untagged.get(r);
    return version
      ? `untagged key secret "${r.name}" (its version "${version.name}" holds a WireGuard private key; tag it ${mark})`
      : `key secret "${r.name}"`;
  };
  for (const r of resources) {
    known(() => {
      if (r.type === TYPES.awsSecret) {
        const tags = stringMap(get(r.props, 'tags'));
        const role = tags[AWS_TAG_ROLE];
        if (
          !(role !== undefined && config.keySecretRoles.includes(role)) &&
          tags[AWS_TAG_KEY_CREATED_AT] === undefined &&
          !untagged.has(r)
        )
          return;
        const key: FoundKey = {
          resource: r,
          what: whatSecret(r, `${AWS_TAG_ROLE}=${ROLE_PRIVATE_KEY}`),
          generated: false,
          createdAtField: `the ${AWS_TAG_KEY_CREATED_AT} tag`,
        };
        const createdAt = parseInstant(tags[AWS_TAG_KEY_CREATED_AT]);
        if (createdAt) key.createdAt = createdAt;
        else if (unknownAt(r.props, 'tags') || unknownAt(get(r.props, 'tags'), AWS_TAG_KEY_CREATED_AT))
          key.pending = true;
        const ids = idsOf(r);
        const rotation = rotations.find((rot) => ids.includes(get(rot.props, 'secretId')));
        const pair = pairs.find((p) => sameSecond(p.createdAt, createdAt));
        const tagDays = positiveDays(tags[AWS_TAG_KEY_MAX_AGE_DAYS]);
        if (pair) {
          Object.assign(key, {
            generated: true,
            scheduleSource: `the WireGuard key "${pair.resource.name}" it holds`,
            pairOf: pair,
          });
          if (pair.scheduleDays !== undefined) key.scheduleDays = pair.scheduleDays;
        } else if (rotation) {
          const rules = get(rotation.props, 'rotationRules');
          const days = positiveDays(get(rules, 'automaticallyAfterDays'));
          key.storeRotated = true;
          key.scheduleSource = `the SecretRotation "${rotation.name}"`;
          if (days !== undefined) key.scheduleDays = days;
          else if (typeof get(rules, 'scheduleExpression') === 'string') key.scheduleDays = 0; // a cron/rate schedule: trusted
        } else if (tagDays !== undefined) {
          key.scheduleDays = tagDays;
          key.scheduleSource = `its ${AWS_TAG_KEY_MAX_AGE_DAYS} tag`;
        }
        keys.push(key);
      } else if (r.type === TYPES.gcpSecret) {
        const labels = stringMap(get(r.props, 'labels'));
        const annotations = stringMap(get(r.props, 'annotations'));
        const role = labels[GCP_LABEL_ROLE];
        if (
          !(role !== undefined && config.keySecretRoles.includes(role)) &&
          labels[GCP_LABEL_KEY_CREATED_AT] === undefined &&
          !untagged.has(r)
        )
          return;
        const key: FoundKey = {
          resource: r,
          what: whatSecret(r, `${GCP_LABEL_ROLE}=${ROLE_PRIVATE_KEY}`),
          generated: false,
          createdAtField: `the ${GCP_LABEL_KEY_CREATED_AT} label`,
        };
        const createdAt =
          parseInstant(annotations[GCP_ANNOTATION_KEY_CREATED_AT]) ??
          parseLabelInstant(labels[GCP_LABEL_KEY_CREATED_AT]);
        if (createdAt) key.createdAt = createdAt;
        else if (unknownAt(r.props, 'labels') || unknownAt(get(r.props, 'labels'), GCP_LABEL_KEY_CREATED_AT))
          key.pending = true;
        const pair = pairs.find((p) => sameSecond(p.createdAt, createdAt));
        const period = durationDays(get(get(r.props, 'rotation'), 'rotationPeriod'));
        const labelDays = positiveDays(labels[GCP_LABEL_KEY_MAX_AGE_DAYS]);
        if (pair) {
          Object.assign(key, {
            generated: true,
            scheduleSource: `the WireGuard key "${pair.resource.name}" it holds`,
            pairOf: pair,
          });
          if (pair.scheduleDays !== undefined) key.scheduleDays = pair.scheduleDays;
        } else if (period !== undefined) {
          key.storeRotated = true;
          key.scheduleDays = period;
          key.scheduleSource = 'its rotation.rotationPeriod';
        } else if (labelDays !== undefined) {
          key.scheduleDays = labelDays;
          key.scheduleSource = `its ${GCP_LABEL_KEY_MAX_AGE_DAYS} label`;
        }
        keys.push(key);
      }
    }, undefined);
  }
  return keys;
}

/** The generations of one rotated WireGuardKey are its children `<key>-g<N>` (components/key.ts). */
function markRetiringGenerations(pairs: FoundKey[]): void {
  const generationOf = (k: FoundKey): { base: string; epoch: number } | undefined => {
    const m = /^(.*)-g(\d+)$/.exec(k.resource.name);
    const epoch = get(k.resource.props, 'epoch');
    return m && k.overlapDays !== undefined && typeof epoch === 'number' ? { base: m[1]!, epoch } : undefined;
  };
  for (const key of pairs) {
    const own = generationOf(key);
    if (own === undefined) continue;
    key.retiring = pairs.some((other) => {
      const g = generationOf(other);
      return other.resource.type === key.resource.type && g?.base === own.base && g.epoch > own.epoch;
    });
  }
}

function check(key: FoundKey, config: KeyRotationConfig, now: Date, reportViolation: ReportViolation): void {
  const urn = key.resource.urn;
  if (key.pairOf) return; // Reported through its key pair (same creation time, same schedule).
  if (key.pending && key.scheduleDays === undefined && !key.generated) return; // Its key pair is being replaced (preview).
  if (key.scheduleDays === undefined) {
    reportViolation(
      key.generated
        ? `${key.what} has no rotation schedule: create it with WireGuardKey and a maxAgeDays (at most ${config.maxAgeDays}).`
        : `${key.what} has no rotation schedule: generate the key with WireGuardKey (rotated by \`pulumi up\` every maxAgeDays), ` +
            `or add a rotation (aws.secretsmanager.SecretRotation / the GCP secret's rotation.rotationPeriod), ` +
            `or tag a hand-rotated key with its maximum age (${AWS_TAG_KEY_MAX_AGE_DAYS} / ${GCP_LABEL_KEY_MAX_AGE_DAYS}, at most ${config.maxAgeDays}).`,
      urn,
    );
  } else if (key.scheduleDays > config.maxAgeDays) {
    reportViolation(
      `${key.what} rotates every ${key.scheduleDays} days (${key.scheduleSource}), more than the maximum of ${config.maxAgeDays}: ` +
        `set ${key.generated ? 'maxAgeDays' : 'its schedule'} to at most ${config.maxAgeDays}.`,
      urn,
    );
  }
  if (key.overlapDays !== undefined && key.overlapDays > config.maxOverlapDays) {
    reportViolation(
      `${key.what} has an overlap window of ${key.overlapDays} days, more than the maximum of ${config.maxOverlapDays}: ` +
        `set overlapDays to at most ${config.maxOverlapDays} (two keys are valid during the overlap).`,
      urn,
    );
  }
  if (key.storeRotated) return; // The store rotates it; its creation tag is not updated by the rotation.
  if (key.pending) return; // Unknown until the update: checked then.
  if (key.createdAt === undefined) {
    reportViolation(
      `${key.what} has no creation time: set ${key.createdAtField ?? 'createdAt'} (ISO 8601) so its age can be checked` +
        `${key.generated ? '' : ' (AwsKeySecret / GcpKeySecret set it from WireGuardKey.createdAt)'}.`,
      urn,
    );
    return;
  }
  // A rotated generation is in use until its epoch ends (one overlap after its nominal creation
  // plus the epoch); once its successor exists it only waits for retirement, one more overlap.
  const overlap = Math.min(key.overlapDays ?? 0, config.maxOverlapDays);
  const maxDays = Math.min(key.scheduleDays || config.maxAgeDays, config.maxAgeDays) + (key.retiring ? 2 : 1) * overlap;
  const deadline = new Date(key.createdAt.getTime() + maxDays * DAY_MS);
  const ageDays = Math.floor((now.getTime() - key.createdAt.getTime()) / DAY_MS);
  const created = key.createdAt.toISOString();
  if (now.getTime() >= deadline.getTime()) {
    reportViolation(
      key.retiring
        ? `run \`pulumi up\` to retire: the ${key.what} (created ${created}, ${ageDays} days old) was replaced by its next generation and had to be retired by ${isoDate(deadline)} (its epoch plus two overlap windows, ${maxDays} days).`
        : key.generated
          ? `run \`pulumi up\` to rotate: the ${key.what} (created ${created}, ${ageDays} days old) expired on ${isoDate(deadline)} (maximum age ${maxDays} days).`
          : `rotate the ${key.what}: it was created ${created} (${ageDays} days ago) and expired on ${isoDate(deadline)} (maximum age ${maxDays} days). ` +
            `Put a new key version and update ${key.createdAtField}, or generate the key with WireGuardKey so that \`pulumi up\` rotates it.`,
      urn,
    );
  } else if (config.warnDays > 0 && now.getTime() >= deadline.getTime() - config.warnDays * DAY_MS) {
    const left = Math.ceil((deadline.getTime() - now.getTime()) / DAY_MS);
    reportAdvisory(
      reportViolation,
      { name: NAME, description: DESCRIPTION },
      key.generated
        ? `the ${key.what} expires on ${isoDate(deadline)} (in ${left} days): the first \`pulumi up\` on or after that day rotates it; make sure one runs (e.g. a scheduled daily \`pulumi up\`).`
        : `the ${key.what} expires on ${isoDate(deadline)} (in ${left} days): rotate it before then (new key version, new ${key.createdAtField}).`,
      urn,
    );
  }
}

export const keyRotation: StackValidationPolicy = {
  name: NAME,
  description: DESCRIPTION,
  enforcementLevel: 'mandatory',
  severity: 'high',
  configSchema: {
    properties: {
      maxAgeDays: {
        type: 'integer',
        minimum: 1,
        maximum: 3650,
        default: KEY_ROTATION_DEFAULTS.maxAgeDays,
        description: 'Maximum key age in days.',
      },
      warnDays: {
        type: 'integer',
        minimum: 0,
        default: KEY_ROTATION_DEFAULTS.warnDays,
        description: 'Report keys this many days before their deadline, at advisory level (0: never).',
      },
      now: {
        type: 'string',
        default: '',
        description: 'The instant to compare key ages with (ISO 8601); empty: the clock. For tests.',
      },
      maxOverlapDays: {
        type: 'integer',
        minimum: 0,
        default: KEY_ROTATION_DEFAULTS.maxOverlapDays,
        description:
          'The longest overlap window (days) a rotated key may have: the next key exists that long before its epoch and the old one that long after.',
      },
      keySecretRoles: {
        type: 'array',
        items: { type: 'string' },
        default: DEFAULT_KEY_SECRET_ROLES,
        description: 'Role tag/label values of secrets that hold keys.',
      },
    },
  },
  validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
    const config = configWithDefaults(KEY_ROTATION_DEFAULTS, args.getConfig<Record<string, unknown>>());
    const now = clockFrom(config.now);
    for (const key of collectKeys(args.resources, config)) check(key, config, now, reportViolation);
  },
};
