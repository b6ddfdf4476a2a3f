/**
 * wiremesh-agent on an existing host (on premises, another cloud), installed and configured over
 * SSH with `@pulumi/command` `remote.Command`.
 *
 * Two commands, children of the component:
 * - `${name}-artifact` (with `agentArtifact`) copies the agent tarball to the host over SFTP
 *   (`remote.CopyToRemote`), as /tmp/wiremesh-agent-<sha256>.tgz;
 * - `${name}-install` installs Node.js 24 (NodeSource, unless already there), the agent (that
 *   tarball, copied into a root-owned directory and checked against its sha256 first, or the pinned
 *   package) and its systemd unit, with the same script as the cloud-init bootstrap
 *   (components/bootstrap.ts `agentInstallScript`). Its `create` text embeds the package spec or the
 *   artifact's sha256, so a new version updates it (re-runs the script). Its `delete` (destroy) stops and
 *   disables the agent and removes the unit, the configuration, the key file and the package.
 * - `${name}-configure` writes the private key to `keyPath` (root-owned, 0600) from the command's
 *   **stdin** (a secret; never on a command line, in the environment or in a file on the
 *   deployment machine), writes the configuration to /etc/wiremesh/agent.yaml (0600), checks it
 *   with `wiremesh-agent check`, then enables the agent and reloads it (SIGHUP: the agent applies
 *   only the difference) or starts it. Its `triggers` are a SHA-256 of the configuration document
 *   and a SHA-256 of the key, so a change to either re-runs it (replacement of the command
 *   resource; it has no delete step, so nothing is removed in between).
 *
 * Commands run as the SSH user, through `sudo -n` unless that user is root, so the user needs
 * passwordless sudo. The host must be Debian/Ubuntu (apt) with systemd. The connection (it holds
 * the SSH key or password) and the private key stay secret in the state; the configuration holds
 * file references and public keys only (validated by `agentConfigDocument`).
 */
import { createHash } from 'node:crypto';
import * as command from '@pulumi/command';
import * as pulumi from '@pulumi/pulumi';
import type { AgentConfig } from '../agent/gateway/config-types';
import {
  AGENT_CONFIG_PATH,
  AGENT_INSTALL_DIR,
  agentHostPackages,
  agentInstallScript,
  checkAgentPackage,
  type AgentArtifactLocation,
  renderAgentConfigDocument,
  shellQuote,
} from './bootstrap';
import { readAgentArtifact } from './artifact';
import { publicKeyFromPrivateKey } from './key';

/** Where {@link RemoteHostAgent} writes the private key unless `keyPath` says otherwise. */
export const DEFAULT_REMOTE_KEY_PATH = '/etc/wiremesh/private.key';

/** Arguments of {@link RemoteHostAgent}. */
export interface RemoteHostAgentArgs {
  /** How to reach the host over SSH (host, user, privateKey or password, ...). Kept secret. */
  connection: pulumi.Input<command.types.input.remote.ConnectionArgs>;
  /**
   * Path (on the deploying machine) of the agent tarball (`npm pack` of the wiremesh package, see
   * components/README.md "The agent artifact"), copied to the host over SSH and checked there
   * against its sha256. Exclusive with `agentPackage`.
   */
  agentArtifact?: string;
  /**
   * Instead of `agentArtifact`: the agent package, pinned: an exact npm version spec
   * (`@acme/wiremesh@1.2.3`, a package you publish) or an https URL of a package tarball.
   */
  agentPackage?: pulumi.Input<string>;
  /**
   * The full agent configuration written to /etc/wiremesh/agent.yaml. Its `privateKey` must be
   * `{ source: "file", path: keyPath }` (the file this component writes); other keys (preshared,
   * next private key) are references too (files that exist on the host, or secret stores). A
   * `configSource` other than a file is refused: this component owns the configuration.
   */
  agentConfig: pulumi.Input<AgentConfig>;
  /**
   * The host's WireGuard private key, base64 (e.g. `WireGuardKey.privateKey`). Treated as a
   * secret whether or not it is one; written to `keyPath` through the command's stdin.
   */
  privateKey: pulumi.Input<string>;
  /** Absolute path of the key file on the host; default /etc/wiremesh/private.key. */
  keyPath?: string;
}

const SAFE_PATH = /^\/(?:[A-Za-z0-9._-]+\/)*[A-Za-z0-9._-]+$/;

