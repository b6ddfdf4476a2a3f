/**
 * `wiremesh-key-secret-access` (stack policy): read access to key secrets is granted only to the
 * gateways that need them.
 *
 * AWS — every IAM policy document in the stack (`aws.iam.RolePolicy`, `aws.iam.Policy` with its
 * role/user/group attachments, `aws.iam.UserPolicy`, `aws.iam.GroupPolicy`, a role's
 * `inlinePolicies`) and every secret resource policy (`aws.secretsmanager.SecretPolicy`):
 * - an `Allow` statement that can read secrets (`secretsmanager:GetSecretValue`, or a wildcard or
 *   `NotAction` covering it) may not use a wildcard resource that can match a secret (`*`,
 *   `arn:aws:secretsmanager:*`, `...:secret:name-*`) nor `NotResource`;
 * - one that names a key secret's ARN must be attached only to gateway roles (never to users or
 *   groups), and when both carry a `wiremesh:site` tag, of the same site;
 * - a key secret's resource policy may not allow `*` principals, nor principals other than gateway
 *   roles (an account root ARN grants the whole account);
 * - no AWS managed policy that reads every secret (`secretReadingManagedPolicies`:
 *   SecretsManagerReadWrite, AWSSecretsManagerClientReadOnlyAccess, PowerUserAccess,
 *   AdministratorAccess) is attached to a role, user or group (attachments, `managedPolicyArns`).
 *
 * GCP — `gcp.secretmanager.SecretIamMember` / `SecretIamBinding` / `SecretIamPolicy` on a key
 * secret granting a reading role (`readRoles`) name only gateway service accounts: never
 * `allUsers`, `allAuthenticatedUsers`, `domain:`, `group:` or `user:` members. A project-level
 * `gcp.projects.IAMMember` / `IAMBinding` granting a reading role is reported whenever the stack has
 * key secrets: it reads every secret of the project (grant it on the secret instead).
 *
 * Key secrets are those tagged/labelled with a key role or a key-created-at time (see
 * key-rotation.ts), and untagged ones whose version holds a private key (key-secrets.ts). The
 * policy runs on every stack with key secrets, gateways or wiremesh components: a wildcard grant
 * reads keys whether they are tagged, untagged or kept in another stack. A gateway role or service account is one that is itself a gateway resource
 * (inside a gateway component, or tagged/labelled as one, see common.ts), or that a gateway
 * instance uses (AWS: through its instance profile; GCP: `serviceAccount.email`). Principals
 * managed outside the stack can be allowed by name, ARN or email in `allowedPrincipals`.
 */
import type { PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy } from '@pulumi/policy';
import { gcpSecretShortId, idsOf, isTaggedKeySecret, untaggedKeySecrets } from './key-secrets';
import {
  arrayOf,
  AWS_TAG_SITE,
  configWithDefaults,
  DEFAULT_GATEWAY_IDENTIFICATION,
  DEFAULT_KEY_SECRET_ROLES,
  gatewayReason,
  GATEWAY_IDENTIFICATION_SCHEMA,
  get,
  known,
  stringMap,
  TYPES,
  WIREGUARD_KEY_PAIR_TYPE,
  type GatewayIdentification,
} from './common';

export interface KeySecretAccessConfig extends GatewayIdentification {
  keySecretRoles: string[];
  /** Role names/ARNs and service account emails allowed to read key secrets besides gateways. */
  allowedPrincipals: string[];
  /** GCP roles that can read a secret's data. */
  readRoles: string[];
  /** AWS managed policies that read every secret of the account. */
  secretReadingManagedPolicies: string[];
}

/** AWS managed policies allowing secretsmanager:GetSecretValue on every secret (docs.aws.amazon.com/aws-managed-policy/latest/reference). */
const SECRET_READING_MANAGED_POLICIES = [
  'SecretsManagerReadWrite',
  'AWSSecretsManagerClientReadOnlyAccess',
  'PowerUserAccess',
  'AdministratorAccess',
].map((name) => `arn:aws:iam::aws:policy/${name}`);

