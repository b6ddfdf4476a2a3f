/** The agent configuration (YAML or JSON): returns, or a ConfigError with JSON paths. */
import { parseAgentConfig } from '../../agent/gateway/config';
import type { FuzzTarget } from '../target';
import { JSON_PATH, expectConfigOutcome } from './config-outcome';
import { CIDR_TOKENS, KEY, YAML_TOKENS } from './tokens';

export const agentConfig: FuzzTarget = {
  name: 'agent-config',
  modules: ['agent/gateway/config.js'],
  dictionary: [
    'interface:',
    'name: ',
    'addresses:',
    'listenPort: ',
    'mtu: ',
    'fwmark: ',
    'privateKey:',
    'source: ',
    'file',
    'path: ',
    'aws-secrets-manager',
    'gcp-secret-manager',
    'secretId: ',
    'region: ',
    'project: ',
    'secret: ',
    'version: ',
    'peers:',
    'publicKey: ',
    'presharedKey:',
    'endpoint: ',
    'allowedIps:',
    'persistentKeepalive: ',
    'dataPlane: ',
    'userspace',
    'kernel',
    'wireguard-go',
    'auto',
    'forwarding: ',
    'fullTunnel: ',
    'metrics:',
    'health:',
    'listen: ',
    'requiredPeers:',
    'maxHandshakeAgeSeconds: ',
    'log:',
    'level: ',
    KEY,
    ...YAML_TOKENS,
    ...CIDR_TOKENS,
  ],
  maxLength: 8192,
  run(input) {
    expectConfigOutcome(input.toString('utf8'), parseAgentConfig, JSON_PATH);
  },
};
