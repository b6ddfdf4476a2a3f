/**
 * Shared helpers of the wiremesh policies: reading props safely (preview unknowns), WireGuard key
 * shapes, URNs and component parentage, gateway identification, tags and labels, config.
 *
 * Nothing here imports a cloud SDK or `@pulumi/pulumi`: the pack matches resources by type token,
 * so it loads fast and works whether or not `@pulumi/aws` / `@pulumi/gcp` are installed. Tag, label
 * and port names come from common/defaults.ts, key shapes from common/keys.ts, like the components'.
 */
import { gunzipSync } from 'node:zlib';
import type { ReportViolation } from '@pulumi/policy';
import type { PolicyConfigJSONSchema } from '@pulumi/policy/schema';
import {
  AWS_TAG_ROLE,
  GCP_GATEWAY_NETWORK_TAG,
  GCP_LABEL_ROLE,
  ROLE_GATEWAY,
  ROLE_PRESHARED_KEY,
  ROLE_PRIVATE_KEY,
} from '../common/defaults';
import { WIREGUARD_KEY_EXACT, wireguardKeysIn } from '../common/keys';

export { wireguardKeysIn };

// The proxy module is what the analyzer server wraps props with; its typings are stripped, so it is
// required with a local type (see the reference notes: the package's index.d.ts is broken).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const proxy = require('@pulumi/policy/proxy') as { UnknownValueError: new (...args: any[]) => Error };

/** The error the analyzer's props proxy throws when a value is unknown (preview). */
export const UnknownValueError = proxy.UnknownValueError;

/** True for the analyzer's "value unknown during preview" error. */
export function isUnknownError(error: unknown): boolean {
  return error instanceof UnknownValueError;
}

// ------------------------------------------------------------------------------------------------
// Names shared with the components (common/defaults.ts), and the policies' own.

export {
  AWS_TAG_KEY_CREATED_AT,
  AWS_TAG_ROLE,
  AWS_TAG_SITE,
  GCP_ANNOTATION_KEY_CREATED_AT,
  GCP_GATEWAY_NETWORK_TAG,
  GCP_LABEL_KEY_CREATED_AT,
  GCP_LABEL_ROLE,
  HEALTH_PORT,
  WIREGUARD_PORT,
} from '../common/defaults';

/** Optional tag on hand-written key secrets: their rotation schedule in days. */
export const AWS_TAG_KEY_MAX_AGE_DAYS = 'wiremesh:key-max-age-days';
export const GCP_LABEL_KEY_MAX_AGE_DAYS = 'wiremesh-key-max-age-days';
/** The dynamic resource type of WireGuardKey's key pair (components/key.ts; asserted equal in test/policies). */
export const WIREGUARD_KEY_PAIR_TYPE = 'pulumi-nodejs:dynamic/wiremesh:WireGuardKeyPair';
/** The dynamic resource type of WireGuardPresharedKey's value (components/preshared-key.ts). */
export const WIREGUARD_PRESHARED_KEY_TYPE = 'pulumi-nodejs:dynamic/wiremesh:WireGuardPresharedKeyValue';
export const DEFAULT_MAX_KEY_AGE_DAYS = 90;
/** Role tag/label values of secrets that hold key material. */
export const DEFAULT_KEY_SECRET_ROLES = [ROLE_PRIVATE_KEY, ROLE_PRESHARED_KEY];
/** Role tag/label values of gateway resources (AWS components tag `gateway`; GCP labels `wireguard-gateway`). */
export const DEFAULT_GATEWAY_ROLES = ['gateway', ROLE_GATEWAY];
/** Component types whose descendants are gateway resources. */
export const DEFAULT_GATEWAY_COMPONENT_TYPES = [
  'wiremesh:aws:AwsGateway',
  'wiremesh:aws:AwsGatewayGroup',
  'wiremesh:gcp:GcpGateway',
  'wiremesh:gcp:GcpGatewayGroup',
];

