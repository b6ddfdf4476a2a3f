/**
 * The agent configuration of a cloud gateway, one set of rules for AWS and GCP: the caller gives
 * the document without what the gateway owns (`agent.config`), the gateway completes it with its
 * key secret (`privateKey`), its config secret (`configSource`), its ports and its interface name,
 * and refuses a document that contradicts any of them or carries key material. Pure: no resources.
 */
import type * as pulumi from '@pulumi/pulumi';
import type {
  AgentConfig,
  ConfigSourceConfig,
  DataPlaneKind,
  InterfaceConfig,
  KeySource,
} from '../agent/gateway/config-types';
import { splitHostPort } from '../common/hostport';
import type { AgentSource, BootstrapConfig } from './bootstrap';
import { agentCloudInit, checkAgentPackage } from './bootstrap';
import { ComponentArgumentError, describe } from './errors';

/** The WireGuard interface name of gateways unless `agent.interfaceName` (or the document) says otherwise. */
export const GATEWAY_INTERFACE = 'wm0';

/** Where a gateway's agent writes its status document: /run/wiremesh, the unit's runtime directory. */
export function statusFileOf(interfaceName: string): string {
  return `/run/wiremesh/${interfaceName}.status.json`;
}

/** The interface settings the caller gives: the name and port come from the gateway when left out. */
export interface GatewayInterfaceConfig extends Omit<InterfaceConfig, 'name'> {
  /** Must equal `agent.interfaceName` when both are given; default `agent.interfaceName`, else `wm0`. */
  name?: string;
}

/**
 * The agent configuration document without the parts the gateway fills in: no `privateKey` (its key
 * secret) and no `configSource` (its config secret); `interface.listenPort` and `health.listen`
 * must agree with the gateway's ports when given.
 */
export interface GatewayAgentConfig extends Omit<AgentConfig, 'interface' | 'privateKey' | 'configSource'> {
  interface: GatewayInterfaceConfig;
}

/**
 * How a gateway installs and configures wiremesh-agent (`agent` of AwsGateway and GcpGateway).
 * Exactly one of `artifact` (the default way: see artifact.ts) and `package`.
 */
export interface GatewayAgentArgs {
  /**
   * Path (on the deploying machine) of the agent tarball, made with `npm pack` of the wiremesh
   * package the program uses (`npm run pack:package` in a checkout). The gateway uploads it to its
   * own bucket (S3 / Cloud Storage), lets exactly its instances read exactly that object, and the
   * VMs install it after checking its sha256: the VMs run what the program deployed.
   */
  artifact?: string;
  /**
   * Instead of `artifact`: a package you publish yourself, pinned: an exact version
   * (`@acme/wiremesh@1.2.3`) or an https `.tgz` URL, see `agentCloudInit`.
   */
  package?: pulumi.Input<string>;
  /** Peers, addresses, routes... (see {@link GatewayAgentConfig}). */
  config: pulumi.Input<GatewayAgentConfig>;
  /** WireGuard interface name; default the document's `interface.name`, else `wm0`. */
  interfaceName?: string;
  /** Data plane; default the document's `dataPlane`, else the agent's (`auto`). */
  dataPlane?: DataPlaneKind;
  /** host:port of the metrics listener; default the document's, else none. */
  metricsListen?: string;
  /** Seconds between the agent's polls of its config secret; default the agent's (60). */
  configPollSeconds?: number;
  /** Node.js major version on the VM; default "24". */
  nodeVersion?: string;
}

/** What the gateway owns in the document. */
export interface AgentConfigParts {
  /** `agent.interfaceName`, when given. */
  interfaceName: string | undefined;
  listenPort: number;
  healthPort: number;
  /** The key secret's source (its current version). */
  privateKey: KeySource;
  /** The next key's version while the gateway switches to it (a rotated key's phase switch, or from phase next with a scheduled switch). */
  nextPrivateKey?: KeySource;
  /** When the gateway switches to nextPrivateKey (a scheduled switch). */
  switchAt?: string;
  /** The config secret's source. */
  configSource: ConfigSourceConfig;
  dataPlane: DataPlaneKind | undefined;
  metricsListen: string | undefined;
}