export const KEY_SECRET_ACCESS_DEFAULTS: KeySecretAccessConfig = {
  ...DEFAULT_GATEWAY_IDENTIFICATION,
  keySecretRoles: DEFAULT_KEY_SECRET_ROLES,
  allowedPrincipals: [],
  readRoles: ['roles/secretmanager.secretAccessor', 'roles/secretmanager.admin', 'roles/owner', 'roles/editor'],
  secretReadingManagedPolicies: SECRET_READING_MANAGED_POLICIES,
};

interface Statement {
  Effect?: unknown;
  Action?: unknown;
  NotAction?: unknown;
  Resource?: unknown;
  NotResource?: unknown;
  Principal?: unknown;
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? arrayOf(value) : value === undefined ? [] : [value];
}

function strings(value: unknown): string[] {
  return asList(value).filter((v): v is string => typeof v === 'string');
}

/** The statements of a policy document given as JSON text or as an object. */
export function statementsOf(policy: unknown): Statement[] {
  let doc: unknown = policy;
  if (typeof policy === 'string') {
    try {
      doc = JSON.parse(policy);
    } catch {
      return [];
    }
  }
  return asList(get(doc, 'Statement')).filter(
    (s): s is Statement => typeof s === 'object' && s !== null,
  ) as Statement[];
}

/** IAM wildcard match (`*`, `?`), case-insensitive as IAM actions are. */
function wildcardMatch(pattern: string, value: string, caseInsensitive: boolean): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    caseInsensitive ? 'i' : '',
  );
  return re.test(value);
}

/** True when an Allow statement can read secret values. */
function readsSecrets(s: Statement): boolean {
  if (get(s, 'Effect') !== 'Allow') return false;
  const notActions = strings(get(s, 'NotAction'));
  if (notActions.length > 0) return !notActions.some((a) => wildcardMatch(a, 'secretsmanager:GetSecretValue', true));
  return strings(get(s, 'Action')).some((a) => wildcardMatch(a, 'secretsmanager:GetSecretValue', true));
}

/** True for a resource pattern with a wildcard that can match a Secrets Manager secret ARN. */
function isWildcardSecretResource(resource: string): boolean {
  if (!/[*?]/.test(resource)) return false;
  if (resource === '*') return true;
  const service = resource.split(':')[2];
  return service === undefined || service === 'secretsmanager' || /[*?]/.test(service);
}

class StackIndex {
  readonly awsKeySecrets: PolicyResource[];
  readonly gcpKeySecrets: PolicyResource[];
  /** The stack has key secrets, gateways or wiremesh components: its wildcard grants read keys, wherever they live. */
  readonly usesWiremesh: boolean;
  private readonly roles: PolicyResource[];
  private readonly profiles: PolicyResource[];
  private readonly instances: PolicyResource[];
  private readonly serviceAccounts: PolicyResource[];
  private readonly gcpInstances: PolicyResource[];

  constructor(
    readonly resources: PolicyResource[],
    private readonly config: KeySecretAccessConfig,
  ) {
    const of = (type: string) => resources.filter((r) => r.type === type);
    const untagged = untaggedKeySecrets(resources, config.keySecretRoles);
    const keySecret = (r: PolicyResource) => isTaggedKeySecret(r, config.keySecretRoles) || untagged.has(r);
    this.awsKeySecrets = of(TYPES.awsSecret).filter(keySecret);
    this.gcpKeySecrets = of(TYPES.gcpSecret).filter(keySecret);
    this.usesWiremesh =
      this.awsKeySecrets.length + this.gcpKeySecrets.length > 0 ||
      resources.some(
        (r) =>
          r.type.startsWith('wiremesh:') || r.type === WIREGUARD_KEY_PAIR_TYPE || known(() => this.isGateway(r), false),
      );
    this.roles = of(TYPES.awsRole);
    this.profiles = of(TYPES.awsInstanceProfile);
    this.instances = of(TYPES.awsInstance);
    this.serviceAccounts = of(TYPES.gcpServiceAccount);
    this.gcpInstances = of(TYPES.gcpInstance);
  }