export const TYPES = {
  stack: 'pulumi:pulumi:Stack',
  awsSecret: 'aws:secretsmanager/secret:Secret',
  awsSecretVersion: 'aws:secretsmanager/secretVersion:SecretVersion',
  awsSecretPolicy: 'aws:secretsmanager/secretPolicy:SecretPolicy',
  awsSecretRotation: 'aws:secretsmanager/secretRotation:SecretRotation',
  awsInstance: 'aws:ec2/instance:Instance',
  awsLaunchTemplate: 'aws:ec2/launchTemplate:LaunchTemplate',
  awsLaunchConfiguration: 'aws:ec2/launchConfiguration:LaunchConfiguration',
  awsNetworkInterface: 'aws:ec2/networkInterface:NetworkInterface',
  awsSecurityGroup: 'aws:ec2/securityGroup:SecurityGroup',
  awsSecurityGroupRule: 'aws:ec2/securityGroupRule:SecurityGroupRule',
  awsVpcIngressRule: 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule',
  awsRole: 'aws:iam/role:Role',
  awsRolePolicy: 'aws:iam/rolePolicy:RolePolicy',
  awsPolicy: 'aws:iam/policy:Policy',
  awsRolePolicyAttachment: 'aws:iam/rolePolicyAttachment:RolePolicyAttachment',
  awsPolicyAttachment: 'aws:iam/policyAttachment:PolicyAttachment',
  awsUserPolicy: 'aws:iam/userPolicy:UserPolicy',
  awsGroupPolicy: 'aws:iam/groupPolicy:GroupPolicy',
  awsUserPolicyAttachment: 'aws:iam/userPolicyAttachment:UserPolicyAttachment',
  awsGroupPolicyAttachment: 'aws:iam/groupPolicyAttachment:GroupPolicyAttachment',
  awsInstanceProfile: 'aws:iam/instanceProfile:InstanceProfile',
  awsSsmParameter: 'aws:ssm/parameter:Parameter',
  gcpSecret: 'gcp:secretmanager/secret:Secret',
  gcpSecretVersion: 'gcp:secretmanager/secretVersion:SecretVersion',
  gcpSecretIamMember: 'gcp:secretmanager/secretIamMember:SecretIamMember',
  gcpSecretIamBinding: 'gcp:secretmanager/secretIamBinding:SecretIamBinding',
  gcpSecretIamPolicy: 'gcp:secretmanager/secretIamPolicy:SecretIamPolicy',
  gcpProjectIamMember: 'gcp:projects/iAMMember:IAMMember',
  gcpProjectIamBinding: 'gcp:projects/iAMBinding:IAMBinding',
  gcpInstance: 'gcp:compute/instance:Instance',
  gcpInstanceTemplate: 'gcp:compute/instanceTemplate:InstanceTemplate',
  gcpFirewall: 'gcp:compute/firewall:Firewall',
  gcpServiceAccount: 'gcp:serviceaccount/account:Account',
} as const;

// ------------------------------------------------------------------------------------------------
// Reading props that may hold preview unknowns.

/**
 * `obj[key]`, or `undefined` when the value is unknown (preview) or `obj` is not an object.
 * Props handed to policies by the analyzer are proxies that throw on unknown values; policies that
 * scan many values use this so one unknown does not stop the whole check.
 */
export function get(obj: unknown, key: string | number): any {
  if (typeof obj !== 'object' || obj === null) return undefined;
  try {
    return (obj as Record<string | number, unknown>)[key];
  } catch (error) {
    if (isUnknownError(error)) return undefined;
    throw error;
  }
}

/** True when `obj[key]` is a preview unknown (as opposed to absent). */
export function unknownAt(obj: unknown, key: string | number): boolean {
  if (typeof obj !== 'object' || obj === null) return false;
  try {
    void (obj as Record<string | number, unknown>)[key];
    return false;
  } catch (error) {
    if (isUnknownError(error)) return true;
    throw error;
  }
}

/** `fn()`, or `fallback` when it hits an unknown value. */
export function known<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch (error) {
    if (isUnknownError(error)) return fallback;
    throw error;
  }
}

/** Own enumerable keys (the unknown-checking proxy does not trap `ownKeys`). */
export function keysOf(obj: unknown): string[] {
  if (typeof obj !== 'object' || obj === null) return [];
  return Object.keys(obj);
}

/**
 * The strings of a prop that is a string or an array of strings. When the prop or one of its
 * elements is a preview unknown, `path` is added to `unknown`: the caller must not read the known
 * part as the whole.
 */
export function knownStrings(obj: unknown, key: string, unknown: string[], path: string = key): string[] {
  if (unknownAt(obj, key)) {
    unknown.push(path);
    return [];
  }
  const value = get(obj, key);
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value)) return [];
  const out: string[] = [];
  for (let i = 0; i < value.length; i++) {
    if (unknownAt(value, i)) {
      if (!unknown.includes(path)) unknown.push(path);
      continue;
    }
    const element = get(value, i);
    if (typeof element === 'string') out.push(element);
  }
  return out;
}

/** An array prop as a plain array of its known elements (unknown elements left out). */
export function arrayOf(value: unknown): any[] {
  if (!Array.isArray(value)) return [];
  const out: any[] = [];
  for (let i = 0; i < value.length; i++) {
    const element = get(value, i);
    if (element !== undefined) out.push(element);
  }
  return out;
}

