/** AWS components: key secrets, site gateways, load-balanced gateway groups. */
export { AwsKeySecret, awsSecretSource, type AwsKeySecretArgs } from './key-secret';
export { AwsGateway } from './gateway';
export {
  DEFAULT_INSTANCE_TYPE,
  validateAwsGatewayArgs,
  type AwsGatewayArgs,
  type AwsGatewayKeySecretArgs,
  type AwsGatewaySubnetArgs,
} from './gateway-args';
export type { AwsGatewayInstance } from './instances';
export { carveSubnetCidrs, type AwsGatewayCreateNetworkArgs, type AwsGatewayNetwork } from './network';
export { AwsGatewayGroup, validateAwsGatewayGroupArgs, type AwsGatewayGroupArgs } from './gateway-group';
export {
  ec2AssumeRolePolicy,
  secretReadPolicy,
  secretReadStatements,
  type IamPolicyDocument,
  type IamPolicyStatement,
  type SecretReadGrant,
} from './policy';
