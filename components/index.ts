/**
 * The wiremesh Pulumi components, their argument types, and the mesh spec types and planner they
 * are built on.
 *
 * Flat exports: every component class with its args types, the key/bootstrap/remote-host helpers,
 * the mesh spec (types, `parseMeshSpec`, `validateMeshSpec`) and planner (`planMesh`,
 * `agentConfigFor`, ...). The AWS and GCP modules are also available whole as the namespaces
 * `awsComponents` and `gcpComponents`. `testing` holds the mock helpers for users' own component tests.
 */

// Components shared by every cloud: keys, agent bootstrap, existing hosts, the whole mesh.
export * from './key';
export * from './bootstrap';
export * from './remote-host';
export * from './mesh';

// What AWS and GCP gateways share: the agent argument and its document, the key argument, the error type.
export {
  completeAgentConfig,
  GATEWAY_INTERFACE,
  type GatewayAgentArgs,
  type GatewayAgentConfig,
  type GatewayInterfaceConfig,
} from './agent-config';
export type { GatewayKeyArgs } from './gateway-key';
export { ComponentArgumentError } from './errors';

// AWS.
export {
  AwsKeySecret,
  awsSecretSource,
  type AwsKeySecretArgs,
  AwsGateway,
  type AwsGatewayArgs,
  type AwsGatewayCreateNetworkArgs,
  type AwsGatewayInstance,
  type AwsGatewaySubnetArgs,
  AwsGatewayGroup,
  type AwsGatewayGroupArgs,
  ec2AssumeRolePolicy,
  secretReadPolicy,
  secretReadStatements,
  type IamPolicyDocument,
  type IamPolicyStatement,
  type SecretReadGrant,
} from './aws';
export * as awsComponents from './aws';

// GCP.
export {
  GcpGateway,
  type GcpGatewayArgs,
  type GcpGatewayCreateNetworkArgs,
  GcpGatewayGroup,
  type GcpGatewayGroupArgs,
  type GcpGatewayGroupSessionAffinity,
  GcpKeySecret,
  type GcpKeySecretArgs,
  type GcpSecretAccessorGrantArgs,
  type GcpSecretReplicationArgs,
  grantSecretAccessor,
  gcpSecretSource,
  GOOGLE_HEALTH_CHECK_RANGES,
  NETWORK_LB_HEALTH_CHECK_RANGES,
} from './gcp';
export * as gcpComponents from './gcp';

// Mock helpers for tests of programs built on these components.
export * as testing from './testing';

// The mesh spec and the planner.
export type { MeshDefaults, MeshSpec, Provider as SiteProvider, SiteSpec, TopologySpec } from '../mesh/spec';
export { gatewayAddress, parseMeshSpec, validateMeshSpec } from '../mesh/validate';
export { meshSpecSchema } from '../mesh/spec-schema';
export {
  agentConfigFor,
  DEFAULT_LISTEN_PORT,
  DEFAULT_MTU,
  DEFAULT_PERSISTENT_KEEPALIVE,
  planMesh,
  type AgentConfigOptions,
  type GatewayPlan,
  type MeshPlan,
  type PlannedPeer,
  type PlanOptions,
} from '../mesh/planner';
export { importWgQuick, renderGateway } from '../mesh/wg-quick-render';

// The agent configuration document the gateways receive.
export { parseAgentConfig, validateAgentConfig } from '../agent/gateway/config';
export { ConfigError, type ConfigProblem } from '../common/validation';
export type { HealthConfig, InterfaceConfig, KeySource, ListenConfig, PeerConfig } from '../agent/gateway/config-types';