function checkKeyPath(keyPath: string): string {
  if (typeof keyPath !== 'string' || !SAFE_PATH.test(keyPath) || keyPath.split('/').includes('..')) {
    throw new Error(`keyPath must be an absolute file path of letters, digits and ._-, got ${JSON.stringify(keyPath)}`);
  }
  if (/^\/(tmp|var\/tmp|dev\/shm)\//.test(keyPath))
    throw new Error(`keyPath must not be in a world-writable directory, got ${keyPath}`);
  if (keyPath === AGENT_CONFIG_PATH) throw new Error(`keyPath must not be the configuration file ${AGENT_CONFIG_PATH}`);
  return keyPath;
}

/** The configuration document for the host, validated; throws with a clear message otherwise. */
export function remoteAgentConfigDocument(config: AgentConfig, keyPath: string): string {
  const key = config?.privateKey as { source?: string; path?: string } | undefined;
  if (!key || key.source !== 'file' || key.path !== keyPath) {
    throw new Error(
      `agentConfig.privateKey must be { source: "file", path: "${keyPath}" } (the key file RemoteHostAgent writes)`,
    );
  }
  if (config.configSource && config.configSource.source !== 'file') {
    throw new Error(
      'agentConfig.configSource must be absent (or a file): RemoteHostAgent writes the full configuration to the host',
    );
  }
  return renderAgentConfigDocument(config);
}

/** Throws (without echoing it) unless `key` is a base64 WireGuard private key. */
function checkPrivateKey(key: string): string {
  if (typeof key !== 'string') throw new Error('privateKey must be a base64 WireGuard private key');
  publicKeyFromPrivateKey(key);
  return key.trim();
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A bash script run as root: directly when the SSH user is root, else through passwordless sudo. */
export function asRoot(script: string): string {
  return `if [ "$(id -u)" -eq 0 ]; then /bin/bash -c ${shellQuote(script)}; else sudo -n /bin/bash -c ${shellQuote(script)}; fi`;
}

/**
 * The configure steps (bash, as root): the key from stdin into a 0600 root-owned file, the
 * configuration from the (base64) text in the script, checked, then enable and reload-or-restart.
 */
export function remoteConfigureSteps(configDocument: string, keyPath: string): string {
  checkKeyPath(keyPath);
  const keyDir = keyPath.slice(0, keyPath.lastIndexOf('/')) || '/';
  const config64 = Buffer.from(configDocument).toString('base64');
  return [
    'set -euo pipefail',
    'umask 077',
    `install -d -m 0700 -o root -g root ${shellQuote(keyDir)} /etc/wiremesh`,
    // The key: stdin -> a 0600 temporary file beside the target -> rename (atomic).
    `key_tmp="$(mktemp ${shellQuote(`${keyPath}.XXXXXX`)})"`,
    'trap \'rm -f "$key_tmp" "${config_tmp:-}"\' EXIT',
    'head -c 64 > "$key_tmp"',
    'chown root:root "$key_tmp"',
    'chmod 0600 "$key_tmp"',
    `mv -f "$key_tmp" ${shellQuote(keyPath)}`,
    // The configuration (references and public keys only), checked before it replaces the old one.
    `config_tmp="$(mktemp ${shellQuote(`${AGENT_CONFIG_PATH}.XXXXXX`)})"`,
    `printf %s ${shellQuote(config64)} | base64 -d > "$config_tmp"`,
    'chown root:root "$config_tmp"',
    'chmod 0600 "$config_tmp"',
    `${AGENT_INSTALL_DIR}/bin/wiremesh-agent.js check --config "$config_tmp" >/dev/null`,
    `mv -f "$config_tmp" ${AGENT_CONFIG_PATH}`,
    'systemctl enable wiremesh-agent >/dev/null 2>&1',
    // Reload (SIGHUP: apply the difference, peers stay up) when running, else start.
    'systemctl reload-or-restart wiremesh-agent',
  ].join('\n');
}

/** {@link remoteConfigureSteps} run as root (directly, or through `sudo -n`): the configure command. */
export function remoteConfigureScript(configDocument: string, keyPath: string): string {
  return asRoot(remoteConfigureSteps(configDocument, keyPath));
}

/** The destroy step of the install command: stop the agent and remove what the component put there. */
function remoteUninstallScript(keyPath: string): string {
  return asRoot(
    [
      'systemctl disable --now wiremesh-agent || true',
      'rm -f /etc/systemd/system/wiremesh-agent.service',
      'systemctl daemon-reload || true',
      `rm -f ${AGENT_CONFIG_PATH} ${shellQuote(keyPath)}`,
      `rm -rf ${AGENT_INSTALL_DIR} /opt/wiremesh-install`,
    ].join('\n'),
  );
}

/**
 * Installs and configures wiremesh-agent on an existing host over SSH (token
 * `wiremesh:onprem:RemoteHostAgent`). See the file header for the commands it runs.
 *
 * ```ts
 * const key = new WireGuardKey("branch");
 * new RemoteHostAgent("branch", {
 *   connection: { host: "203.0.113.10", user: "admin", privateKey: sshKey },
 *   agentArtifact: "wiremesh-0.1.0.tgz", // npm pack of the wiremesh package
 *   privateKey: key.privateKey,
 *   agentConfig: {
 *     interface: { name: "wm0", addresses: ["10.99.0.3/32"] },
 *     privateKey: { source: "file", path: "/etc/wiremesh/private.key" },
 *     peers: [...],
 *   },
 * });
 * ```
 */
export class RemoteHostAgent extends pulumi.ComponentResource {
  /** The install command (Node.js, package, unit). */
  public readonly install: command.remote.Command;
  /** The configure command (key file, configuration, reload). */
  public readonly configure: command.remote.Command;
  /** The host's public key, derived from `privateKey` (not secret). */
  public readonly publicKey: pulumi.Output<string>;
  /** SHA-256 (hex) of the configuration document written to the host. */
  public readonly configHash: pulumi.Output<string>;
  /** Where the key file is on the host. */
  public readonly keyPath: string;

  constructor(name: string, args: RemoteHostAgentArgs, opts: pulumi.ComponentResourceOptions = {}) {
    // Validate before registering anything.
    if (!args || args.connection === undefined || args.connection === null)
      throw new Error('RemoteHostAgent: connection is required');
    if ((args.agentPackage === undefined) === (args.agentArtifact === undefined))
      throw new Error('RemoteHostAgent: one of agentArtifact (the agent tarball) and agentPackage is required');
    if (args.agentConfig === undefined) throw new Error('RemoteHostAgent: agentConfig is required');
    if (args.privateKey === undefined) throw new Error('RemoteHostAgent: privateKey is required');
    const keyPath = checkKeyPath(args.keyPath ?? DEFAULT_REMOTE_KEY_PATH);
    if (typeof args.agentPackage === 'string') checkAgentPackage(args.agentPackage);
    if (typeof args.privateKey === 'string') checkPrivateKey(args.privateKey);
    const artifact =
      args.agentArtifact === undefined
        ? undefined
        : readAgentArtifact(`RemoteHostAgent "${name}"`, 'agentArtifact', args.agentArtifact);
    if (!pulumi.Output.isInstance(args.agentConfig) && !(args.agentConfig instanceof Promise)) {
      try {
        remoteAgentConfigDocument(args.agentConfig as AgentConfig, keyPath);
      } catch (error) {
        // A config holding Outputs deeper down is validated once it resolves.
        if (!containsOutput(args.agentConfig)) throw error;
      }
    }

    super('wiremesh:onprem:RemoteHostAgent', name, {}, opts);
    this.keyPath = keyPath;

    const connection = pulumi.secret(args.connection);
    const privateKey = pulumi.secret(pulumi.output(args.privateKey).apply(checkPrivateKey));
    const document = pulumi
      .output(args.agentConfig)
      .apply((config) => remoteAgentConfigDocument(config as AgentConfig, keyPath));
    this.configHash = document.apply(sha256);
    // A hash of a 256-bit random key reveals nothing usable; it stays secret anyway (derived from one).
    const keyHash = privateKey.apply((key) => sha256(`wiremesh-remote-key:${key}`));

    const dataPlane = pulumi.output(args.agentConfig).apply((config) => (config as AgentConfig).dataPlane ?? 'auto');
    // The artifact goes over SFTP first; the install checks it (as root) before using it.
    const uploaded: AgentArtifactLocation | undefined = artifact && {
      store: 'file',
      path: `/tmp/wiremesh-agent-${artifact.sha256}.tgz`,
      sha256: artifact.sha256,
    };
    const upload =
      uploaded &&
      new command.remote.CopyToRemote(
        `${name}-artifact`,
        {
          connection,
          source: new pulumi.asset.FileAsset(artifact!.path),
          remotePath: uploaded.path,
          triggers: [uploaded.sha256],
        },
        { parent: this },
      );
    this.install = new command.remote.Command(
      `${name}-install`,
      {
        connection,
        create: pulumi.all([uploaded ?? args.agentPackage!, dataPlane]).apply(([agent, plane]) =>
          asRoot(
            // A running agent restarts on the new package; a first install leaves the start to configure.
            `${agentInstallScript(agent, '24', { aptPackages: agentHostPackages(plane), start: false })}systemctl try-restart wiremesh-agent\n`,
          ),
        ),
        delete: remoteUninstallScript(keyPath),
      },
      { parent: this, ...(upload ? { dependsOn: [upload] } : {}) },
    );

    this.configure = new command.remote.Command(
      `${name}-configure`,
      {
        connection,
        create: document.apply((text) => remoteConfigureScript(text, keyPath)),
        stdin: privateKey.apply((key) => `${key}\n`),
        triggers: [this.configHash, keyHash],
      },
      { parent: this, dependsOn: [this.install] },
    );

    this.publicKey = pulumi.unsecret(privateKey.apply(publicKeyFromPrivateKey));
    this.registerOutputs({ publicKey: this.publicKey, configHash: this.configHash, keyPath });
  }
}

function containsOutput(value: unknown): boolean {
  if (pulumi.Output.isInstance(value) || value instanceof Promise) return true;
  if (Array.isArray(value)) return value.some(containsOutput);
  if (typeof value === 'object' && value !== null && !Buffer.isBuffer(value))
    return Object.values(value).some(containsOutput);
  return false;
}
