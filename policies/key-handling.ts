/**
 * Key handling: private and preshared keys live only in AWS Secrets Manager / GCP Secret Manager.
 *
 * - `wiremesh-key-material` (resource policy): no key material where it leaks.
 *   - **Strict places** (any WireGuard-shaped value, i.e. 44 characters of base64 ending in `=`, or
 *     a `PrivateKey =` / `PresharedKey =` line): EC2 user data (`userData`, `userDataBase64`, launch
 *     templates and configurations, base64 decoded), GCP instance metadata (`metadata.*`,
 *     `metadataStartupScript`, instances and templates), tags and labels of every resource
 *     (`tags`, `tagsAll`, `labels`, `effectiveLabels`, `terraformLabels`, `annotations`). Public keys
 *     are refused there too: a key-shaped value cannot be told apart from a private one, and none
 *     belongs there (the components pass secret references only).
 *   - **Everywhere else**: values that decode to a clamped X25519 private key (what `wg genkey`
 *     makes), key-shaped values under a property named like a private/preshared key or secret, and
 *     `PrivateKey =` lines; SSM parameters holding any key-shaped value. Properties named like a
 *     public key, hash, digest, etag or checksum are skipped (a SHA-256 digest in base64 has the
 *     same shape).
 *   - **Allowed holders**: the secret stores' versions (`secretString`, `secretBinary`,
 *     `secretData` and their write-only forms), the WireGuardKey key pair and the WireGuardPresharedKey value themselves (their state is
 *     encrypted), and `@pulumi/command` `remote.Command` `stdin` (how `RemoteHostAgent` hands an
 *     on-premises host its key; `allowRemoteCommandStdin: false` refuses it). `allowedTypes` adds
 *     more resource types.
 * - `wiremesh-no-keys-in-outputs` (stack policy): stack outputs hold no key material (key-shaped
 *   values outside outputs named like a public key, `PrivateKey =` lines). Outputs are plain text
 *   in `pulumi stack output` and to everyone reading the stack, whether or not marked secret.
 * - `wiremesh-key-secret-kms` (resource policy, **disabled by default**): AWS key secrets are
 *   encrypted with a customer-managed KMS key (`kmsKeyId` set, not `alias/aws/secretsmanager`).
 *   Enable it with `enforcementLevel: mandatory` in the policy config.
 *
 * Secrets in policy inputs: the analyzer hands policies secret values *unwrapped* (plain), so the
 * scans see the content of secret inputs too; a value still unknown at preview is skipped (it is
 * checked again, known, during the update).
 */
