/**
 * `GcpKeySecret` (`wiremesh:gcp:GcpKeySecret`): a WireGuard private key in Google Secret Manager,
 * for the agent to fetch at boot (`{ source: 'gcp-secret-manager', name: 'projects/P/secrets/S' }`).
 *
 * - The key must arrive as a **secret Output** (`WireGuardKey.privateKey`, or `pulumi.secret(...)`):
 *   a plain value is refused at once; an Output that turns out not to be secret fails the
 *   deployment before the key reaches Google (the `SecretVersion` fails to register with the
 *   message). `SecretVersion.secretData` is always a secret.
 * - Labels: `wiremesh-role` and `wiremesh-key-created-at`. GCP label values allow only lowercase
 *   letters, digits, `_` and `-`, so the creation time is stored as
 *   {@link keyCreatedAtLabel} (`2025-01-31t00-00-00z`, seconds precision, UTC); the exact ISO 8601
 *   value is also kept in the annotation `wiremesh-key-created-at`. {@link parseKeyCreatedAtLabel}
 *   reads the label back (for the key-age policy).
 * - Versions: one `SecretVersion` per key generation of a rotated key (`rotation`, a
 *   `WireGuardKey`'s plan); the retired one is destroyed with its generation.
 *   {@link GcpKeySecret.keySources} names each as `projects/P/secrets/S/versions/N`, so a document
 *   that names a version depends on it and every key change is a document change.
 * - Replication: automatic (default) or user-managed in the given regions.
 * - {@link GcpKeySecret.grantAccessor} grants `roles/secretmanager.secretAccessor` on exactly this
 *   secret (a `gcp.secretmanager.SecretIamMember`, never a project-level binding).
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import type { SecretSourceConfig } from '../../agent/secrets/types';
import { componentLabel, fail, requireSecretOutput } from '../errors';
import { keySources, keyVersionName, type KeyRotationState, type KeySources } from '../gateway-key';
import { checkLabels, isLabelValue, isRegionName } from './validation';
import {
  GCP_ANNOTATION_KEY_CREATED_AT,
  GCP_LABEL_KEY_CREATED_AT,
  GCP_LABEL_ROLE,
  ROLE_PRIVATE_KEY,
} from '../../common/defaults';

/** The role that lets a principal read a secret's versions. */
export const SECRET_ACCESSOR_ROLE = 'roles/secretmanager.secretAccessor';
/**
 * Metadata of a secret and its versions, never a payload: what the agent needs to read a key
 * version's createTime (its age, `wiremesh_key_age_seconds`), which secretAccessor does not grant
 * (it holds only secretmanager.versions.access).
 */
export const SECRET_VIEWER_ROLE = 'roles/secretmanager.viewer';

const COMPONENT = 'GcpKeySecret';

/**
 * The label-safe form of an ISO 8601 time: UTC, seconds precision, lowercase, `:` → `-`,
 * e.g. `2025-01-31T12:34:56.789Z` → `2025-01-31t12-34-56z`. Throws on an invalid date.
 */
export function keyCreatedAtLabel(createdAt: string): string {
  const ms = Date.parse(createdAt);
  if (typeof createdAt !== 'string' || !Number.isFinite(ms)) {
    throw new Error(`createdAt must be an ISO 8601 date, got ${JSON.stringify(createdAt)}`);
  }
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  return `${iso.slice(0, 10)}t${iso.slice(11, 19).replace(/:/g, '-')}z`;
}

/** The ISO 8601 time (`...T..:..:..Z`, no milliseconds) of a {@link keyCreatedAtLabel} value. */
export function parseKeyCreatedAtLabel(label: string): string | undefined {
  const m = /^(\d{4}-\d{2}-\d{2})t(\d{2})-(\d{2})-(\d{2})z$/.exec(label);
  if (!m) return undefined;
  const iso = `${m[1]}T${m[2]}:${m[3]}:${m[4]}Z`;
  return Number.isFinite(Date.parse(iso)) ? iso : undefined;
}

