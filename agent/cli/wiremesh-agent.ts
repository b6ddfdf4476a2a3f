/**
 * `wiremesh-agent run --config FILE` runs a gateway; `wiremesh-agent check --config FILE [--offline]`
 * validates the configuration, verifies every key and configuration source it names (files: owner,
 * mode, content; cloud secrets: fetched with this host's identity unless --offline) and prints what
 * would be applied, without touching the host. FILE is YAML/JSON (schemas/agent-config.schema.json)
 * or a wg-quick `.conf`.
 */
import { parseArgs } from 'node:util';
import type { LevelWithSilent } from 'pino';
import { formatPrefix, parsePrefix } from '../../common/ip';
import { ConfigError } from '../../common/validation';
import { GatewayAgent, readConfigFile, type LogSettings } from '../gateway/agent';
import { ExecFileCommandRunner } from '../gateway/commands';
import { DEFAULT_METRICS_LISTEN } from '../gateway/config';
import { checkSources, describeKeySource, formatChecks } from '../gateway/config-check';
import type { AgentConfig } from '../gateway/config-types';
import { autoDataPlane, createDataPlane } from '../gateway/planes';
import { createLogger } from '../observability/logger';

const USAGE = `Usage:
  wiremesh-agent run --config FILE               bring up the gateway and keep it configured
  wiremesh-agent check --config FILE [--offline] validate FILE and every key source it names,
                                                 and print what would be applied; --offline
                                                 leaves cloud secret stores unchecked
Environment: WIREMESH_LOG_LEVEL and WIREMESH_LOG_FILE apply where the configuration's log.level
and log.file are absent.
`;

const LOG_LEVELS: readonly LevelWithSilent[] = ['debug', 'info', 'warn', 'error'];

/** A readable plan: no key material, only where keys come from. */
export function describePlan(config: AgentConfig, dataPlane: string): string {
  const lines = [
    `interface ${config.interface.name}: addresses ${config.interface.addresses.join(', ') || '(none)'}, ` +
      `listen port ${config.interface.listenPort ?? 'random'}, MTU ${config.interface.mtu ?? 1420}` +
      `${config.interface.fwmark ? `, fwmark ${config.interface.fwmark}` : ''}`,
    `data plane: ${dataPlane}${config.dataPlane === 'auto' || !config.dataPlane ? ' (auto)' : ''}`,
    `private key: ${describeKeySource(config.privateKey)}${config.nextPrivateKey ? `; rotating to ${describeKeySource(config.nextPrivateKey)}${config.switchAt ? ` at ${config.switchAt}` : ''}` : ''}`,
    `peers (${config.peers.length}):`,
    ...config.peers.map(
      (peer) =>
        `  ${peer.name}  ${peer.publicKey}  endpoint ${peer.endpoint ?? '(learned)'}  allowed ${peer.allowedIps.join(', ')}` +
        `${peer.persistentKeepalive ? `  keepalive ${peer.persistentKeepalive}s` : ''}${peer.presharedKey ? `  psk from ${describeKeySource(peer.presharedKey)}` : ''}` +
        `${peer.nextPublicKey ? `  next key ${peer.nextPublicKey}${peer.switchAt ? ` from ${peer.switchAt}` : ''}` : ''}`,
    ),
    `routes: ${(config.routes ?? config.peers.flatMap((p) => p.allowedIps)).map((r) => formatPrefix(parsePrefix(r))).join(', ') || '(none)'}`,
    `forwarding: ${(config.forwarding ?? true) ? 'on' : 'off'}`,
  ];
  if (config.metrics)
    lines.push(
      `metrics: http://${config.metrics.listen ?? DEFAULT_METRICS_LISTEN}/metrics${config.metrics.allowedIpsLabel ? ' (with allowed_ips labels)' : ''}`,
    );
  if (config.health)
    lines.push(
      `health: http://${config.health.listen}/healthz (required peers: ${config.health.requiredPeers?.join(', ') || 'none'})`,
    );
  if (config.configSource) lines.push(`config source: ${config.configSource.source}`);
  return `${lines.join('\n')}\n`;
}

interface Invocation {
  command: 'run' | 'check';
  config: string;
  offline: boolean;
}