  awsKeySecretFor(resource: string): PolicyResource | undefined {
    return this.awsKeySecrets.find((s) => idsOf(s).includes(resource));
  }

  gcpKeySecretFor(secretId: string): PolicyResource | undefined {
    const short = gcpSecretShortId(secretId);
    return this.gcpKeySecrets.find((s) => idsOf(s).some((id) => id === secretId || gcpSecretShortId(id) === short));
  }

  role(ref: string): PolicyResource | undefined {
    const name = ref.startsWith('arn:') ? ref.slice(ref.lastIndexOf('/') + 1) : ref;
    return this.roles.find((r) => idsOf(r).some((id) => id === ref || id === name));
  }

  isGateway(r: PolicyResource): boolean {
    return gatewayReason(r.urn, r.props, this.config) !== undefined;
  }

  /** Why a role is a gateway role, or undefined. */
  gatewayRole(role: PolicyResource): string | undefined {
    if (this.isGateway(role)) return gatewayReason(role.urn, role.props, this.config);
    const roleIds = idsOf(role);
    for (const profile of this.profiles) {
      const profileRole = get(profile.props, 'role');
      if (typeof profileRole !== 'string' || !roleIds.includes(profileRole)) continue;
      const profileIds = idsOf(profile);
      const instance = this.instances.find(
        (i) => profileIds.includes(get(i.props, 'iamInstanceProfile')) && this.isGateway(i),
      );
      if (instance) return `the role of gateway instance "${instance.name}"`;
    }
    return undefined;
  }

  gatewayServiceAccount(email: string): string | undefined {
    const account = this.serviceAccounts.find(
      (a) =>
        get(a.props, 'email') === email ||
        (typeof get(a.props, 'accountId') === 'string' && email.startsWith(`${get(a.props, 'accountId')}@`)),
    );
    if (account && this.isGateway(account)) return gatewayReason(account.urn, account.props, this.config);
    const instance = this.gcpInstances.find(
      (i) => get(get(i.props, 'serviceAccount'), 'email') === email && this.isGateway(i),
    );
    return instance ? `the service account of gateway instance "${instance.name}"` : undefined;
  }
}

