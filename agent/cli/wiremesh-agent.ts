/**
 * `wiremesh-agent run --config FILE` runs a gateway; `wiremesh-agent check --config FILE` validates
 * the configuration and prints what would be applied, without touching the host or fetching keys.
 * FILE is YAML/JSON (schemas/agent-config.schema.json) or a wg-quick `.conf`.
 */
import { formatPrefix, parsePrefix } from '../../common/ip';
import { GatewayAgent, readConfigFile } from '../gateway/agent';
import { ExecFileCommandRunner } from '../gateway/commands';
import { ConfigError } from '../../common/validation';
import type { AgentConfig, KeySource } from '../gateway/config-types';
import { autoDataPlane, createDataPlane } from '../gateway/planes';
import { createLogger } from '../observability/logger';

const USAGE = `Usage:
  wiremesh-agent run --config FILE     bring up the gateway and keep it configured
  wiremesh-agent check --config FILE   validate FILE and print what would be applied
`;

function configPath(argv: string[]): string | null {
  const index = argv.indexOf('--config');
  return index >= 0 && argv[index + 1] ? argv[index + 1]! : null;
}

function describeKey(source: KeySource): string {
  switch (source.source) {
    case 'inline': return source.description;
    case 'file': return `file ${source.path}`;
    case 'aws-secrets-manager': return `AWS Secrets Manager ${source.secretId}`;
    case 'gcp-secret-manager': return `GCP Secret Manager ${source.name}`;
  }
}

/** A readable plan: no key material, only where keys come from. */
export function describePlan(config: AgentConfig, dataPlane: string): string {
  const lines = [
    `interface ${config.interface.name}: addresses ${config.interface.addresses.join(', ') || '(none)'}, ` +
      `listen port ${config.interface.listenPort ?? 'random'}, MTU ${config.interface.mtu ?? 1420}` +
      `${config.interface.fwmark ? `, fwmark ${config.interface.fwmark}` : ''}`,
    `data plane: ${dataPlane}${config.dataPlane === 'auto' || !config.dataPlane ? ' (auto)' : ''}`,
    `private key: ${describeKey(config.privateKey)}${config.nextPrivateKey ? `; rotating to ${describeKey(config.nextPrivateKey)}` : ''}`,
    `peers (${config.peers.length}):`,
    ...config.peers.map((peer) =>
      `  ${peer.name}  ${peer.publicKey}  endpoint ${peer.endpoint ?? '(learned)'}  allowed ${peer.allowedIps.join(', ')}` +
      `${peer.persistentKeepalive ? `  keepalive ${peer.persistentKeepalive}s` : ''}${peer.presharedKey ? `  psk from ${describeKey(peer.presharedKey)}` : ''}`),
    `routes: ${(config.routes ?? config.peers.flatMap((p) => p.allowedIps)).map((r) => formatPrefix(parsePrefix(r))).join(', ') || '(none)'}`,
    `forwarding: ${config.forwarding ?? true ? 'on' : 'off'}`,
  ];
  if (config.metrics) lines.push(`metrics: http://${config.metrics.listen}/metrics`);
  if (config.health) lines.push(`health: http://${config.health.listen}/healthz (required peers: ${config.health.requiredPeers?.join(', ') || 'none'})`);
  if (config.configSource) lines.push(`config source: ${config.configSource.source}`);
  return `${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const path = configPath(rest);
  if ((command !== 'run' && command !== 'check') || !path) {
    process.stderr.write(USAGE);
    return 2;
  }
  if (command === 'check') {
    try {
      const config = await readConfigFile(path);
      process.stdout.write(describePlan(config, config.dataPlane === 'auto' || !config.dataPlane ? autoDataPlane() : config.dataPlane));
      return 0;
    } catch (error) {
      process.stderr.write(`${(error as Error).message}\n`);
      return 1;
    }
  }
  const logger = createLogger({ level: (process.env.WIREMESH_LOG_LEVEL as 'info') ?? 'info', name: 'wiremesh-agent', ...(process.env.WIREMESH_LOG_FILE && { destination: process.env.WIREMESH_LOG_FILE }) });
  const commands = new ExecFileCommandRunner();
  const agent = new GatewayAgent({ configPath: path, logger, commands, createPlane: (kind) => createDataPlane(kind, commands), autoPlane: autoDataPlane });
  try {
    await agent.start();
  } catch (error) {
    const message = (error as Error).message;
    logger.error({ event: 'agent.failed', error: message });
    process.stderr.write(`wiremesh-agent: ${error instanceof ConfigError ? '' : 'cannot start: '}${message}\n`);
    return 1;
  }
  process.on('SIGHUP', () => void agent.reload('SIGHUP'));
  await new Promise<void>((resolve) => {
    const stop = (): void => void agent.stop().then(resolve, resolve);
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return 0;
}

if (require.main === module) void main(process.argv.slice(2)).then((code) => process.exit(code));
