/**
 * components/agent-config.ts: the one completion of a gateway's agent document (AwsGateway and
 * GcpGateway), pure.
 */
import {
  agentParts,
  bootstrapConfigOf,
  checkAgentArgs,
  completeAgentConfig,
  GATEWAY_INTERFACE,
  type AgentConfigParts,
  type GatewayAgentConfig,
} from '../../components/agent-config';
import { ComponentArgumentError } from '../../components/errors';
import { wireGuardKeyPairFromEntropy } from '../../components/key';

const PEER_KEY = wireGuardKeyPairFromEntropy(new Uint8Array(32).fill(7)).publicKey;
const config: GatewayAgentConfig = {
  interface: { addresses: ['10.99.0.1/24'] },
  peers: [{ name: 'site-b', publicKey: PEER_KEY, endpoint: '203.0.113.7:51820', allowedIps: ['10.20.0.0/16'] }],
};
const parts: AgentConfigParts = {
  interfaceName: undefined,
  privateKey: {
    source: 'aws-secrets-manager' as const,
    secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbCdEf',
    region: 'eu-west-1',
  },
  configSource: {
    source: 'aws-secrets-manager' as const,
    secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:c-AbCdEf',
    region: 'eu-west-1',
  },
  listenPort: 51820,
  healthPort: 9587,
  dataPlane: undefined,
  metricsListen: undefined,
};
const label = 'AwsGateway "gw"';

describe('completeAgentConfig', () => {
  test('fills in the interface name and port, the key, the config source and the health listener, in one key order', () => {
    const full = completeAgentConfig(label, config, parts);
    expect(full).toEqual({
      interface: { name: GATEWAY_INTERFACE, addresses: ['10.99.0.1/24'], listenPort: 51820 },
      privateKey: parts.privateKey,
      peers: config.peers,
      configSource: parts.configSource,
      health: { listen: '0.0.0.0:9587' },
      statusFile: '/run/wiremesh/wm0.status.json',
    });
    expect(Object.keys(full)).toEqual(['interface', 'privateKey', 'peers', 'configSource', 'health', 'statusFile']);
  });

  test('agent.interfaceName, metricsListen and dataPlane go into the document; [::] is a wildcard listener too', () => {
    const full = completeAgentConfig(
      label,
      { ...config, health: { listen: '[::]:9587' } },
      { ...parts, interfaceName: 'wg7', metricsListen: '127.0.0.1:9586', dataPlane: 'userspace' },
    );
    expect(full.interface.name).toBe('wg7');
    expect(full.metrics).toEqual({ listen: '127.0.0.1:9586' });
    expect(full.dataPlane).toBe('userspace');
    expect(full.health).toEqual({ listen: '[::]:9587' });
    expect(
      completeAgentConfig(label, { ...config, interface: { ...config.interface, name: 'wg3' } }, parts).interface.name,
    ).toBe('wg3');
  });

  test.each<[string, GatewayAgentConfig, Partial<AgentConfigParts>, string]>([
    [
      'another listen port',
      { ...config, interface: { ...config.interface, listenPort: 51821 } },
      {},
      'agent.config.interface.listenPort 51821 differs from listenPort 51820 (the firewall and load balancer port)',
    ],
    [
      'a loopback health listener',
      { ...config, health: { listen: '127.0.0.1:9587' } },
      {},
      'agent.config.health.listen "127.0.0.1:9587" must be 0.0.0.0:9587 or [::]:9587',
    ],
    [
      'another health port',
      { ...config, health: { listen: '0.0.0.0:9000' } },
      {},
      'agent.config.health.listen "0.0.0.0:9000" must be 0.0.0.0:9587',
    ],
    [
      'a private key source',
      { ...config, privateKey: { source: 'file', path: '/k' } } as never,
      {},
      'agent.config.privateKey must be left out: the gateway points the agent at its key secret',
    ],
    [
      'a config source',
      { ...config, configSource: { source: 'file', path: '/c' } } as never,
      {},
      'agent.config.configSource must be left out: the gateway points the agent at its config secret',
    ],
    [
      'another interface name',
      { ...config, interface: { ...config.interface, name: 'wg1' } },
      { interfaceName: 'wm0' },
      'agent.config.interface.name "wg1" differs from agent.interfaceName "wm0"',
    ],
    [
      'other metrics',
      { ...config, metrics: { listen: '127.0.0.1:1' } },
      { metricsListen: '127.0.0.1:9586' },
      'agent.config.metrics.listen "127.0.0.1:1" differs from agent.metricsListen "127.0.0.1:9586"',
    ],
    [
      'another data plane',
      { ...config, dataPlane: 'kernel' },
      { dataPlane: 'userspace' },
      'agent.config.dataPlane "kernel" differs from agent.dataPlane "userspace"',
    ],
    [
      'an inline next key',
      { ...config, nextPrivateKey: { source: 'inline', key: Buffer.alloc(32), description: 'x' } },
      {},
      'agent.config.nextPrivateKey is an inline key',
    ],
    [
      'an inline preshared key',
      {
        ...config,
        peers: [{ ...config.peers[0]!, presharedKey: { source: 'inline', key: Buffer.alloc(32), description: 'x' } }],
      },
      {},
      'agent.config.peers[0].presharedKey is an inline key; key material may not go into the configuration document',
    ],
    ['no interface', { peers: [] } as never, {}, 'agent.config.interface is required'],
  ])('refuses %s, naming the argument', (_what, given, partOverrides, message) => {
    expect(() => completeAgentConfig(label, given, { ...parts, ...partOverrides })).toThrow(ComponentArgumentError);
    expect(() => completeAgentConfig(label, given, { ...parts, ...partOverrides })).toThrow(`${label}: ${message}`);
  });
});