/** Replication of a secret's data. */
export interface GcpSecretReplicationArgs {
  /**
   * Regions for user-managed replication (e.g. `["europe-west1", "europe-west4"]`). Absent or
   * empty: automatic replication (Google chooses). Changing it replaces the secret.
   */
  locations?: string[];
}

/** Arguments of {@link GcpKeySecret}. */
export interface GcpKeySecretArgs {
  /**
   * The WireGuard private key, base64. Must be a secret Output (`WireGuardKey.privateKey`, or
   * `pulumi.secret(...)`); a plain value is refused.
   */
  privateKey: pulumi.Input<string>;
  /** When the key was created, ISO 8601 (`WireGuardKey.createdAt`): the `wiremesh-key-created-at` label. */
  createdAt: pulumi.Input<string>;
  /** A rotated key's plan (`WireGuardKey.rotation`): one version per generation. */
  rotation?: KeyRotationState;
  /** The next generation's private key (a secret Output), exactly when `rotation.next` is set. */
  nextPrivateKey?: pulumi.Input<string>;
  /** Project of the secret; default: the provider's project. */
  project?: pulumi.Input<string>;
  /**
   * The secret id (1 to 255 of letters, digits, `_`, `-`); default: Pulumi's auto-name (the
   * resource name plus a random suffix). A fixed id makes replacements delete first.
   */
  secretId?: string;
  /** Replication; default automatic. */
  replication?: GcpSecretReplicationArgs;
  /** The `wiremesh-role` label; default `wireguard-private-key`. */
  role?: string;
  /** Extra labels (plain; the `wiremesh-` prefix is reserved). */
  labels?: Record<string, string>;
  /** Refuse `pulumi destroy` of the secret (Terraform-level deletion protection); default false. */
  deletionProtection?: boolean;
}

/** Arguments of {@link grantSecretAccessor}. */
export interface GcpSecretAccessorGrantArgs {
  /** The secret (its `project` and `secretId` name it). */
  secret: gcp.secretmanager.Secret;
  /** Email of the service account that may read the secret's versions. */
  serviceAccountEmail: pulumi.Input<string>;
}

/** Checks a secret id when given. */
export function checkSecretId(component: string, name: string, secretId: string | undefined): void {
  if (secretId !== undefined && (typeof secretId !== 'string' || !/^[A-Za-z0-9_-]{1,255}$/.test(secretId))) {
    fail(component, name, `secretId must be 1 to 255 letters, digits, "_" or "-", got ${JSON.stringify(secretId)}`);
  }
}

/** The `replication` block of a secret, after checking the locations. */
export function secretReplication(
  component: string,
  name: string,
  replication: GcpSecretReplicationArgs | undefined,
): gcp.types.input.secretmanager.SecretReplication {
  const locations = replication?.locations ?? [];
  if (!Array.isArray(locations)) fail(component, name, 'replication.locations must be an array of region names');
  if (locations.length === 0) return { auto: {} };
  const seen = new Set<string>();
  for (const location of locations) {
    if (typeof location !== 'string' || !isRegionName(location)) {
      fail(component, name, `replication.locations: "${String(location)}" is not a region name (e.g. europe-west1)`);
    }
    if (seen.has(location)) fail(component, name, `replication.locations: "${location}" is listed twice`);
    seen.add(location);
  }
  return { userManaged: { replicas: locations.map((location) => ({ location })) } };
}

/** `projects/P/secrets/S` of a secret: what the agent's `gcp-secret-manager` source reads. */
export function secretResourceName(secret: gcp.secretmanager.Secret): pulumi.Output<string> {
  return pulumi.interpolate`projects/${secret.project}/secrets/${secret.secretId}`;
}

/** The agent's source configuration for a secret (`.../versions/N`) or its latest version (`projects/P/secrets/S`). */
export function gcpSecretSource(secretName: pulumi.Input<string>): pulumi.Output<SecretSourceConfig> {
  return pulumi.output(secretName).apply((name): SecretSourceConfig => ({ source: 'gcp-secret-manager', name }));
}

