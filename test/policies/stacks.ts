/**
 * Stacks recorded under mocks from our components, as runner resources (policies/run.ts): the
 * compliant baselines the policy tests start from. Each call installs fresh mocks, builds the
 * components, waits for every registration and returns what `fromRecordedResources` makes of it.
 */
import { AwsGateway } from '../../components/aws/gateway';
import { AwsGatewayGroup } from '../../components/aws/gateway-group';
import { awsMockOptions } from '../../components/aws/testing';
import { GcpGateway } from '../../components/gcp/gateway';
import { GcpGatewayGroup } from '../../components/gcp/gateway-group';
import { gcpMockNewResource } from '../../components/gcp/testing';
import { wireGuardKeyPairFromEntropy } from '../../components/key';
import { RemoteHostAgent } from '../../components/remote-host';
import { resolve, setupMocks, type MockRecorder } from '../../components/testing';
import { fromRecordedResources, type RunnerResource } from '../../policies/run';

/** A valid peer public key (fixed, so messages and snapshots stay stable). */
export const PEER_PUBLIC_KEY = wireGuardKeyPairFromEntropy(new Uint8Array(32).fill(7)).publicKey;
/** A private key for hand-written violations (clamped, as `wg genkey` makes them). */
export const SOME_PRIVATE_KEY = wireGuardKeyPairFromEntropy(new Uint8Array(32).fill(9)).privateKey;

export interface RecordedStack {
  mocks: MockRecorder;
  resources: RunnerResource[];
}

/** Mocks answering both AWS and GCP resources. */
export function cloudMocks(): MockRecorder {
  const aws = awsMockOptions();
  const gcp = gcpMockNewResource();
  return setupMocks({
    newResource: (args) => aws.newResource!(args) ?? gcp(args),
    call: (args) => aws.call!(args),
  });
}

/**
 * One stack with every cloud component: an AWS gateway (one instance, two route tables), an AWS gateway group behind an
 * NLB, a GCP gateway with the internal load balancer, a GCP gateway group, and an on-premises
 * host agent.
 */
export async function recordComponentStack(): Promise<RecordedStack> {
  const mocks = cloudMocks();
  const awsGateway = new AwsGateway('site-a', {
    siteName: 'site-a',
    vpcId: 'vpc-0a',
    subnets: [{ subnetId: 'subnet-a', routeTableIds: ['rtb-a', 'rtb-b'] }],
    remoteCidrs: ['10.20.0.0/16', '10.30.0.0/16'],
    peerCidrs: ['203.0.113.7/32'],
    forwardFromCidrs: ['10.0.0.0/16'],
    agent: {
      package: 'wiremesh@0.1.0',
      config: {
        interface: { name: 'wm0', addresses: ['10.99.0.1/24'], mtu: 1420 },
        peers: [
          {
            name: 'site-b',
            publicKey: PEER_PUBLIC_KEY,
            endpoint: '203.0.113.7:51820',
            allowedIps: ['10.20.0.0/16', '10.30.0.0/16'],
            persistentKeepalive: 25,
          },
        ],
      },
    },
  });
  const awsGroup = new AwsGatewayGroup('site-c', {
    siteName: 'site-c',
    vpcId: 'vpc-0c',
    subnets: [
      { subnetId: 'subnet-c1', routeTableIds: ['rtb-c1'] },
      { subnetId: 'subnet-c2', routeTableIds: ['rtb-c2'] },
    ],
    remoteCidrs: ['10.10.0.0/16'],
    peerCidrs: ['198.51.100.7/32'],
    agent: {
      package: 'wiremesh@0.1.0',
      config: {
        interface: { name: 'wm0', addresses: ['10.99.0.3/24'] },
        peers: [
          { name: 'site-a', publicKey: PEER_PUBLIC_KEY, endpoint: '198.51.100.7:51820', allowedIps: ['10.10.0.0/16'] },
        ],
      },
    },
  });
  const gcpGateway = new GcpGateway('site-b', {
    zones: ['europe-west1-b', 'europe-west1-c'],
    instanceCount: 2,
    activeStandby: true,
    internalLoadBalancer: true,
    network: 'projects/net/global/networks/vpc',
    subnetwork: 'projects/net/regions/europe-west1/subnetworks/gw',
    peerCidrs: ['198.51.100.7/32'],
    remoteCidrs: ['10.10.0.0/16'],
    forwardFromCidrs: ['10.20.0.0/16'],
    agent: {
      package: 'wiremesh@0.1.0',
      config: {
        interface: { addresses: ['10.99.0.2/24'] },
        peers: [
          {
            name: 'site-a',
            publicKey: PEER_PUBLIC_KEY,
            endpoint: 'gw-a.example.net:51820',
            allowedIps: ['10.10.0.0/16'],
          },
        ],
      },
    },
  });
  const gcpGroup = new GcpGatewayGroup('site-d', {
    zones: ['europe-west1-b', 'europe-west1-c'],
    network: 'projects/net/global/networks/vpc',
    subnetwork: 'projects/net/regions/europe-west1/subnetworks/gw',
    peerCidrs: ['198.51.100.7/32'],
    remoteCidrs: ['10.10.0.0/16'],
    agent: {
      package: 'wiremesh@0.1.0',
      config: {
        interface: { addresses: ['10.99.0.4/24'] },
        peers: [
          {
            name: 'site-a',
            publicKey: PEER_PUBLIC_KEY,
            endpoint: 'gw-a.example.net:51820',
            allowedIps: ['10.10.0.0/16'],
          },
        ],
      },
    },
  } as ConstructorParameters<typeof GcpGatewayGroup>[1]);
  const remote = new RemoteHostAgent('onprem', {
    connection: { host: '192.0.2.10', user: 'root', privateKey: 'not-a-real-ssh-key' },
    agentPackage: 'wiremesh@0.1.0',
    privateKey: SOME_PRIVATE_KEY,
    agentConfig: {
      interface: { name: 'wm0', addresses: ['10.99.0.9/24'] },
      privateKey: { source: 'file', path: '/etc/wiremesh/private.key' },
      peers: [
        {
          name: 'site-a',
          publicKey: PEER_PUBLIC_KEY,
          endpoint: '198.51.100.7:51820',
          allowedIps: ['10.10.0.0/16'],
          persistentKeepalive: 25,
        },
      ],
    },
  });
  await Promise.all([
    resolve(awsGateway.endpoints),
    resolve(awsGateway.configSecretArn),
    resolve(awsGroup.endpoint),
    resolve(gcpGateway.userData),
    resolve(gcpGateway.agentConfig),
    resolve(gcpGroup.endpoint),
    resolve(remote.publicKey),
  ]);
  await mocks.settle();
  return { mocks, resources: fromRecordedResources(mocks.resources) };
}