/** A string-valued map prop (tags, labels) with its known string values. */
export function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of keysOf(value)) {
    const v = get(value, key);
    if (typeof v === 'string') out[key] = v;
  }
  return out;
}

/**
 * Every string in a value with its path (`$.metadata.user-data`), skipping unknowns. Depth- and
 * size-bounded so a huge prop cannot stall the analyzer.
 */
export function stringsIn(
  value: unknown,
  path = '$',
  out: Array<{ path: string; value: string }> = [],
  depth = 0,
): Array<{ path: string; value: string }> {
  if (depth > 32 || out.length > 10_000) return out;
  if (typeof value === 'string') {
    out.push({ path, value });
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) stringsIn(get(value, i), `${path}[${i}]`, out, depth + 1);
  } else if (typeof value === 'object' && value !== null) {
    for (const key of keysOf(value)) stringsIn(get(value, key), `${path}.${key}`, out, depth + 1);
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// WireGuard key shapes.

/** wg-quick / wg setconf lines carrying secrets. */
const SECRET_LINE = /^\s*(PrivateKey|PresharedKey)\s*=/im;

/** True when `value` is exactly a WireGuard-shaped key (private, public or preshared: they look alike). */
export function isKeyShaped(value: string): boolean {
  return WIREGUARD_KEY_EXACT.test(value.trim());
}

/**
 * True when a key-shaped value decodes to a *clamped* X25519 private key (RFC 7748: low 3 bits of
 * the first byte clear, top bit of the last clear, next bit set), as every `wg genkey` key is. A
 * random 32-byte value (a public key, a SHA-256 digest) passes this 1 time in 32.
 */
export function looksLikePrivateKey(value: string): boolean {
  if (!isKeyShaped(value)) return false;
  const bytes = Buffer.from(value.trim(), 'base64');
  return bytes.length === 32 && (bytes[0]! & 7) === 0 && (bytes[31]! & 0xc0) === 0x40;
}

/** What key material a text holds: key-shaped values (count) and wg-quick secret lines. */
export function keyMaterialIn(text: string): { keyShaped: number; privateLooking: number; secretLine?: string } {
  const matches = wireguardKeysIn(text).map((m) => m[0]);
  const line = SECRET_LINE.exec(text);
  const result: { keyShaped: number; privateLooking: number; secretLine?: string } = {
    keyShaped: matches.length,
    privateLooking: matches.filter(looksLikePrivateKey).length,
  };
  if (line) result.secretLine = `${line[1]} =`;
  return result;
}

/** The most a gzip payload may expand to before the scan gives up on it (a zip bomb stops here). */
const MAX_GUNZIPPED_BYTES = 4 * 1024 * 1024;

/**
 * Decodes base64 text when it is valid base64 of printable text, gunzipping it first when it is
 * gzip (cloud-init accepts gzip-compressed user data, `userDataBase64` / launch templates carry it
 * so); otherwise `undefined`.
 */
export function decodeBase64Text(value: string): string | undefined {
  const trimmed = value.replace(/\s+/g, '');
  if (trimmed.length < 8 || trimmed.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) return undefined;
  let bytes: Buffer = Buffer.from(trimmed, 'base64');
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: MAX_GUNZIPPED_BYTES });
    } catch {
      return undefined;
    }
  }
  const text = bytes.toString('utf8');
  // eslint-disable-next-line no-control-regex
  return /^[\x09\x0a\x0d\x20-\x7e\u00a0-\uffff]*$/.test(text) ? text : undefined;
}

// ------------------------------------------------------------------------------------------------
// URNs and parentage.

/** The parts of `urn:pulumi:STACK::PROJECT::PARENT$...$TYPE::NAME`. */
export interface ParsedUrn {
  stack: string;
  project: string;
  /** The qualified type's chain, outermost parent first, the resource's own type last. */
  typeChain: string[];
  name: string;
}

export function parseUrn(urn: string | undefined): ParsedUrn | undefined {
  if (typeof urn !== 'string' || !urn.startsWith('urn:pulumi:')) return undefined;
  const parts = urn.slice('urn:pulumi:'.length).split('::');
  if (parts.length < 4) return undefined;
  return { stack: parts[0]!, project: parts[1]!, typeChain: parts[2]!.split('$'), name: parts.slice(3).join('::') };
}

/** The types of a resource's ancestors, read from its URN (the engine encodes them there). */
export function ancestorTypes(urn: string | undefined): string[] {
  const parsed = parseUrn(urn);
  return parsed ? parsed.typeChain.slice(0, -1) : [];
}

// ------------------------------------------------------------------------------------------------
// Gateways.

