/**
 * Which secrets of a stack hold WireGuard keys: those the components tag or label with a key role
 * or creation time, and untagged ones whose stored value is a WireGuard private key (a hand-written
 * `SecretVersion` holding what `wg genkey` printed, a wg-quick file, or JSON with a `privateKey`).
 * The rotation and access policies treat both alike; a tag is not what makes a key a key.
 */
import type { PolicyResource } from '@pulumi/policy';
import {
  AWS_TAG_KEY_CREATED_AT,
  AWS_TAG_ROLE,
  GCP_LABEL_KEY_CREATED_AT,
  GCP_LABEL_ROLE,
  get,
  keysOf,
  known,
  looksLikePrivateKey,
  stringMap,
  TYPES,
} from './common';

/** True for a secret tagged (AWS) or labelled (GCP) as holding a key. */
export function isTaggedKeySecret(r: { type: string; props: unknown }, roles: string[]): boolean {
  return known(() => {
    const marks = stringMap(get(r.props, r.type === TYPES.gcpSecret ? 'labels' : 'tags'));
    const role = marks[r.type === TYPES.gcpSecret ? GCP_LABEL_ROLE : AWS_TAG_ROLE];
    return (
      (role !== undefined && roles.includes(role)) ||
      marks[r.type === TYPES.gcpSecret ? GCP_LABEL_KEY_CREATED_AT : AWS_TAG_KEY_CREATED_AT] !== undefined
    );
  }, false);
}

/** True when a stored secret value is (or carries) a WireGuard private key. */
export function holdsPrivateKey(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  const text = value.trim();
  if (looksLikePrivateKey(text) || /^\s*PrivateKey\s*=/im.test(text)) return true;
  if (!text.startsWith('{')) return false;
  try {
    const doc = JSON.parse(text) as unknown;
    return keysOf(doc).some(
      (k) => /private_?key/i.test(k) && typeof get(doc, k) === 'string' && looksLikePrivateKey(get(doc, k)),
    );
  } catch {
    return false;
  }
}

/** Identifiers another resource may use to point at this one. */
export function idsOf(r: PolicyResource, keys: string[] = ['id', 'arn', 'name', 'secretId']): string[] {
  const out = [r.name];
  for (const key of keys) {
    const v = get(r.props, key);
    if (typeof v === 'string' && v !== '') out.push(v);
  }
  return out;
}

/** The last segment of `projects/P/secrets/S`, or the value itself. */
export function gcpSecretShortId(value: string): string {
  const m = /(?:^|\/)secrets\/([^/]+)/.exec(value);
  return m ? m[1]! : value;
}

/**
 * True when `from.props[prop]` refers to `target`: the value is one of the target's identifiers,
 * or, at preview when ids are still unknown, the engine's property dependencies say so.
 */
export function refersTo(
  from: PolicyResource,
  prop: string,
  target: PolicyResource,
  match: (value: string, ids: string[]) => boolean = (v, ids) => ids.includes(v),
): boolean {
  if ((from.propertyDependencies?.[prop] ?? []).some((d) => d.urn === target.urn)) return true;
  const value = get(from.props, prop);
  return typeof value === 'string' && value !== '' && match(value, idsOf(target));
}

const gcpMatch = (value: string, ids: string[]) =>
  ids.some((id) => id === value || gcpSecretShortId(id) === gcpSecretShortId(value));

/**
 * Secrets that are not tagged as key secrets but whose version holds a private key, each with that
 * version.
 */
export function untaggedKeySecrets(resources: PolicyResource[], roles: string[]): Map<PolicyResource, PolicyResource> {
  const out = new Map<PolicyResource, PolicyResource>();
  const secrets = resources.filter(
    (r) => (r.type === TYPES.awsSecret || r.type === TYPES.gcpSecret) && !isTaggedKeySecret(r, roles),
  );
  for (const version of resources) {
    const aws = version.type === TYPES.awsSecretVersion;
    if (!aws && version.type !== TYPES.gcpSecretVersion) continue;
    if (!known(() => holdsPrivateKey(get(version.props, aws ? 'secretString' : 'secretData')), false)) continue;
    const secret = secrets.find((s) =>
      known(
        () =>
          aws
            ? s.type === TYPES.awsSecret && refersTo(version, 'secretId', s)
            : s.type === TYPES.gcpSecret && refersTo(version, 'secret', s, gcpMatch),
        false,
      ),
    );
    if (secret && !out.has(secret)) out.set(secret, version);
  }
  return out;
}
