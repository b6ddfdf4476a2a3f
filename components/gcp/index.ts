/** GCP components: gateways, gateway groups behind an external NLB, keys in Secret Manager. */
export * from './gateway';
export * from './gateway-args';
export * from './gateway-group';
export * from './key-secret';
export { ACTIVE_STANDBY_FAILOVER_POLICY } from './load-balancer';
export { GOOGLE_HEALTH_CHECK_RANGES, NETWORK_LB_HEALTH_CHECK_RANGES, parseIpv4Cidr, type Ipv4Cidr } from './validation';