/** How gateways are recognised; part of the config of every policy that needs it. */
export interface GatewayIdentification {
  /** Component types whose descendants are gateway resources. */
  gatewayComponentTypes: string[];
  /** Values of the `wiremesh:role` tag / `wiremesh-role` label that mark a gateway resource. */
  gatewayRoles: string[];
  /** GCP network tags that mark a gateway instance (and firewalls targeting it). */
  gatewayNetworkTags: string[];
}

export const DEFAULT_GATEWAY_IDENTIFICATION: GatewayIdentification = {
  gatewayComponentTypes: DEFAULT_GATEWAY_COMPONENT_TYPES,
  gatewayRoles: DEFAULT_GATEWAY_ROLES,
  gatewayNetworkTags: [GCP_GATEWAY_NETWORK_TAG],
};

export const GATEWAY_IDENTIFICATION_SCHEMA: Record<keyof GatewayIdentification, PolicyConfigJSONSchema> = {
  gatewayComponentTypes: {
    type: 'array',
    items: { type: 'string' },
    default: DEFAULT_GATEWAY_COMPONENT_TYPES,
    description: 'Component types whose descendant resources are gateways (read from the URN).',
  },
  gatewayRoles: {
    type: 'array',
    items: { type: 'string' },
    default: DEFAULT_GATEWAY_ROLES,
    description: `Values of the "${AWS_TAG_ROLE}" tag (AWS) or "${GCP_LABEL_ROLE}" label (GCP) that mark a gateway resource.`,
  },
  gatewayNetworkTags: {
    type: 'array',
    items: { type: 'string' },
    default: [GCP_GATEWAY_NETWORK_TAG],
    description: 'GCP network tags that mark a gateway instance (and firewalls whose targetTags name them).',
  },
};

/** Why a resource counts as a gateway, or `undefined` when it does not. */
export function gatewayReason(urn: string | undefined, props: unknown, ids: GatewayIdentification): string | undefined {
  const ancestor = ancestorTypes(urn).find((t) => ids.gatewayComponentTypes.includes(t));
  if (ancestor) return `part of a ${ancestor} component`;
  const role = stringMap(get(props, 'tags'))[AWS_TAG_ROLE];
  if (role !== undefined && ids.gatewayRoles.includes(role)) return `tagged ${AWS_TAG_ROLE}=${role}`;
  const label = stringMap(get(props, 'labels'))[GCP_LABEL_ROLE];
  if (label !== undefined && ids.gatewayRoles.includes(label)) return `labelled ${GCP_LABEL_ROLE}=${label}`;
  const networkTags = arrayOf(get(props, 'tags')).filter((t): t is string => typeof t === 'string');
  const networkTag = networkTags.find((t) => ids.gatewayNetworkTags.includes(t));
  if (networkTag) return `network tag ${networkTag}`;
  return undefined;
}

// ------------------------------------------------------------------------------------------------
// Config and reporting.

/** The policy's config over its defaults: values of the wrong type fall back to the default. */
export function configWithDefaults<T extends object>(defaults: T, given: Record<string, unknown> | undefined): T {
  const out = { ...defaults } as Record<string, unknown>;
  for (const [key, value] of Object.entries(given ?? {})) {
    if (!(key in defaults) || value === undefined || value === null) continue;
    const fallback = (defaults as Record<string, unknown>)[key];
    if (Array.isArray(fallback) ? Array.isArray(value) : typeof value === typeof fallback) out[key] = value;
  }
  return out as T;
}

/** The instant policies compare key ages with: the `now` config value (ISO 8601) or the clock. */
export function clockFrom(nowConfig: unknown): Date {
  if (typeof nowConfig === 'string' && nowConfig !== '') {
    const ms = Date.parse(nowConfig);
    if (!Number.isFinite(ms))
      throw new Error(`the "now" config value must be an ISO 8601 date, got ${JSON.stringify(nowConfig)}`);
    return new Date(ms);
  }
  return new Date();
}

/**
 * Reports a warning at `advisory` level whatever the policy's own level (the analyzer accepts a
 * violation object with its own enforcement level; the typings only declare the string form).
 */
export function reportAdvisory(
  reportViolation: ReportViolation,
  policy: { name: string; description: string },
  message: string,
  urn?: string,
): void {
  const info = {
    name: policy.name,
    description: policy.description,
    message: `${policy.description}\n${message}`,
    enforcementLevel: 'advisory',
    urn,
  };
  (reportViolation as unknown as (info: Record<string, unknown>) => void)(info);
}

/** The date of `date` in ISO form (YYYY-MM-DD, UTC). */
export function isoDate(date: Date): string {
  return date.toISOString().slice(0, 10);
}

export const DAY_MS = 86_400_000;