/**
 * Grants `roles/secretmanager.secretAccessor` on exactly `args.secret` to one service account: a
 * secret-level `gcp.secretmanager.SecretIamMember` (non-authoritative: other members stay).
 */
export function grantSecretAccessor(
  name: string,
  args: GcpSecretAccessorGrantArgs,
  opts: pulumi.CustomResourceOptions = {},
): gcp.secretmanager.SecretIamMember {
  return secretIamMember('grantSecretAccessor', name, args, SECRET_ACCESSOR_ROLE, opts);
}

/** Grants {@link SECRET_VIEWER_ROLE} (metadata only) on exactly `args.secret` to one service account. */
export function grantSecretViewer(
  name: string,
  args: GcpSecretAccessorGrantArgs,
  opts: pulumi.CustomResourceOptions = {},
): gcp.secretmanager.SecretIamMember {
  return secretIamMember('grantSecretViewer', name, args, SECRET_VIEWER_ROLE, opts);
}

function secretIamMember(
  caller: string,
  name: string,
  args: GcpSecretAccessorGrantArgs,
  role: string,
  opts: pulumi.CustomResourceOptions,
): gcp.secretmanager.SecretIamMember {
  const member = pulumi.output(args.serviceAccountEmail).apply((email) => {
    if (
      typeof email !== 'string' ||
      !/^[^@\s]+@[^@\s]+\.iam\.gserviceaccount\.com$|^[^@\s]+@developer\.gserviceaccount\.com$/.test(email)
    ) {
      throw new Error(
        `${caller} "${name}": serviceAccountEmail must be a service account email, got ${JSON.stringify(email)}`,
      );
    }
    return `serviceAccount:${email}`;
  });
  return new gcp.secretmanager.SecretIamMember(
    name,
    { project: args.secret.project, secretId: args.secret.secretId, role, member },
    opts,
  );
}

/**
 * A Secret Manager secret holding one WireGuard private key, and its version.
 *
 * ```ts
 * const key = new WireGuardKey("site-a");
 * const secret = new GcpKeySecret("site-a-key", { privateKey: key.privateKey, createdAt: key.createdAt });
 * secret.grantAccessor("site-a-key-read", serviceAccount.email);
 * // agent: { privateKey: secret.sourceConfig }
 * ```
 */
export class GcpKeySecret extends pulumi.ComponentResource {
  /** The secret. */
  public readonly secret: gcp.secretmanager.Secret;
  /** The version holding the current key. */
  public readonly version: gcp.secretmanager.SecretVersion;
  /** The version holding the next generation (phases next and switch of a rotated key). */
  public readonly nextVersion: gcp.secretmanager.SecretVersion | undefined;
  /** The document's key references by version: `privateKey`, and `nextPrivateKey` while switching. */
  public readonly keySources: pulumi.Output<KeySources>;
  /** The secret id (last segment of the name). */
  public readonly secretId: pulumi.Output<string>;
  /** `projects/P/secrets/S` (documents name its versions, {@link GcpKeySecret.keySources}). */
  public readonly secretName: pulumi.Output<string>;
  /** Where the agent reads this key from (agent/secrets/types.ts). */
  public readonly sourceConfig: pulumi.Output<SecretSourceConfig>;

  private readonly componentName: string;