/** Parses argv strictly: an unknown flag, a missing --config or a stray argument is a usage error. */
function parseInvocation(argv: string[]): Invocation | string {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        offline: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    return (error as Error).message;
  }
  const { values, positionals } = parsed;
  if (values.help) return '';
  const [command, ...extra] = positionals;
  if (command !== 'run' && command !== 'check')
    return command === undefined ? 'no command given' : `unknown command "${command}"`;
  if (extra.length > 0) return `unexpected argument "${extra[0]}"`;
  if (values.config === undefined) return `${command} needs --config FILE`;
  if (values.offline && command !== 'check') return '--offline applies to check only';
  return { command, config: values.config, offline: values.offline ?? false };
}

/** Log defaults from the environment; the configuration's log.level and log.file take precedence. */
function logDefaults(): LogSettings | string {
  const level = process.env['WIREMESH_LOG_LEVEL'] || 'info';
  if (!LOG_LEVELS.includes(level as LevelWithSilent))
    return `WIREMESH_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not "${level}"`;
  const file = process.env['WIREMESH_LOG_FILE'] || undefined;
  return { level: level as LogSettings['level'], ...(file && { file }) };
}

async function check(invocation: Invocation): Promise<number> {
  try {
    const config = await readConfigFile(invocation.config);
    process.stdout.write(
      describePlan(config, config.dataPlane === 'auto' || !config.dataPlane ? autoDataPlane() : config.dataPlane),
    );
    const checks = await checkSources(config, { offline: invocation.offline });
    process.stdout.write(formatChecks(checks));
    return checks.some((result) => result.outcome === 'failed') ? 1 : 0;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 1;
  }
}

async function run(invocation: Invocation): Promise<number> {
  const defaults = logDefaults();
  if (typeof defaults === 'string') {
    process.stderr.write(`wiremesh-agent: ${defaults}\n`);
    return 2;
  }
  let logging: LogSettings;
  try {
    const { log } = await readConfigFile(invocation.config);
    const file = log?.file ?? defaults.file;
    logging = { level: log?.level ?? defaults.level, ...(file && { file }) };
  } catch (error) {
    process.stderr.write(`wiremesh-agent: ${(error as Error).message}\n`);
    return 1;
  }
  const logger = createLogger({
    level: logging.level,
    name: 'wiremesh-agent',
    ...(logging.file && { destination: logging.file }),
  });
  const commands = new ExecFileCommandRunner();
  const agent = new GatewayAgent({
    configPath: invocation.config,
    logger,
    logging: { defaults, opened: logging },
    commands,
    createPlane: (kind) => createDataPlane(kind, commands),
    autoPlane: autoDataPlane,
  });

  // Installed before start, so a stop requested while starting is not lost (the default action
  // would end the process with the interface half set up). Any later stop signal (systemd's
  // control-group SIGTERM plus a launcher's forwarded one, a second Ctrl-C) is the same request:
  // cleanup runs once, to the end.
  let stopSignal: NodeJS.Signals | null = null;
  let requestStop!: () => void;
  const stopRequested = new Promise<void>((resolve) => (requestStop = resolve));
  const onStopSignal = (signal: NodeJS.Signals): void => {
    if (stopSignal !== null) {
      logger.info({ event: 'agent.signal-ignored', signal }, `already stopping (on ${stopSignal}); cleanup continues`);
      return;
    }
    stopSignal = signal;
    logger.info({ event: 'agent.stopping', signal });
    agent.cancelStart();
    requestStop();
  };
  let running = false;
  process.on('SIGTERM', onStopSignal);
  process.on('SIGINT', onStopSignal);
  process.on('SIGHUP', () => {
    if (running && stopSignal === null) void agent.reload('SIGHUP');
    else
      logger.info(
        { event: 'agent.signal-ignored', signal: 'SIGHUP' },
        running ? 'stopping' : 'still starting; the configuration is being read',
      );
  });

  try {
    await agent.start();
  } catch (error) {
    const message = (error as Error).message;
    logger.error({ event: 'agent.failed', error: message });
    process.stderr.write(`wiremesh-agent: ${error instanceof ConfigError ? '' : 'cannot start: '}${message}\n`);
    return 1;
  }
  running = true;
  await stopRequested;
  try {
    await agent.stop();
  } catch (error) {
    logger.error({ event: 'agent.stop-failed', error: (error as Error).message });
    return 1;
  }
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const invocation = parseInvocation(argv);
  if (typeof invocation === 'string') {
    const help = invocation === '';
    (help ? process.stdout : process.stderr).write(`${help ? '' : `wiremesh-agent: ${invocation}\n`}${USAGE}`);
    return help ? 0 : 2;
  }
  return invocation.command === 'check' ? check(invocation) : run(invocation);
}

if (require.main === module) void main(process.argv.slice(2)).then((code) => process.exit(code));