/** Checks `agent` apart from its document (see {@link completeAgentConfig}); `label` prefixes the messages. */
export function checkAgentArgs(label: string, agent: GatewayAgentArgs): void {
  if (typeof agent !== 'object' || agent === null)
    throw argumentError(label, 'agent is required (artifact or package, and config)');
  const hasPackage = agent.package !== undefined && agent.package !== null && agent.package !== '';
  if (hasPackage === (agent.artifact !== undefined)) {
    throw argumentError(
      label,
      hasPackage
        ? 'agent.artifact and agent.package are exclusive: give one'
        : 'agent.artifact is required (the path of the agent tarball made with `npm pack`), or agent.package (a pinned package you publish)',
    );
  }
  // agentCloudInit checks it too, but only after the secrets and the role exist: check first.
  if (hasPackage && typeof agent.package === 'string') {
    try {
      checkAgentPackage(agent.package);
    } catch (error) {
      throw argumentError(label, `agent.package: ${(error as Error).message}`);
    }
  }
  if (agent.config === undefined || agent.config === null)
    throw argumentError(label, 'agent.config is required (interface addresses and peers)');
  if (
    agent.interfaceName !== undefined &&
    (typeof agent.interfaceName !== 'string' || !/^[A-Za-z0-9_=+.-]{1,15}$/.test(agent.interfaceName))
  ) {
    throw argumentError(
      label,
      `agent.interfaceName must be 1 to 15 of letters, digits, "_=+.-", got ${describe(agent.interfaceName)}`,
    );
  }
  if (
    agent.configPollSeconds !== undefined &&
    (!Number.isInteger(agent.configPollSeconds) || agent.configPollSeconds < 1)
  ) {
    throw argumentError(
      label,
      `agent.configPollSeconds must be a whole number of seconds of at least 1, got ${describe(agent.configPollSeconds)}`,
    );
  }
  if (
    agent.nodeVersion !== undefined &&
    (typeof agent.nodeVersion !== 'string' || !/^\d+$/.test(agent.nodeVersion) || Number(agent.nodeVersion) < 24)
  ) {
    throw argumentError(
      label,
      `agent.nodeVersion must be a Node.js major version of 24 or later, e.g. "24", got ${describe(agent.nodeVersion)}`,
    );
  }
}

/**
 * The full agent configuration of a gateway: `config` with the gateway's key secret as
 * `privateKey`, its config secret as `configSource`, `interface.name` and `interface.listenPort`,
 * `health.listen` (default `0.0.0.0:healthPort`: the load balancers probe it from outside), and
 * `agent.metricsListen` / `agent.dataPlane` when given. Throws a ComponentArgumentError naming the
 * argument path when `config` contradicts any of them or holds key material (`inline` keys).
 */
export function completeAgentConfig(label: string, config: GatewayAgentConfig, parts: AgentConfigParts): AgentConfig {
  const fail = (message: string): never => {
    throw argumentError(label, message);
  };
  if (typeof config !== 'object' || config === null) fail('agent.config must be an object');
  const iface = config.interface;
  if (typeof iface !== 'object' || iface === null) fail('agent.config.interface is required (addresses, mtu...)');
  for (const [field, owner] of [
    ['privateKey', 'key'],
    ['configSource', 'config'],
  ] as const) {
    if (field in config)
      fail(`agent.config.${field} must be left out: the gateway points the agent at its ${owner} secret`);
  }
  if (iface.name !== undefined && parts.interfaceName !== undefined && iface.name !== parts.interfaceName) {
    fail(`agent.config.interface.name "${iface.name}" differs from agent.interfaceName "${parts.interfaceName}"`);
  }
  if (iface.listenPort !== undefined && iface.listenPort !== parts.listenPort) {
    fail(
      `agent.config.interface.listenPort ${describe(iface.listenPort)} differs from listenPort ${parts.listenPort} (the firewall and load balancer port)`,
    );
  }
  const healthListen = `0.0.0.0:${parts.healthPort}`;
  if (config.health?.listen !== undefined) {
    const { host, port } = splitHostPort(String(config.health.listen));
    if (port !== parts.healthPort || (host !== '0.0.0.0' && host !== '::')) {
      fail(
        `agent.config.health.listen ${describe(config.health.listen)} must be ${healthListen} or [::]:${parts.healthPort}: the load balancers' health checks reach healthPort from outside`,
      );
    }
  }
  if (
    parts.metricsListen !== undefined &&
    config.metrics !== undefined &&
    config.metrics.listen !== parts.metricsListen
  ) {
    fail(
      `agent.config.metrics.listen "${config.metrics.listen}" differs from agent.metricsListen "${parts.metricsListen}"`,
    );
  }
  if (config.dataPlane !== undefined && parts.dataPlane !== undefined && config.dataPlane !== parts.dataPlane) {
    fail(`agent.config.dataPlane "${config.dataPlane}" differs from agent.dataPlane "${parts.dataPlane}"`);
  }
  if (parts.nextPrivateKey !== undefined && config.nextPrivateKey !== undefined)
    fail("agent.config.nextPrivateKey must be left out: the gateway names its rotating key's next version");
  if (parts.switchAt !== undefined && config.switchAt !== undefined)
    fail('agent.config.switchAt must be left out: the gateway names when its rotating key switches');
  if (config.nextPrivateKey?.source === 'inline')
    fail('agent.config.nextPrivateKey is an inline key; key material may not go into the configuration document');
  (config.peers ?? []).forEach((peer, i) => {
    if (peer.presharedKey?.source === 'inline')
      fail(
        `agent.config.peers[${i}].presharedKey is an inline key; key material may not go into the configuration document`,
      );
  });
  const metrics = parts.metricsListen !== undefined ? { listen: parts.metricsListen } : config.metrics;
  const dataPlane = config.dataPlane ?? parts.dataPlane;
  const { interface: _iface, health: _health, metrics: _metrics, dataPlane: _dataPlane, ...rest } = config;
  const interfaceName = iface.name ?? parts.interfaceName ?? GATEWAY_INTERFACE;
  return {
    interface: { name: interfaceName, ...iface, listenPort: parts.listenPort },
    privateKey: parts.privateKey,
    ...rest,
    ...(parts.nextPrivateKey !== undefined ? { nextPrivateKey: parts.nextPrivateKey } : {}),
    ...(parts.switchAt !== undefined ? { switchAt: parts.switchAt } : {}),
    configSource: parts.configSource,
    health: { ...(config.health ?? {}), listen: config.health?.listen ?? healthListen },
    ...(metrics !== undefined ? { metrics } : {}),
    ...(dataPlane !== undefined ? { dataPlane } : {}),
    // The status document (keys held, per-peer key phase): what shows a rotation's phases applied.
    statusFile: config.statusFile ?? statusFileOf(interfaceName),
  };
}

