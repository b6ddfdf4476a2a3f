/** AWS components: key secrets, site gateways, load-balanced gateway groups. */
export { AwsKeySecret, awsSecretSource, type AwsKeySecretArgs } from './key-secret';
export {
  AwsGateway,
  completeAgentConfig,
  DEFAULT_INSTANCE_TYPE,
  type AwsGatewayAgentConfig,
  type AwsGatewayArgs,
  type AwsGatewayInstance,
  type AwsGatewaySubnetArgs,
} from './gateway';
export { AwsGatewayGroup, type AwsGatewayGroupArgs } from './gateway-group';
export { ec2AssumeRolePolicy, secretReadPolicy, secretReadStatements, type IamPolicyDocument, type IamPolicyStatement, type SecretReadGrant } from './policy';