/** A copy of `resources` with the props of the resource `name` changed by `change`. */
export function withProps(
  resources: RunnerResource[],
  name: string,
  change: (props: Record<string, any>) => Record<string, any>,
): RunnerResource[] {
  let found = false;
  const out = resources.map((r) => {
    if (r.name !== name) return r;
    found = true;
    return { ...r, props: change(structuredClone(r.props) as Record<string, any>) };
  });
  if (!found) throw new Error(`withProps: no resource named ${name}: ${resources.map((r) => r.name).join(', ')}`);
  return out;
}

/** The createdAt of the stack's first WireGuard key pair. */
export function firstKeyCreatedAt(resources: RunnerResource[]): Date {
  const pair = resources.find((r) => r.type === 'pulumi-nodejs:dynamic/wiremesh:WireGuardKeyPair');
  if (!pair) throw new Error('no key pair in the stack');
  return new Date(String(pair.props.createdAt));
}

function keyCreationTimes(resources: RunnerResource[]): number[] {
  const created = resources
    .filter((r) => r.type === 'pulumi-nodejs:dynamic/wiremesh:WireGuardKeyPair')
    .map((r) => Date.parse(String(r.props.createdAt)));
  if (created.length === 0) throw new Error('no key pair in the stack');
  return created;
}

/** The creation time of the stack's newest key pair (each key's epochs are offset by its name). */
export function newestKeyCreatedAt(resources: RunnerResource[]): Date {
  return new Date(Math.max(...keyCreationTimes(resources)));
}

/** The creation time of the stack's oldest key pair. */
export function oldestKeyCreatedAt(resources: RunnerResource[]): Date {
  return new Date(Math.min(...keyCreationTimes(resources)));
}

/** A clock one day after the stack's first key was made: every key is young, no deadline near. */
export function dayAfterFirstKey(resources: RunnerResource[]): Date {
  return new Date(firstKeyCreatedAt(resources).getTime() + 86_400_000);
}

/** The recorded component stack and a clock one day after its first key: what most policy tests start from. */
export async function componentStack(): Promise<{ stack: RunnerResource[]; now: Date }> {
  const { resources } = await recordComponentStack();
  return { stack: resources, now: dayAfterFirstKey(resources) };
}