  constructor(name: string, args: GcpKeySecretArgs, opts: pulumi.ComponentResourceOptions = {}) {
    // Validate before registering: a refused argument registers nothing.
    if (typeof args !== 'object' || args === null) fail(COMPONENT, name, 'args are required');
    const privateKey = requireSecretOutput(componentLabel(COMPONENT, name), 'privateKey', args.privateKey);
    if (args.createdAt === undefined || args.createdAt === null || args.createdAt === '') {
      fail(COMPONENT, name, "createdAt is required (the key's creation time, ISO 8601; WireGuardKey.createdAt)");
    }
    const createdAt = checkedInput(args.createdAt, (value) => {
      if (typeof value !== 'string' || !Number.isFinite(Date.parse(value))) {
        fail(COMPONENT, name, `createdAt must be an ISO 8601 date, got ${JSON.stringify(value)}`);
      }
    });
    const role = args.role ?? ROLE_PRIVATE_KEY;
    if (typeof role !== 'string' || role === '' || !isLabelValue(role)) {
      fail(COMPONENT, name, `role must be 1 to 63 lowercase letters, digits, "_" or "-", got ${JSON.stringify(role)}`);
    }
    checkLabels(COMPONENT, name, args.labels);
    checkSecretId(COMPONENT, name, args.secretId);
    const replication = secretReplication(COMPONENT, name, args.replication);
    const rotation = args.rotation;
    if ((rotation?.next != null) !== (args.nextPrivateKey !== undefined)) {
      fail(COMPONENT, name, 'nextPrivateKey must be given exactly when rotation.next is');
    }
    const nextPrivateKey =
      rotation?.next != null
        ? requireSecretOutput(componentLabel(COMPONENT, name), 'nextPrivateKey', args.nextPrivateKey)
        : undefined;

    super('wiremesh:gcp:GcpKeySecret', name, {}, opts);
    this.componentName = name;

    this.secret = new gcp.secretmanager.Secret(
      `${name}-secret`,
      {
        project: args.project,
        secretId: args.secretId,
        replication,
        labels: {
          ...(args.labels ?? {}),
          [GCP_LABEL_ROLE]: role,
          [GCP_LABEL_KEY_CREATED_AT]: createdAt.apply(keyCreatedAtLabel),
        },
        annotations: { [GCP_ANNOTATION_KEY_CREATED_AT]: createdAt.apply((c) => new Date(Date.parse(c)).toISOString()) },
        deletionProtection: args.deletionProtection ?? false,
      },
      { parent: this, ...(args.secretId !== undefined ? { deleteBeforeReplace: true } : {}) },
    );
    const versionOf = (data: pulumi.Output<string>, generation: number | undefined) =>
      new gcp.secretmanager.SecretVersion(
        keyVersionName(name, rotation, generation),
        { secret: this.secret.id, secretData: data, enabled: true },
        { parent: this },
      );
    this.version = versionOf(privateKey, rotation?.current);
    this.nextVersion = nextPrivateKey !== undefined ? versionOf(nextPrivateKey, rotation!.next!) : undefined;

    this.secretId = this.secret.secretId;
    this.secretName = secretResourceName(this.secret);
    this.sourceConfig = gcpSecretSource(this.version.name);
    this.keySources = keySources(
      this.sourceConfig,
      this.nextVersion !== undefined ? gcpSecretSource(this.nextVersion.name) : undefined,
      rotation,
    );
    this.registerOutputs({ secretId: this.secretId, secretName: this.secretName, sourceConfig: this.sourceConfig });
  }

  /**
   * Grants `roles/secretmanager.secretAccessor` on exactly this secret to one service account
   * (secret-level IAM member). The member is a child of this component unless `opts.parent` says
   * otherwise (it then inherits that parent's provider).
   */
  grantAccessor(
    name: string,
    serviceAccountEmail: pulumi.Input<string>,
    opts: pulumi.CustomResourceOptions = {},
  ): gcp.secretmanager.SecretIamMember {
    if (typeof name !== 'string' || name === '')
      fail(COMPONENT, this.componentName, 'grantAccessor needs a resource name');
    return grantSecretAccessor(name, { secret: this.secret, serviceAccountEmail }, { parent: this, ...opts });
  }
}

/**
 * Checks a late value when it resolves (a plain value at once). The result carries the value on, so
 * a resource it feeds fails to register with the check's message instead of reaching Google.
 */
export function checkedInput<T>(
  value: pulumi.Input<T>,
  check: (resolved: pulumi.Unwrap<T>) => void,
): pulumi.Output<pulumi.Unwrap<T>> {
  const isLate =
    pulumi.Output.isInstance(value) ||
    (typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function');
  if (!isLate) check(value as pulumi.Unwrap<T>);
  return pulumi.output(value).apply((resolved) => {
    check(resolved as pulumi.Unwrap<T>);
    return resolved as pulumi.Unwrap<T>;
  });
}
