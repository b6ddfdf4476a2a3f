/**
 * Facts every part of wiremesh agrees on: ports, names, tags and labels. SDK-free, so the agent, the
 * planner, the Pulumi components and the policy pack can all import it.
 */

/** WireGuard's registered UDP port. */
export const WIREGUARD_PORT = 51820;
/** The agent's TCP health listener (`/healthz`), reached by load balancers. */
export const HEALTH_PORT = 9587;
/**
 * The agent's Prometheus `/metrics` listener (loopback by default). Not 9586, which is
 * prometheus_wireguard_exporter's: a gateway may run both. The Prometheus wiki's port list gives
 * every port of 9100-9999 to some exporter; 9588 (beside HEALTH_PORT) belongs to a log tailer
 * that a gateway is unlikely to run, unlike node (9100), blackbox (9115) or the WireGuard exporter.
 */
export const METRICS_PORT = 9588;
/** Inner MTU of a tunnel: a 1500-byte underlay minus 80 bytes of IPv6 + UDP + WireGuard headers. */
export const DEFAULT_MTU = 1420;
/** The tunnel interface the agent creates when its configuration names none. */
export const DEFAULT_INTERFACE = 'wg0';

/** AWS tags (`Key: Value`) the components put on what they create, read by the policy pack. */
export const AWS_TAG_ROLE = 'wiremesh:role';
export const AWS_TAG_KEY_CREATED_AT = 'wiremesh:key-created-at';
export const AWS_TAG_SITE = 'wiremesh:site';

/** GCP labels allow only `[a-z0-9_-]`, so the same facts are spelled with dashes. */
export const GCP_LABEL_ROLE = 'wiremesh-role';
export const GCP_LABEL_KEY_CREATED_AT = 'wiremesh-key-created-at';
export const GCP_ANNOTATION_KEY_CREATED_AT = 'wiremesh-key-created-at';
/** The network tag that marks a GCP gateway instance. */
export const GCP_GATEWAY_NETWORK_TAG = 'wiremesh-gateway';

/** Values of the role tag / label. */
export const ROLE_PRIVATE_KEY = 'wireguard-private-key';
export const ROLE_PRESHARED_KEY = 'wireguard-preshared-key';
export const ROLE_GATEWAY = 'wireguard-gateway';
