/** AWS components: key secrets, site gateways, load-balanced gateway groups. */
export { AwsKeySecret, awsSecretSource, type AwsKeySecretArgs, TAG_KEY_CREATED_AT, TAG_ROLE, TAG_SITE } from './key-secret';
export {
  AwsGateway,
  completeAgentConfig,
  DEFAULT_HEALTH_PORT,
  DEFAULT_INSTANCE_TYPE,
  DEFAULT_LISTEN_PORT,
  type AwsGatewayAgentConfig,
  type AwsGatewayArgs,
  type AwsGatewayInstance,
  type AwsGatewaySubnetArgs,
} from './gateway';
export { AwsGatewayGroup, type AwsGatewayGroupArgs } from './gateway-group';
export { ec2AssumeRolePolicy, secretReadPolicy, secretReadStatements, type IamPolicyDocument, type IamPolicyStatement, type SecretReadGrant } from './policy';
export { ComponentArgumentError } from './validation';
