/** Fixtures of the AwsGateway / AwsGatewayGroup tests: the remote peer and its agent document. */
import type { GatewayAgentConfig } from '../../components/agent-config';
import { wireGuardKeyPairFromEntropy } from '../../components/key';

export const PEER_KEY = wireGuardKeyPairFromEntropy(new Uint8Array(32).fill(7)).publicKey;

/** One peer (site-b, 10.20.0.0/16) on wm0. */
export const agentConfig: GatewayAgentConfig = {
  interface: { name: 'wm0', addresses: ['10.99.0.1/24'] },
  peers: [{ name: 'site-b', publicKey: PEER_KEY, endpoint: '203.0.113.7:51820', allowedIps: ['10.20.0.0/16'] }],
};