describe('checkAgentArgs', () => {
  test.each([
    ['no package', { package: '', config }, 'agent.artifact is required'],
    ['an unpinned package', { package: 'wiremesh@latest', config }, 'agent.package: agentPackage must be pinned'],
    ['no config', { package: 'wiremesh@0.1.0' } as never, 'agent.config is required'],
    [
      'a long interface name',
      { package: 'wiremesh@0.1.0', config, interfaceName: 'wiremesh-interface0' },
      'agent.interfaceName must be 1 to 15',
    ],
    [
      'a zero poll interval',
      { package: 'wiremesh@0.1.0', config, configPollSeconds: 0 },
      'agent.configPollSeconds must be a whole number of seconds of at least 1, got 0',
    ],
    [
      'Node.js 22',
      { package: 'wiremesh@0.1.0', config, nodeVersion: '22' },
      'agent.nodeVersion must be a Node.js major version of 24 or later',
    ],
  ])('refuses %s', (_what, agent, message) => {
    expect(() => checkAgentArgs(label, agent)).toThrow(`${label}: ${message}`);
  });

  test('accepts a pinned package and a document', () => {
    expect(() =>
      checkAgentArgs(label, {
        package: 'wiremesh@0.1.0',
        config,
        interfaceName: 'wm0',
        configPollSeconds: 30,
        nodeVersion: '24',
      }),
    ).not.toThrow();
    expect(agentParts({ package: 'p', config, interfaceName: 'wm1', dataPlane: 'kernel' })).toEqual({
      interfaceName: 'wm1',
      dataPlane: 'kernel',
      metricsListen: undefined,
    });
  });
});

test('bootstrapConfigOf keeps the references of a completed document only', () => {
  const full = completeAgentConfig(label, config, {
    ...parts,
    metricsListen: '127.0.0.1:9586',
    dataPlane: 'wireguard-go',
  });
  expect(bootstrapConfigOf(full)).toEqual({
    interfaceName: 'wm0',
    privateKey: parts.privateKey,
    configSource: parts.configSource,
    healthListen: '0.0.0.0:9587',
    metricsListen: '127.0.0.1:9586',
    dataPlane: 'wireguard-go',
  });
});