import { x25519 } from '@noble/curves/ed25519';
import type {
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from '@pulumi/policy';
import {
  configWithDefaults,
  decodeBase64Text,
  DEFAULT_KEY_SECRET_ROLES,
  get,
  isKeyShaped,
  keyMaterialIn,
  keysOf,
  looksLikePrivateKey,
  stringsIn,
  TYPES,
  WIREGUARD_KEY_PAIR_TYPE,
  wireguardKeysIn,
  WIREGUARD_PRESHARED_KEY_TYPE,
} from './common';
import { isTaggedKeySecret } from './key-secrets';

// ------------------------------------------------------------------------------------------------
// wiremesh-key-material

export interface KeyMaterialConfig {
  /** Accept key material in `command:remote:Command` `stdin` (RemoteHostAgent). Default true. */
  allowRemoteCommandStdin: boolean;
  /** Further resource types allowed to hold keys (e.g. another secret store's type). */
  allowedTypes: string[];
}

export const KEY_MATERIAL_DEFAULTS: KeyMaterialConfig = { allowRemoteCommandStdin: true, allowedTypes: [] };

/** Props of a resource type that may hold keys. */
const KEY_HOLDERS: Record<string, string[] | '*'> = {
  [TYPES.awsSecretVersion]: ['secretString', 'secretBinary', 'secretStringWo'],
  [TYPES.gcpSecretVersion]: ['secretData', 'secretDataWo'],
  [WIREGUARD_KEY_PAIR_TYPE]: '*',
  [WIREGUARD_PRESHARED_KEY_TYPE]: '*',
};

const TAG_PROPS = [
  'tags',
  'tagsAll',
  'labels',
  'effectiveLabels',
  'terraformLabels',
  'pulumiLabels',
  'annotations',
  'effectiveAnnotations',
];
const USER_DATA_TYPES = [TYPES.awsInstance, TYPES.awsLaunchTemplate, TYPES.awsLaunchConfiguration];
const METADATA_TYPES = [TYPES.gcpInstance, TYPES.gcpInstanceTemplate];
/** Path segments never holding private keys whose values look like keys. */
const SKIPPED_SEGMENT = /public_?key|hash|digest|etag|checksum|fingerprint/i;
/** Path segments naming a private key or secret. */
const SECRET_SEGMENT = /private|preshared|psk|secret/i;

function strictFinding(text: string, decode: boolean): string | undefined {
  const found = [text, ...(decode ? [decodeBase64Text(text)].filter((t): t is string => t !== undefined) : [])].map(
    keyMaterialIn,
  );
  for (const f of found) {
    if (f.secretLine) return `a "${f.secretLine}" line`;
    if (f.keyShaped > 0) return 'a WireGuard-shaped key (44 characters of base64)';
  }
  return undefined;
}

function looseFinding(path: string, text: string): string | undefined {
  const segments = path.split(/[.[\]]+/).filter(Boolean);
  if (segments.some((s) => SKIPPED_SEGMENT.test(s))) return undefined;
  const f = keyMaterialIn(text);
  if (f.secretLine) return `a "${f.secretLine}" line`;
  if (f.privateLooking > 0 || looksLikePrivateKey(text))
    return 'a WireGuard private key (a clamped X25519 key in base64)';
  if (f.keyShaped > 0 && segments.some((s) => SECRET_SEGMENT.test(s)))
    return 'a WireGuard-shaped key under a secret-named property';
  return undefined;
}

const WHERE_TO_PUT =
  'keep private and preshared keys only in AWS Secrets Manager / GCP Secret Manager and pass a secret reference ' +
  '(the secret ARN / name) that the host reads with its own identity (AwsKeySecret / GcpKeySecret and agentCloudInit do this)';

function validateKeyMaterial(args: ResourceValidationArgs, reportViolation: ReportViolation): void {
  const config = configWithDefaults(KEY_MATERIAL_DEFAULTS, args.getConfig<Record<string, unknown>>());
  const holder = KEY_HOLDERS[args.type];
  if (holder === '*' || config.allowedTypes.includes(args.type)) args.notApplicable('a key store: it may hold keys');
  const allowedProps = new Set<string>(Array.isArray(holder) ? holder : []);
  if (args.type === 'command:remote:Command' && config.allowRemoteCommandStdin) allowedProps.add('stdin');
  const label = `${args.type} "${args.name}"`;
  const reported = new Set<string>();
  const report = (top: string, message: string): void => {
    if (reported.has(top)) return;
    reported.add(top);
    reportViolation(message);
  };

  for (const top of keysOf(args.props)) {
    if (allowedProps.has(top)) continue;
    const value = get(args.props, top);
    if (value === undefined) continue;
    if (TAG_PROPS.includes(top)) {
      for (const { path, value: text } of stringsIn(value, top)) {
        const finding = strictFinding(text, false);
        if (finding)
          report(
            top,
            `${label}: ${path} holds ${finding}: tags and labels are readable by anyone who can list the resource; remove it (${WHERE_TO_PUT}).`,
          );
      }
    } else if (USER_DATA_TYPES.includes(args.type as (typeof USER_DATA_TYPES)[number]) && /^userData/.test(top)) {
      for (const { path, value: text } of stringsIn(value, top)) {
        const finding = strictFinding(
          text,
          top === 'userDataBase64' || args.type !== TYPES.awsInstance || decodeBase64Text(text) !== undefined,
        );
        if (finding)
          report(
            top,
            `${label}: user data (${path}) holds ${finding}: user data is readable from the instance metadata service and the console; ${WHERE_TO_PUT}.`,
          );
      }
    } else if (
      METADATA_TYPES.includes(args.type as (typeof METADATA_TYPES)[number]) &&
      (top === 'metadata' || top === 'metadataStartupScript')
    ) {
      for (const { path, value: text } of stringsIn(value, top)) {
        const finding = strictFinding(text, true);
        if (finding)
          report(
            top,
            `${label}: instance metadata (${path}) holds ${finding}: metadata is readable by every process on the VM and by project viewers; ${WHERE_TO_PUT}.`,
          );
      }
    } else if (args.type === TYPES.awsSsmParameter && (top === 'value' || top === 'insecureValue')) {
      for (const { path, value: text } of stringsIn(value, top)) {
        if (isKeyShaped(text) || keyMaterialIn(text).secretLine) {
          report(
            top,
            `${label}: ${path} holds a WireGuard-shaped key: move it to AWS Secrets Manager (AwsKeySecret) and point the agent at the secret ARN.`,
          );
        }
      }
    } else {
      for (const { path, value: text } of stringsIn(value, top)) {
        const finding = looseFinding(path, text);
        if (finding) report(top, `${label}: ${path} holds ${finding}: ${WHERE_TO_PUT}.`);
      }
    }
  }
}

export const keyMaterial: ResourceValidationPolicy = {
  name: 'wiremesh-key-material',
  description:
    'No WireGuard key material outside the secret stores: none in user data, instance metadata, tags or labels, or other resource properties.',
  enforcementLevel: 'mandatory',
  severity: 'critical',
  configSchema: {
    properties: {
      allowRemoteCommandStdin: {
        type: 'boolean',
        default: true,
        description:
          'Accept keys in @pulumi/command remote.Command stdin (how RemoteHostAgent hands an on-premises host its key).',
      },
      allowedTypes: {
        type: 'array',
        items: { type: 'string' },
        default: [],
        description: 'Further resource types allowed to hold keys.',
      },
    },
  },
  validateResource: validateKeyMaterial,
};

// ------------------------------------------------------------------------------------------------
// wiremesh-no-keys-in-outputs

/** The public key of a private key (what `wg pubkey` prints). */
function derivedPublicKey(privateKey: string): string {
  return Buffer.from(x25519.getPublicKey(Buffer.from(privateKey, 'base64'))).toString('base64');
}

/**
 * The key-shaped values the stack's other resources hold, split into those held as private keys
 * (under private-, preshared- or secret-named props, secret versions, the key pair's privateKey)
 * and all of them (where a public key derived from an exported value would show up).
 */
function keysHeldInStack(resources: StackValidationArgs['resources']): {
  privateHolders: Map<string, string>;
  all: Set<string>;
} {
  const privateHolders = new Map<string, string>();
  const all = new Set<string>();
  for (const r of resources) {
    if (r.type === TYPES.stack) continue;
    for (const { path, value } of stringsIn(r.props, '')) {
      for (const key of wireguardKeysIn(value).map((m) => m[0])) {
        all.add(key);
        // A secret store's value is a private key when it is the key, or a wg-quick PrivateKey line
        // (an agent configuration document stored there holds peers' public keys).
        const stored =
          Array.isArray(KEY_HOLDERS[r.type]) && (KEY_HOLDERS[r.type] as string[]).some((p) => path.startsWith(`.${p}`));
        const storedAsPrivate =
          stored &&
          (value.trim() === key ||
            new RegExp(`^\\s*PrivateKey\\s*=\\s*${key.replace(/[+/]/g, '\\$&')}`, 'm').test(value));
        if (
          storedAsPrivate ||
          (!stored && path.split(/[.[\]]+/).some((seg) => SECRET_SEGMENT.test(seg) && !SKIPPED_SEGMENT.test(seg)))
        ) {
          if (!privateHolders.has(key)) privateHolders.set(key, `${r.type.split(':').pop()} "${r.name}"${path}`);
        }
      }
    }
  }
  return { privateHolders, all };
}

const NO_OUTPUT_KEYS =
  'do not export private or preshared keys (export the public key, under a name containing "publicKey", or the secret\'s ARN/name); ' +
  'outputs are shown by `pulumi stack output` to anyone who can read the stack.';

export const noKeysInOutputs: StackValidationPolicy = {
  name: 'wiremesh-no-keys-in-outputs',
  description: 'Stack outputs hold no WireGuard private or preshared keys.',
  enforcementLevel: 'mandatory',
  severity: 'critical',
  validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
    let held: ReturnType<typeof keysHeldInStack> | undefined;
    for (const stack of args.resources.filter((r) => r.type === TYPES.stack)) {
      for (const { path, value } of stringsIn(stack.props, '')) {
        const name = path.replace(/^\./, '');
        const segments = name.split(/[.[\]]+/).filter(Boolean);
        const found = keyMaterialIn(value);
        const publicNamed = segments.some((s) => /public_?key/i.test(s));
        if (found.secretLine || (found.keyShaped > 0 && !publicNamed)) {
          reportViolation(
            `stack output "${name}" holds ${found.secretLine ? `a "${found.secretLine}" line` : 'a WireGuard-shaped key'}: ${NO_OUTPUT_KEYS}`,
            stack.urn,
          );
          continue;
        }
        if (found.keyShaped === 0) continue;
        // Named like a public key: its name proves nothing, so check what the value is.
        held ??= keysHeldInStack(args.resources);
        for (const key of wireguardKeysIn(value).map((m) => m[0])) {
          const holder = held.privateHolders.get(key);
          const derivedFrom = holder === undefined && held.all.has(derivedPublicKey(key));
          if (holder !== undefined || derivedFrom) {
            reportViolation(
              `stack output "${name}" is named like a public key but holds a private key ` +
                `(${holder !== undefined ? `the value ${holder} holds as a private key` : 'its public key, derived from it, is in the stack'}): ${NO_OUTPUT_KEYS}`,
              stack.urn,
            );
            break;
          }
        }
      }
    }
  },
};

