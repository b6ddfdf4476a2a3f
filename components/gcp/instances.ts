/**
 * The GcpGateway's VMs: shielded, forwarding, OS Login, the gateway's own service account, user data
 * with references only; a static external address each when the gateway has them; replaced (one VM
 * at a time, each waiting until the previous one serves behind the load balancer) when their
 * bootstrap changes.
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { GCP_GATEWAY_NETWORK_TAG, GCP_LABEL_ROLE, ROLE_GATEWAY } from '../../common/defaults';
import { HealthGate } from '../health-gate';
import { CLOUD_PLATFORM_SCOPE, DEFAULT_IMAGE, type ValidatedGcpGatewayArgs } from './gateway-args';

/** The load balancer a gateway's VMs are behind: one instance group per zone, the backend service that checks them. */
export interface GatewayLoadBalancing {
  /** The instance group of each zone in use. */
  groups: Map<string, gcp.compute.InstanceGroup>;
  /** The backend service whose health check tells when a VM serves (the internal LB's). */
  backendService: pulumi.Input<string>;
}

/** A gateway's VMs, their static addresses, and (behind a load balancer) their group memberships and health gates. */
export interface GatewayVms {
  addresses: gcp.compute.Address[];
  instances: gcp.compute.Instance[];
  memberships: gcp.compute.InstanceGroupMembership[];
  healthGates: HealthGate[];
}

/**
 * The gateway's VMs, one per zone slot, each with a static external address when the gateway has
 * them. Each VM waits for `dependsOn` and for the VM before it, so a bootstrap change replaces one VM
 * of the gateway at a time. Behind a load balancer, VM i joins its zone's instance group
 * (`-member-i`, replaced with the VM) and its health gate (`-serving-i`, ../health-gate.ts) exists
 * once the backend service reports it HEALTHY; VM i+1 waits for that gate, not for VM i merely running.
 * Without a load balancer nothing checks the agent's health port, so VM i+1 waits for VM i to run.
 */
export function createGatewayInstances(
  name: string,
  zones: string[],
  settings: Omit<GatewayVmSettings, 'zone' | 'address'>,
  dependsOn: pulumi.Resource[],
  parent: pulumi.Resource,
  loadBalancing?: GatewayLoadBalancing,
): GatewayVms {
  const vms: GatewayVms = { addresses: [], instances: [], memberships: [], healthGates: [] };
  for (const [i, zone] of zones.entries()) {
    const address = settings.v.externalAddresses
      ? new gcp.compute.Address(
          `${name}-ip-${i}`,
          {
            project: settings.project,
            region: settings.v.region,
            addressType: 'EXTERNAL',
            networkTier: 'PREMIUM',
            description: `wiremesh gateway ${name} instance ${i}`,
          },
          { parent },
        )
      : undefined;
    if (address !== undefined) vms.addresses.push(address);
    const previous = vms.healthGates[i - 1] ?? vms.instances[i - 1];
    const vm = createGatewayVm(
      `${name}-${i}`,
      { ...settings, zone, address },
      {
        parent,
        dependsOn: [...dependsOn, ...(previous !== undefined ? [previous] : [])],
        ...bootstrapReplacement(address !== undefined),
      },
    );
    vms.instances.push(vm);
    if (loadBalancing === undefined) continue;
    const group = loadBalancing.groups.get(zone)!;
    const membership = new gcp.compute.InstanceGroupMembership(
      `${name}-member-${i}`,
      { project: settings.project, zone, instanceGroup: group.name, instance: vm.selfLink },
      // A VM replaced under the same name leaves the group: a new VM (a new numeric id) joins again.
      { parent, replacementTrigger: vm.instanceId },
    );
    vms.memberships.push(membership);
    vms.healthGates.push(
      new HealthGate(
        `${name}-serving-${i}`,
        {
          label: `${name}-${i}`,
          check: pulumi
            .all([loadBalancing.backendService, group.selfLink, vm.selfLink, vm.instanceId])
            .apply(([backendService, instanceGroup, instance, instanceId]) => ({
              kind: 'gcp-backend-health' as const,
              backendService,
              instanceGroup,
              instance,
              instanceId,
            })),
        },
        { parent, dependsOn: [membership] },
      ),
    );
  }
  return vms;
}

/** Where and how one gateway VM runs. */
export interface GatewayVmSettings {
  project: pulumi.Input<string> | undefined;
  zone: string;
  network: pulumi.Input<string>;
  subnetwork: pulumi.Input<string>;
  address: gcp.compute.Address | undefined;
  v: ValidatedGcpGatewayArgs;
  image: pulumi.Input<string> | undefined;
  serviceAccountEmail: pulumi.Input<string>;
  userData: pulumi.Input<string>;
  networkTags: string[] | undefined;
  labels: Record<string, string>;
  deletionProtection: boolean;
}

/**
 * How a VM takes a changed bootstrap (agent package, secret names): by being replaced. GCP updates
 * metadata in place and cloud-init runs `user-data` once per instance, so an in-place change
 * would never reach the agent; a new VM boots the new bootstrap from scratch (no state to carry:
 * the key and configuration are in Secret Manager). A static external address can be on one VM
 * only, so a VM holding one is deleted before its replacement is created.
 */
function bootstrapReplacement(
  holdsStaticAddress: boolean,
): Pick<pulumi.CustomResourceOptions, 'replaceOnChanges' | 'deleteBeforeReplace'> {
  return { replaceOnChanges: [USER_DATA_PATH], deleteBeforeReplace: holdsStaticAddress };
}

/** The property path of the cloud-init user data in an instance's metadata. */
const USER_DATA_PATH = 'metadata["user-data"]';

/** One gateway VM: shielded, forwarding, OS Login, the dedicated service account, references-only user data. */
function createGatewayVm(name: string, s: GatewayVmSettings, opts: pulumi.CustomResourceOptions): gcp.compute.Instance {
  return new gcp.compute.Instance(
    name,
    {
      project: s.project,
      zone: s.zone,
      machineType: s.v.machineType,
      canIpForward: true,
      bootDisk: {
        initializeParams: { image: s.image ?? DEFAULT_IMAGE, size: s.v.bootDiskSizeGb, type: 'pd-balanced' },
      },
      networkInterfaces: [
        {
          network: s.network,
          subnetwork: s.subnetwork,
          ...(s.address ? { accessConfigs: [{ natIp: s.address.address, networkTier: 'PREMIUM' }] } : {}),
        },
      ],
      serviceAccount: { email: s.serviceAccountEmail, scopes: [CLOUD_PLATFORM_SCOPE] },
      shieldedInstanceConfig: { enableSecureBoot: true, enableVtpm: true, enableIntegrityMonitoring: true },
      metadata: { 'enable-oslogin': 'TRUE', 'block-project-ssh-keys': 'TRUE', 'user-data': s.userData },
      tags: [GCP_GATEWAY_NETWORK_TAG, ...(s.networkTags ?? [])],
      labels: { ...s.labels, [GCP_LABEL_ROLE]: ROLE_GATEWAY },
      allowStoppingForUpdate: true,
      deletionProtection: s.deletionProtection,
      scheduling: { automaticRestart: true, onHostMaintenance: 'MIGRATE' },
    },
    opts,
  );
}