function validateAccess(args: StackValidationArgs, reportViolation: ReportViolation): void {
  const config = configWithDefaults(KEY_SECRET_ACCESS_DEFAULTS, args.getConfig<Record<string, unknown>>());
  const index = new StackIndex(args.resources, config);
  if (!index.usesWiremesh) args.notApplicable('no key secrets, gateways or wiremesh components in the stack');
  const allowed = (principal: string) => config.allowedPrincipals.includes(principal);

  // --- AWS identity policies.
  type Grantee = { kind: 'role' | 'user' | 'group'; ref: string };
  const checkDocument = (source: PolicyResource, what: string, policy: unknown, grantees: Grantee[]) => {
    for (const s of statementsOf(policy)) {
      if (!readsSecrets(s)) continue;
      if (get(s, 'NotResource') !== undefined) {
        reportViolation(
          `${what} allows reading secrets with NotResource (every secret but some): name the key secrets' ARNs in Resource instead.`,
          source.urn,
        );
        continue;
      }
      for (const resource of strings(get(s, 'Resource'))) {
        if (isWildcardSecretResource(resource)) {
          reportViolation(
            `${what} allows secretsmanager:GetSecretValue on the wildcard resource ${JSON.stringify(resource)}: ` +
              'name exactly the secret ARNs the gateway reads (AwsKeySecret.readPolicyDocument() / secretReadPolicy() do).',
            source.urn,
          );
          continue;
        }
        const secret = index.awsKeySecretFor(resource);
        if (!secret) continue;
        for (const grantee of grantees) {
          if (allowed(grantee.ref)) continue;
          if (grantee.kind !== 'role') {
            reportViolation(
              `${what} lets the IAM ${grantee.kind} "${grantee.ref}" read the key secret "${secret.name}": only gateway roles may read keys; remove the grant.`,
              source.urn,
            );
            continue;
          }
          const role = index.role(grantee.ref);
          const why = role ? index.gatewayRole(role) : undefined;
          if (!role || !why) {
            reportViolation(
              `${what} lets the role "${grantee.ref}" read the key secret "${secret.name}", but ${role ? 'it is not a gateway role' : 'no such role is in the stack'}: ` +
                'grant read access only to the role of the gateway that uses the key (or list it in allowedPrincipals).',
              source.urn,
            );
            continue;
          }
          const secretSite = stringMap(get(secret.props, 'tags'))[AWS_TAG_SITE];
          const roleSite = stringMap(get(role.props, 'tags'))[AWS_TAG_SITE];
          if (secretSite !== undefined && roleSite !== undefined && secretSite !== roleSite) {
            reportViolation(
              `${what} lets the gateway role "${role.name}" of site ${roleSite} read the key secret "${secret.name}" of site ${secretSite}: a gateway reads only its own site's key.`,
              source.urn,
            );
          }
        }
      }
    }
  };

  // --- AWS managed policies that read every secret, attached in the stack (SecretsManagerReadWrite...).
  const checkManaged = (source: PolicyResource, policyArn: unknown, grantees: Grantee[]) => {
    if (typeof policyArn !== 'string' || !config.secretReadingManagedPolicies.includes(policyArn)) return;
    const policyName = policyArn.slice(policyArn.lastIndexOf('/') + 1);
    for (const grantee of grantees) {
      if (allowed(grantee.ref)) continue;
      const role = grantee.kind === 'role' ? index.role(grantee.ref) : undefined;
      const gateway = role ? index.gatewayRole(role) : undefined;
      reportViolation(
        `"${source.name}" gives the IAM ${grantee.kind} "${grantee.ref}"${gateway ? ` (${gateway})` : grantee.kind === 'role' ? ', which is not a gateway role,' : ''} the AWS managed policy ${policyName}: ` +
          'it reads every secret of the account, WireGuard keys included. ' +
          (gateway
            ? "A gateway reads only its own site's key: use the component's read policy, which names that secret's ARN."
            : 'Only gateway roles may read keys: remove the attachment, or grant a policy naming only the secrets it needs.'),
        source.urn,
      );
    }
  };

  const attachments = args.resources.filter((r) =>
    [
      TYPES.awsRolePolicyAttachment,
      TYPES.awsPolicyAttachment,
      TYPES.awsUserPolicyAttachment,
      TYPES.awsGroupPolicyAttachment,
    ].includes(r.type as never),
  );
  for (const r of args.resources) {
    known(() => {
      switch (r.type) {
        case TYPES.awsRolePolicy:
          checkDocument(
            r,
            `role policy "${r.name}"`,
            get(r.props, 'policy'),
            strings(get(r.props, 'role')).map((ref) => ({ kind: 'role', ref })),
          );
          break;
        case TYPES.awsUserPolicy:
          checkDocument(
            r,
            `user policy "${r.name}"`,
            get(r.props, 'policy'),
            strings(get(r.props, 'user')).map((ref) => ({ kind: 'user', ref })),
          );
          break;
        case TYPES.awsGroupPolicy:
          checkDocument(
            r,
            `group policy "${r.name}"`,
            get(r.props, 'policy'),
            strings(get(r.props, 'group')).map((ref) => ({ kind: 'group', ref })),
          );
          break;
        case TYPES.awsRolePolicyAttachment:
          checkManaged(
            r,
            get(r.props, 'policyArn'),
            strings(get(r.props, 'role')).map((ref) => ({ kind: 'role', ref })),
          );
          break;
        case TYPES.awsUserPolicyAttachment:
          checkManaged(
            r,
            get(r.props, 'policyArn'),
            strings(get(r.props, 'user')).map((ref) => ({ kind: 'user', ref })),
          );
          break;
        case TYPES.awsGroupPolicyAttachment:
          checkManaged(
            r,
            get(r.props, 'policyArn'),
            strings(get(r.props, 'group')).map((ref) => ({ kind: 'group', ref })),
          );
          break;
        case TYPES.awsPolicyAttachment:
          checkManaged(r, get(r.props, 'policyArn'), [
            ...strings(get(r.props, 'roles')).map((ref) => ({ kind: 'role' as const, ref })),
            ...strings(get(r.props, 'users')).map((ref) => ({ kind: 'user' as const, ref })),
            ...strings(get(r.props, 'groups')).map((ref) => ({ kind: 'group' as const, ref })),
          ]);
          break;
        case TYPES.awsRole:
          for (const arn of strings(get(r.props, 'managedPolicyArns')))
            checkManaged(r, arn, [{ kind: 'role', ref: r.name }]);
          for (const inline of asList(get(r.props, 'inlinePolicies'))) {
            checkDocument(r, `inline policy of role "${r.name}"`, get(inline, 'policy'), [
              { kind: 'role', ref: r.name },
            ]);
          }
          break;
        case TYPES.awsPolicy: {
          const ids = idsOf(r);
          const grantees: Grantee[] = [];
          for (const a of attachments) {
            if (!ids.includes(get(a.props, 'policyArn'))) continue;
            for (const ref of [...strings(get(a.props, 'role')), ...strings(get(a.props, 'roles'))])
              grantees.push({ kind: 'role', ref });
            for (const ref of [...strings(get(a.props, 'user')), ...strings(get(a.props, 'users'))])
              grantees.push({ kind: 'user', ref });
            for (const ref of [...strings(get(a.props, 'group')), ...strings(get(a.props, 'groups'))])
              grantees.push({ kind: 'group', ref });
          }
          checkDocument(r, `IAM policy "${r.name}"`, get(r.props, 'policy'), grantees);
          break;
        }
        case TYPES.awsSecretPolicy: {
          const secret = index.awsKeySecretFor(String(get(r.props, 'secretArn') ?? ''));
          if (!secret) break;
          for (const s of statementsOf(get(r.props, 'policy'))) {
            if (get(s, 'Effect') !== 'Allow') continue;
            const principal = get(s, 'Principal');
            const aws = principal === '*' ? ['*'] : strings(get(principal, 'AWS'));
            for (const p of aws) {
              if (allowed(p)) continue;
              if (p === '*') {
                reportViolation(
                  `secret policy "${r.name}" on the key secret "${secret.name}" allows any principal ("*"): allow only the gateway roles that read it.`,
                  r.urn,
                );
                continue;
              }
              const role = /:role\//.test(p) ? index.role(p) : undefined;
              if (!role || !index.gatewayRole(role)) {
                reportViolation(
                  `secret policy "${r.name}" on the key secret "${secret.name}" allows ${JSON.stringify(p)}, which is not a gateway role: ` +
                    'allow only the gateway roles that read it (an account root ARN allows the whole account).',
                  r.urn,
                );
              }
            }
          }
          break;
        }
        default:
          break;
      }
    }, undefined);
  }

  // --- GCP.
  const checkMember = (source: PolicyResource, secret: PolicyResource, role: string, member: string) => {
    if (!config.readRoles.includes(role)) return;
    if (allowed(member) || allowed(member.replace(/^serviceAccount:/, ''))) return;
    if (member === 'allUsers' || member === 'allAuthenticatedUsers') {
      reportViolation(
        `"${source.name}" grants ${role} on the key secret "${secret.name}" to ${member}: grant it only to the gateway's service account.`,
        source.urn,
      );
      return;
    }
    const m = /^serviceAccount:(.+)$/.exec(member);
    if (!m || !index.gatewayServiceAccount(m[1]!)) {
      reportViolation(
        `"${source.name}" grants ${role} on the key secret "${secret.name}" to ${member}, which is not a gateway service account: ` +
          'grant it only to the service account of the gateway that uses the key (GcpKeySecret.grantAccessor), or list it in allowedPrincipals.',
        source.urn,
      );
    }
  };
  for (const r of args.resources) {
    known(() => {
      if (
        r.type === TYPES.gcpSecretIamMember ||
        r.type === TYPES.gcpSecretIamBinding ||
        r.type === TYPES.gcpSecretIamPolicy
      ) {
        const secret = index.gcpKeySecretFor(String(get(r.props, 'secretId') ?? ''));
        if (!secret) return;
        if (r.type === TYPES.gcpSecretIamMember)
          checkMember(r, secret, String(get(r.props, 'role')), String(get(r.props, 'member')));
        else if (r.type === TYPES.gcpSecretIamBinding)
          for (const member of strings(get(r.props, 'members')))
            checkMember(r, secret, String(get(r.props, 'role')), member);
        else {
          let data: unknown = get(r.props, 'policyData');
          if (typeof data === 'string') {
            try {
              data = JSON.parse(data);
            } catch {
              data = undefined;
            }
          }
          for (const binding of asList(get(data, 'bindings'))) {
            for (const member of strings(get(binding, 'members')))
              checkMember(r, secret, String(get(binding, 'role')), member);
          }
        }
      } else if (
        (r.type === TYPES.gcpProjectIamMember || r.type === TYPES.gcpProjectIamBinding) &&
        index.usesWiremesh
      ) {
        const role = String(get(r.props, 'role'));
        if (!config.readRoles.includes(role) || role === 'roles/owner' || role === 'roles/editor') return;
        const members =
          r.type === TYPES.gcpProjectIamMember ? strings(get(r.props, 'member')) : strings(get(r.props, 'members'));
        if (members.every((m) => allowed(m) || allowed(m.replace(/^serviceAccount:/, '')))) return;
        reportViolation(
          `"${r.name}" grants ${role} on the whole project to ${members.join(', ')}: that reads every key secret of the project; ` +
            'grant it on each key secret to the gateway service account that needs it (gcp.secretmanager.SecretIamMember) instead.',
          r.urn,
        );
      }
    }, undefined);
  }
}