// ------------------------------------------------------------------------------------------------
// wiremesh-key-secret-kms

export interface KeySecretKmsConfig {
  keySecretRoles: string[];
}

export const KEY_SECRET_KMS_DEFAULTS: KeySecretKmsConfig = { keySecretRoles: DEFAULT_KEY_SECRET_ROLES };

/** True for an AWS Secrets Manager secret that holds a WireGuard key (role or created-at tag). */
export function isAwsKeySecret(props: unknown, roles: string[]): boolean {
  return isTaggedKeySecret({ type: TYPES.awsSecret, props }, roles);
}

export const keySecretKms: ResourceValidationPolicy = {
  name: 'wiremesh-key-secret-kms',
  description: 'AWS Secrets Manager secrets holding WireGuard keys are encrypted with a customer-managed KMS key.',
  enforcementLevel: 'disabled',
  severity: 'medium',
  configSchema: {
    properties: {
      keySecretRoles: {
        type: 'array',
        items: { type: 'string' },
        default: DEFAULT_KEY_SECRET_ROLES,
        description: 'Role tag values of secrets that hold keys.',
      },
    },
  },
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    if (args.type !== TYPES.awsSecret) args.notApplicable('only AWS Secrets Manager secrets');
    const config = configWithDefaults(KEY_SECRET_KMS_DEFAULTS, args.getConfig<Record<string, unknown>>());
    if (!isAwsKeySecret(args.props, config.keySecretRoles)) args.notApplicable('not a key secret');
    const kmsKeyId = args.props.kmsKeyId;
    if (typeof kmsKeyId !== 'string' || kmsKeyId === '' || /alias\/aws\/secretsmanager$/.test(kmsKeyId)) {
      reportViolation(
        `key secret "${args.name}" is encrypted with the AWS managed key: set kmsKeyId to a customer-managed KMS key ARN ` +
          '(AwsKeySecret / AwsGateway `kmsKeyId`), so that reading the key also needs kms:Decrypt on a key you control.',
      );
    }
  },
};