/**
 * What the instances boot with: the references of a completed document, never its keys or peers.
 * The key secret is named without its version (the document names that): a rotation changes the
 * document, never the user data, which would replace or restart the instances.
 */
export function bootstrapConfigOf(config: AgentConfig): BootstrapConfig {
  return {
    interfaceName: config.interface.name,
    privateKey: unversioned(config.privateKey as BootstrapConfig['privateKey']),
    configSource: config.configSource!,
    healthListen: config.health!.listen,
    ...(config.metrics?.listen !== undefined ? { metricsListen: config.metrics.listen } : {}),
    ...(config.dataPlane !== undefined ? { dataPlane: config.dataPlane } : {}),
  };
}

function unversioned(source: BootstrapConfig['privateKey']): BootstrapConfig['privateKey'] {
  if (source.source === 'aws-secrets-manager') {
    const { versionId: _versionId, ...rest } = source;
    return rest;
  }
  if (source.source === 'gcp-secret-manager') return { ...source, name: source.name.replace(/\/versions\/[^/]+$/, '') };
  return source;
}

/**
 * Checks a document that is plain now (no Outputs), with placeholders for the secrets that do not
 * exist yet: the same messages as {@link completeAgentConfig} gives later, before anything is made.
 */
export function checkPlainAgentConfig(
  label: string,
  config: GatewayAgentConfig,
  parts: Omit<AgentConfigParts, 'privateKey' | 'configSource'>,
): void {
  completeAgentConfig(label, config, {
    ...parts,
    privateKey: { source: 'file', path: '/placeholder/key' },
    configSource: { source: 'gcp-secret-manager', name: 'projects/placeholder/secrets/config' },
  });
}

/** The parts of a gateway's `agent` argument that the document must agree with. */
export function agentParts(
  agent: GatewayAgentArgs,
): Pick<AgentConfigParts, 'interfaceName' | 'dataPlane' | 'metricsListen'> {
  return { interfaceName: agent.interfaceName, dataPlane: agent.dataPlane, metricsListen: agent.metricsListen };
}

function argumentError(label: string, message: string): ComponentArgumentError {
  return new ComponentArgumentError(`${label}: ${message}`);
}

/**
 * A gateway instance's user data: what it installs (`source`: the uploaded artifact's location, or
 * `agent.package`), Node, and the bootstrap part of its document (references only).
 */
export function gatewayUserData(
  agent: GatewayAgentArgs,
  source: pulumi.Input<AgentSource>,
  config: pulumi.Output<AgentConfig>,
): pulumi.Output<string> {
  return agentCloudInit({
    agentPackage: source,
    ...(agent.nodeVersion !== undefined ? { nodeVersion: agent.nodeVersion } : {}),
    bootstrapConfig: config.apply(bootstrapConfigOf),
  });
}
