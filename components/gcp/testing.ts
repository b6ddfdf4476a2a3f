/**
 * Test support for the GCP components under `pulumi.runtime.setMocks`: answers registrations with
 * the outputs the real provider computes, so that references between resources carry values.
 * Pass {@link gcpMockNewResource} as `setupMocks({ newResource })` (components/testing.ts).
 *
 * Emulated (everything else echoes the inputs):
 * - `project` defaults to {@link MOCK_GCP_PROJECT} on every `gcp:` resource;
 * - auto-naming: `name` (Compute resources) and `secretId` (secrets) become `<logical name>-mock`;
 * - `selfLink` and `id` in the provider's formats for the Compute resources used here;
 * - `serviceaccount.Account.email` = `<accountId>@<project>.iam.gserviceaccount.com`;
 * - `compute.Address.address`, `compute.ForwardingRule.ipAddress` and each instance's
 *   `networkInterfaces[0].networkIp`: deterministic addresses from a counter.
 */
import * as pulumi from '@pulumi/pulumi';
import { unwrapSecrets } from '../testing';

export const MOCK_GCP_PROJECT = 'mock-project';

const SECRET_SIG_KEY = pulumi.runtime.specialSigKey;
const SECRET_SIG = pulumi.runtime.specialSecretSig;

const ZONAL: Record<string, string> = {
  'gcp:compute/instance:Instance': 'instances',
  'gcp:compute/instanceGroup:InstanceGroup': 'instanceGroups',
};
const REGIONAL: Record<string, string> = {
  'gcp:compute/address:Address': 'addresses',
  'gcp:compute/forwardingRule:ForwardingRule': 'forwardingRules',
  'gcp:compute/regionBackendService:RegionBackendService': 'backendServices',
  'gcp:compute/regionHealthCheck:RegionHealthCheck': 'healthChecks',
};
const GLOBAL: Record<string, string> = {
  'gcp:compute/firewall:Firewall': 'firewalls',
  'gcp:compute/route:Route': 'routes',
};

function plain(value: unknown): unknown {
  return unwrapSecrets(value);
}

/** A `newResource` for setupMocks that fills the provider-computed outputs of GCP resources. */
export function gcpMockNewResource(): (
  args: pulumi.runtime.MockResourceArgs,
) => pulumi.runtime.MockResourceResult | undefined {
  let externalIp = 0;
  let internalIp = 0;
  return (args) => {
    if (!args.type.startsWith('gcp:') || args.type.startsWith('pulumi:providers:')) return undefined;
    const state: Record<string, any> = { ...args.inputs };
    const project = (plain(state.project) as string | undefined) ?? MOCK_GCP_PROJECT;
    state.project = project;
    let id = `${args.name}-id`;
    const base = `https://www.googleapis.com/compute/v1/projects/${project}`;
    const collection = ZONAL[args.type] ?? REGIONAL[args.type] ?? GLOBAL[args.type];
    if (collection !== undefined) {
      state.name = state.name ?? `${args.name}-mock`;
      const where = ZONAL[args.type]
        ? `zones/${state.zone}`
        : REGIONAL[args.type]
          ? `regions/${state.region}`
          : 'global';
      id = `projects/${project}/${where}/${collection}/${state.name}`;
      state.selfLink = `${base}/${where}/${collection}/${state.name}`;
    }
    switch (args.type) {
      case 'gcp:secretmanager/secret:Secret':
        state.secretId = state.secretId ?? `${args.name}-mock`;
        id = `projects/${project}/secrets/${state.secretId}`;
        state.name = `projects/123456789012/secrets/${state.secretId}`;
        break;
      case 'gcp:secretmanager/secretVersion:SecretVersion':
        id = `${plain(state.secret)}/versions/1`;
        state.name = id;
        state.version = '1';
        break;
      case 'gcp:storage/bucket:Bucket':
        state.name = state.name ?? `${args.name}-mock`;
        id = state.name;
        state.url = `gs://${state.name}`;
        break;
      case 'gcp:serviceaccount/account:Account':
        state.email = `${state.accountId}@${project}.iam.gserviceaccount.com`;
        state.member = `serviceAccount:${state.email}`;
        id = `projects/${project}/serviceAccounts/${state.email}`;
        break;
      case 'gcp:compute/address:Address':
        externalIp += 1;
        state.address = state.address ?? `203.0.113.${externalIp}`;
        break;
      case 'gcp:compute/forwardingRule:ForwardingRule':
        if (state.ipAddress === undefined) {
          internalIp += 1;
          state.ipAddress =
            state.loadBalancingScheme === 'INTERNAL' ? `10.0.200.${internalIp}` : `198.51.100.${internalIp}`;
        }
        break;
      case 'gcp:compute/instance:Instance': {
        internalIp += 1;
        // The numeric id the API assigns (new for every VM).
        state.instanceId = `40000000000000${String(internalIp).padStart(5, '0')}`;
        const nics = Array.isArray(state.networkInterfaces) ? state.networkInterfaces : [];
        state.networkInterfaces = nics.map((nic: Record<string, unknown>, i: number) =>
          i === 0 ? { ...nic, networkIp: `10.0.0.${internalIp}` } : nic,
        );
        break;
      }
      default:
        break;
    }
    return { id, state };
  };
}

/** A recorded resource's position in the tree (subset of components/testing.ts RecordedResource). */
interface TreeNode {
  urn?: string;
  parent?: string;
}

/** Every resource under `rootUrn` (children, grandchildren...), in registration order. */
export function descendantsOf<T extends TreeNode>(resources: readonly T[], rootUrn: string): T[] {
  const inside = new Set<string>([rootUrn]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const r of resources) {
      if (r.urn && r.parent && inside.has(r.parent) && !inside.has(r.urn)) {
        inside.add(r.urn);
        grew = true;
      }
    }
  }
  return resources.filter((r) => r.urn !== rootUrn && r.parent !== undefined && inside.has(r.parent));
}

/**
 * JSON paths in a deserialized mock value where `needle` occurs inside a string that is NOT under
 * a secret wrapper. Empty means: wherever the needle is, it is secret.
 */
export function plainOccurrences(value: unknown, needle: string, path = '$'): string[] {
  if (typeof value === 'string') return value.includes(needle) ? [path] : [];
  if (typeof value !== 'object' || value === null) return [];
  const record = value as Record<string, unknown>;
  if (record[SECRET_SIG_KEY] === SECRET_SIG) return [];
  if (Array.isArray(value)) return value.flatMap((v, i) => plainOccurrences(v, needle, `${path}[${i}]`));
  return Object.entries(record).flatMap(([k, v]) => plainOccurrences(v, needle, `${path}.${k}`));
}