export const keySecretAccess: StackValidationPolicy = {
  name: 'wiremesh-key-secret-access',
  description:
    'Key secrets are readable only by the gateways that use them: no wildcard resources or principals, no non-gateway grantees.',
  enforcementLevel: 'mandatory',
  severity: 'high',
  configSchema: {
    properties: {
      ...GATEWAY_IDENTIFICATION_SCHEMA,
      keySecretRoles: {
        type: 'array',
        items: { type: 'string' },
        default: DEFAULT_KEY_SECRET_ROLES,
        description: 'Role tag/label values of secrets that hold keys.',
      },
      allowedPrincipals: {
        type: 'array',
        items: { type: 'string' },
        default: [],
        description:
          'Role names/ARNs, IAM members and service account emails allowed to read key secrets besides gateways (e.g. a break-glass role).',
      },
      readRoles: {
        type: 'array',
        items: { type: 'string' },
        default: KEY_SECRET_ACCESS_DEFAULTS.readRoles,
        description: 'GCP roles that can read secret data.',
      },
      secretReadingManagedPolicies: {
        type: 'array',
        items: { type: 'string' },
        default: SECRET_READING_MANAGED_POLICIES,
        description:
          'ARNs of AWS managed policies that read every secret of the account (never attached in a stack holding WireGuard keys).',
      },
    },
  },
  validateStack: validateAccess,
};
