/**
 * Agent bootstrap for cloud gateways: the cloud-init user data that installs wiremesh-agent, and the
 * agent configuration document that a component stores in a secret store for the agent to fetch.
 *
 * The user data holds references only: where the private key is (a secret ARN/name or a file
 * path) and where the full configuration is. It never holds key material: {@link agentCloudInit}
 * refuses any input, and any rendered text, that contains something shaped like a WireGuard key
 * (44 characters of base64 ending in "="). The instance reads the secrets at run time with its own
 * identity (instance profile / service account), so user data, instance metadata, console output
 * and the Pulumi state of the instance stay free of keys.
 *
 * What the cloud-init does, in order (Debian 12+/Ubuntu 22.04+ images, apt and systemd):
 * 1. `packages`: ca-certificates, curl, gnupg, iproute2, wireguard-tools (kernel data plane; also
 *    wireguard-go for `dataPlane: wireguard-go`). No compiler: the package ships its native addon
 *    prebuilt for linux-x64 and linux-arm64.
 * 2. `write_files`: /etc/wiremesh/agent.yaml (0600, root): the bootstrap configuration, and
 *    /etc/modules-load.d/wireguard.conf (the unit forbids module loading, so load it at boot).
 * 3. `runcmd` runs /usr/local/sbin/wiremesh-bootstrap, which:
 *    - installs Node.js `nodeVersion` (default 24) from NodeSource's signed apt repository
 *      (`deb [signed-by=/etc/apt/keyrings/nodesource.gpg] https://deb.nodesource.com/node_24.x nodistro main`,
 *      key from https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key, dearmored), the method
 *      NodeSource documents for manual installs (skipped when a node of that major or later is
 *      already installed); it then checks the installed major;
 *    - with an agent artifact (the packed package in the gateway's bucket, see artifact.ts): downloads
 *      it with the instance's own identity (AWS: IMDSv2 role credentials and SigV4 through
 *      `curl --aws-sigv4`; GCP: the metadata server's service-account token and the Cloud Storage
 *      JSON API, `alt=media`), the credentials passed to curl on stdin (never in argv, files or the
 *      log), and refuses it unless its sha256 is the one in the user data;
 *    - installs the artifact (or the pinned `agentPackage`) with `npm install --omit=dev --prefix
 *      /opt/wiremesh-install` and points /opt/wiremesh (the path in the unit) at the installed package;
 *    - installs the package's own agent/systemd/wiremesh-agent.service into /etc/systemd/system;
 *    - runs `wiremesh-agent check --offline --config /etc/wiremesh/agent.yaml` (validates the document
 *      and its local files, fetches nothing: a secret the role may not read is the running agent's to
 *      report, in its log and on /healthz);
 *    - `systemctl daemon-reload && systemctl enable --now wiremesh-agent`.
 *    IP forwarding is the agent's job (`forwarding`, default true), not the bootstrap's.
 *
 * The agent starts from agent.yaml, sees its `configSource` (a secret store), fetches the full
 * document from there and uses it instead (keeping the source, which it polls for changes).
 */
import * as pulumi from '@pulumi/pulumi';
import { stringify as toYaml } from 'yaml';
import { validateAgentConfig } from '../agent/gateway/config';
import type { AgentConfig, ConfigSourceConfig, DataPlaneKind } from '../agent/gateway/config-types';
import type { SecretSourceConfig } from '../agent/secrets/types';
import { WIREGUARD_KEY_PATTERN } from '../common/keys';

export type { AgentConfig, ConfigSourceConfig, DataPlaneKind, SecretSourceConfig };

/** Where cloud-init writes the bootstrap configuration (the path in wiremesh-agent.service). */
export const AGENT_CONFIG_PATH = '/etc/wiremesh/agent.yaml';
/** Where the agent package is reachable (the path in wiremesh-agent.service). */
export const AGENT_INSTALL_DIR = '/opt/wiremesh';
/** AWS's limit for user data (base64 of it must fit in 16 KB too; we stay far below). */
const MAX_USER_DATA_BYTES = 16_384;

/** Anything shaped like a WireGuard key (32 bytes of base64), anywhere in a string. */
const KEY_LIKE = new RegExp(WIREGUARD_KEY_PATTERN);

/**
 * The small configuration the bootstrap writes to /etc/wiremesh/agent.yaml: references only.
 * The agent replaces it with the document read from `configSource` at start.
 */
export interface BootstrapConfig {
  /** The WireGuard interface name (at most 15 of letters, digits, `_=+.-`), e.g. "wm0". */
  interfaceName: string;
  /**
   * Where the private key is: a secret reference (AWS Secrets Manager ARN/name, GCP Secret Manager
   * name) or a root-owned 0600 file. Never the key.
   */
  privateKey: SecretSourceConfig;
  /**
   * Where the agent's full configuration lives: a secret store (aws-secrets-manager or
   * gcp-secret-manager). The document there is what {@link agentConfigDocument} renders.
   */
  configSource: ConfigSourceConfig;
  /** host:port of the /healthz listener, e.g. "0.0.0.0:9587" (load balancer health checks). */
  healthListen?: string;
  /** host:port of the /metrics listener, e.g. "127.0.0.1:9588" (the default port, common/defaults.ts). */
  metricsListen?: string;
  /** The data plane; default "auto" (kernel module when loaded, else userspace). */
  dataPlane?: DataPlaneKind;
}

/**
 * Where a gateway's agent artifact is (the packed package in its cloud's object store) and its
 * sha256, which the bootstrap checks before installing it. Names only: the instance reads the
 * object with its own identity.
 */
export type AgentArtifactLocation =
  | { store: 's3'; region: string; bucket: string; key: string; sha256: string }
  | { store: 'gcs'; bucket: string; object: string; sha256: string }
  /** A file already on the host (copied there over SSH by RemoteHostAgent). */
  | { store: 'file'; path: string; sha256: string };

/**
 * What a VM installs: a pinned package spec (an exact npm version like `@acme/wiremesh@1.2.3`, or an
 * https URL of a tarball; ranges and tags are refused) or an {@link AgentArtifactLocation}.
 */
export type AgentSource = string | AgentArtifactLocation;

/** Arguments of {@link agentCloudInit}. */
export interface AgentBootstrapArgs {
  /** What the VM installs: the agent artifact in the gateway's bucket, or a pinned package spec (see {@link AgentSource}). */
  agentPackage: pulumi.Input<AgentSource>;
  /** Node.js major version installed from NodeSource; default "24" (the agent needs 24 or later). */
  nodeVersion?: string;
  /** The references the bootstrap writes to /etc/wiremesh/agent.yaml. */
  bootstrapConfig: pulumi.Input<BootstrapConfig>;
}

const PINNED_SPEC =
  /^(@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*@\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;
const TARBALL_URL = /^https:\/\/[A-Za-z0-9.-]+(:\d+)?\/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*\.(tgz|tar\.gz)$/;

/** Throws unless `spec` is an exact npm version or an https tarball URL. */
export function checkAgentPackage(spec: string): string {
  if (typeof spec !== 'string' || !(PINNED_SPEC.test(spec) || TARBALL_URL.test(spec))) {
    throw new Error(
      `agentPackage must be pinned: an exact version like "@acme/wiremesh@1.2.3" or an https URL of a .tgz, got ${JSON.stringify(spec)}`,
    );
  }
  return spec;
}

/** S3 bucket names usable in a virtual-hosted https URL (no dots: the wildcard certificate). */
const S3_BUCKET = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const GCS_BUCKET = /^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$/;
const OBJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,500}$/;
const AWS_REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

/** Throws unless `source` is a pinned package spec or a well-formed artifact location. */
export function checkAgentSource(source: AgentSource): AgentSource {
  if (typeof source === 'string') return checkAgentPackage(source);
  const fail = (message: string): never => {
    throw new Error(`agent artifact: ${message}`);
  };
  if (typeof source !== 'object' || source === null) return fail('must be a package spec or an artifact location');
  if (!/^[0-9a-f]{64}$/.test(String(source.sha256))) fail('sha256 must be 64 lowercase hex digits');
  if (source.store === 's3') {
    if (!S3_BUCKET.test(String(source.bucket)))
      fail(`S3 bucket ${JSON.stringify(source.bucket)} is not a dotless bucket name`);
    if (!OBJECT_NAME.test(String(source.key)))
      fail(`S3 key ${JSON.stringify(source.key)} must be letters, digits, "._/-"`);
    if (!AWS_REGION.test(String(source.region))) fail(`${JSON.stringify(source.region)} is not an AWS region`);
  } else if (source.store === 'file') {
    if (!/^\/[A-Za-z0-9._/-]+$/.test(String(source.path)))
      fail(`file ${JSON.stringify(source.path)} must be an absolute path of letters, digits, "._/-"`);
  } else if (source.store === 'gcs') {
    if (!GCS_BUCKET.test(String(source.bucket)))
      fail(`GCS bucket ${JSON.stringify(source.bucket)} is not a dotless bucket name`);
    if (!OBJECT_NAME.test(String(source.object)))
      fail(`GCS object ${JSON.stringify(source.object)} must be letters, digits, "._/-"`);
  } else {
    fail(`store must be "s3", "gcs" or "file", got ${JSON.stringify((source as { store?: unknown }).store)}`);
  }
  return source;
}

/** A short description of what a VM installs, for the user data's header comment. */
function describeSource(source: AgentSource): string {
  if (typeof source === 'string') return source;
  if (source.store === 'file') return `the agent artifact ${source.path}`;
  return source.store === 's3'
    ? `the agent artifact s3://${source.bucket}/${source.key}`
    : `the agent artifact gs://${source.bucket}/${source.object}`;
}

/**
 * Throws when any string inside `value` (recursively) looks like a WireGuard key. The message names
 * the path of the offending field, never its content.
 */
export function assertNoKeyMaterial(value: unknown, what: string, path = '$'): void {
  if (typeof value === 'string') {
    if (KEY_LIKE.test(value)) {
      throw new Error(
        `${what}: ${path} looks like a WireGuard key; pass a reference to a secret store or a key file, never a key`,
      );
    }
  } else if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    throw new Error(`${what}: ${path} is binary data; pass a reference to a secret store or a key file, never a key`);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => assertNoKeyMaterial(v, what, `${path}[${i}]`));
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) assertNoKeyMaterial(v, what, `${path}.${k}`);
  }
}

function checkNodeVersion(nodeVersion: string): string {
  if (!/^\d+$/.test(nodeVersion) || Number(nodeVersion) < 24) {
    throw new Error(
      `nodeVersion must be a Node.js major version of 24 or later, e.g. "24", got ${JSON.stringify(nodeVersion)}`,
    );
  }
  return nodeVersion;
}

/** The agent configuration the bootstrap writes, validated as the agent will validate it. */
export function bootstrapAgentConfig(config: BootstrapConfig): AgentConfig {
  if (typeof config !== 'object' || config === null) throw new Error('bootstrapConfig must be an object');
  assertNoKeyMaterial(config, 'bootstrapConfig');
  const source = config.configSource as { source?: string } | undefined;
  if (!source || (source.source !== 'aws-secrets-manager' && source.source !== 'gcp-secret-manager')) {
    throw new Error(
      'bootstrapConfig.configSource must be a secret store (source "aws-secrets-manager" or "gcp-secret-manager"): the agent replaces the bootstrap file with the document it names',
    );
  }
  const agent: AgentConfig = {
    interface: { name: config.interfaceName, addresses: [] },
    privateKey: config.privateKey,
    peers: [],
    dataPlane: config.dataPlane ?? 'auto',
    configSource: config.configSource,
  };
  if (config.healthListen !== undefined) agent.health = { listen: config.healthListen };
  if (config.metricsListen !== undefined) agent.metrics = { listen: config.metricsListen };
  try {
    return validateAgentConfig(agent);
  } catch (error) {
    throw new Error(`bootstrapConfig does not make a valid agent configuration: ${(error as Error).message}`);
  }
}

/** Single-quotes a string for POSIX shells. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The apt packages the agent needs on the host (see the file header). */
export function agentHostPackages(dataPlane: DataPlaneKind = 'auto'): string[] {
  const packages = ['ca-certificates', 'curl', 'gnupg', 'iproute2', 'wireguard-tools'];
  if (dataPlane === 'wireguard-go') packages.push('wireguard-go');
  return packages;
}

/** Options of {@link agentInstallScript}. */
export interface AgentInstallScriptOptions {
  /** apt packages to install first (cloud-init installs them itself through `packages`). */
  aptPackages?: string[];
  /** Validate /etc/wiremesh/agent.yaml and enable + start the agent at the end; default true. */
  start?: boolean;
}

/**
 * The bash script (run as root) that installs Node.js `nodeVersion` from NodeSource unless a
 * `node` of that major or later is already installed, the pinned agent package under
 * /opt/wiremesh-install with /opt/wiremesh pointing at it, and the package's systemd unit; then
 * (unless `start: false`) checks /etc/wiremesh/agent.yaml and enables and starts the agent.
 * Debian/Ubuntu (apt). It holds no key material. Used by {@link agentCloudInit} and RemoteHostAgent.
 */
export function agentInstallScript(
  agent: AgentSource,
  nodeVersion: string,
  options: AgentInstallScriptOptions = {},
): string {
  checkAgentSource(agent);
  assertNoKeyMaterial(agent, 'agent');
  checkNodeVersion(nodeVersion);
  const aptPackages = options.aptPackages ?? [];
  for (const name of aptPackages) {
    if (!/^[a-z0-9][a-z0-9+.-]*$/.test(name)) throw new Error(`not an apt package name: ${JSON.stringify(name)}`);
  }
  const lines = [
    '#!/bin/bash',
    '# wiremesh agent installer (generated by wiremesh components/bootstrap.ts). No key material here.',
    'set -euo pipefail',
    'export DEBIAN_FRONTEND=noninteractive',
    '# cloud-init may run this without HOME; npm needs one for its cache.',
    'export HOME="${HOME:-/root}"',
    `NODE_MAJOR=${nodeVersion}`,
    `AGENT_PACKAGE=${shellQuote(typeof agent === 'string' ? agent : ARTIFACT_PATH)}`,
    '',
  ];
  if (aptPackages.length > 0) {
    lines.push('apt-get update', `apt-get install -y ${aptPackages.join(' ')}`, '');
  }
  lines.push(
    "# Node.js from NodeSource's signed apt repository, unless a recent enough node is installed.",
    'if ! command -v node >/dev/null || [ "$(node -p \'process.versions.node.split(".")[0]\')" -lt "$NODE_MAJOR" ]; then',
    '  install -d -m 0755 /etc/apt/keyrings',
    '  curl -fsSL https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key | gpg --dearmor --yes -o /etc/apt/keyrings/nodesource.gpg',
    '  chmod 0644 /etc/apt/keyrings/nodesource.gpg',
    '  echo "deb [signed-by=/etc/apt/keyrings/nodesource.gpg] https://deb.nodesource.com/node_${NODE_MAJOR}.x nodistro main" > /etc/apt/sources.list.d/nodesource.list',
    '  apt-get update',
    '  apt-get install -y nodejs',
    'fi',
    '[ "$(node -p \'process.versions.node.split(".")[0]\')" -ge "$NODE_MAJOR" ] || { echo "wiremesh: Node.js $NODE_MAJOR or later is required" >&2; exit 1; }',
    '',
    ...(typeof agent === 'string' ? [] : artifactDownload(agent)),
    '# The pinned agent package and its dependencies (its native addon comes prebuilt).',
    'install -d -m 0755 /opt/wiremesh-install',
    'npm install --prefix /opt/wiremesh-install --omit=dev --no-audit --no-fund "$AGENT_PACKAGE"',
    '# The installed package is the one directory with the agent launcher and the unit.',
    'PACKAGE_DIR=""',
    'for candidate in /opt/wiremesh-install/node_modules/*/ /opt/wiremesh-install/node_modules/@*/*/; do',
    '  if [ -f "${candidate}agent/systemd/wiremesh-agent.service" ] && [ -f "${candidate}bin/wiremesh-agent.js" ]; then PACKAGE_DIR="${candidate%/}"; break; fi',
    'done',
    '[ -n "$PACKAGE_DIR" ] || { echo "wiremesh: the agent package has no bin/wiremesh-agent.js" >&2; exit 1; }',
    `ln -sfn "$PACKAGE_DIR" ${AGENT_INSTALL_DIR}`,
    '',
    '# The systemd unit shipped with the package.',
    `install -m 0644 -o root -g root ${AGENT_INSTALL_DIR}/agent/systemd/wiremesh-agent.service /etc/systemd/system/wiremesh-agent.service`,
    'modprobe wireguard || true',
    'systemctl daemon-reload',
  );
  if (options.start ?? true) {
    lines.push(
      '',
      '# Validate the configuration (fetches nothing), then start.',
      `${AGENT_INSTALL_DIR}/bin/wiremesh-agent.js check --offline --config ${AGENT_CONFIG_PATH}`,
      'systemctl enable --now wiremesh-agent',
    );
  }
  lines.push('');
  return lines.join('\n');
}

/** Where the bootstrap puts the downloaded artifact before installing it. */
const ARTIFACT_DIRECTORY = '/var/lib/wiremesh';
const ARTIFACT_PATH = `${ARTIFACT_DIRECTORY}/wiremesh-agent.tgz`;
/** The sha256 of an empty payload: what a GET's SigV4 signs (curl 7.88 does not add this header for S3 itself). */
const EMPTY_PAYLOAD_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/**
 * Turns a JSON document on stdin into curl `--config` lines on stdout: the credentials reach curl
 * through a pipe, never its argv (visible in /proc), a file or the log. A document that does not
 * parse exits 1 without a message (a JSON.parse error would quote the text).
 */
function curlConfigFromJson(lines: string): string {
  return `node -e 'let t="";process.stdin.on("data",(d)=>(t+=d)).on("end",()=>{let c;try{c=JSON.parse(t)}catch{process.exit(1)}process.stdout.write(${lines})})'`;
}

/**
 * Bash lines that put the artifact at ARTIFACT_PATH (root's own directory) and refuse it unless
 * its sha256 is the pinned one: downloaded with the instance's own identity, retrying for up to five
 * minutes (a new role or grant takes a while to reach the storage service), or copied from the file
 * an SSH upload left (checked after the copy, so nobody can swap it between check and install).
 */
function artifactDownload(artifact: AgentArtifactLocation): string[] {
  const verify = [
    `AGENT_SHA256=${artifact.sha256}`,
    'echo "$AGENT_SHA256  $AGENT_PACKAGE" | sha256sum --check --status || { echo "wiremesh: the agent artifact is not the deployed one (sha256 differs from $AGENT_SHA256)" >&2; exit 1; }',
    '',
  ];
  if (artifact.store === 'file') {
    return [
      `install -d -m 0755 ${ARTIFACT_DIRECTORY}`,
      `install -m 0600 -o root -g root ${shellQuote(artifact.path)} "$AGENT_PACKAGE"`,
      ...verify,
    ];
  }
  const fetchLines =
    artifact.store === 's3'
      ? [
          "# S3 GetObject signed (SigV4) with the instance role's credentials from IMDSv2.",
          'fetch_artifact() {',
          '  local token role',
          '  token="$(curl -fsS -X PUT -H \'X-aws-ec2-metadata-token-ttl-seconds: 300\' http://169.254.169.254/latest/api/token)" || return 1',
          '  role="$(curl -fsS -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/iam/security-credentials/)" || return 1',
          '  curl -fsS -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/iam/security-credentials/$role" |',
          `    ${curlConfigFromJson('"user = "+JSON.stringify(c.AccessKeyId+":"+c.SecretAccessKey)+"\\nheader = "+JSON.stringify("x-amz-security-token: "+c.Token)+"\\n"')} |`,
          `    curl -fsS -K - --aws-sigv4 ${shellQuote(`aws:amz:${artifact.region}:s3`)} -H 'x-amz-content-sha256: ${EMPTY_PAYLOAD_SHA256}' \\`,
          `      -o "$AGENT_PACKAGE" ${shellQuote(`https://${artifact.bucket}.s3.${artifact.region}.amazonaws.com/${artifact.key}`)}`,
          '}',
        ]
      : [
          "# Cloud Storage JSON API media download with the service account's token from the metadata server.",
          'fetch_artifact() {',
          "  curl -fsS -H 'Metadata-Flavor: Google' http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token |",
          `    ${curlConfigFromJson('"header = "+JSON.stringify("Authorization: Bearer "+c.access_token)+"\\n"')} |`,
          `    curl -fsS -K - -o "$AGENT_PACKAGE" ${shellQuote(`https://storage.googleapis.com/storage/v1/b/${artifact.bucket}/o/${encodeURIComponent(artifact.object)}?alt=media`)}`,
          '}',
        ];
  return [
    `install -d -m 0755 ${ARTIFACT_DIRECTORY}`,
    ...fetchLines,
    'for attempt in $(seq 1 30); do',
    '  if fetch_artifact; then break; fi',
    '  [ "$attempt" -lt 30 ] || { echo "wiremesh: could not download the agent artifact" >&2; exit 1; }',
    '  sleep 10',
    'done',
    ...verify,
  ];
}

/** Renders the cloud-init text for plain (resolved) arguments; {@link agentCloudInit} wraps it. */
export function renderAgentCloudInit(
  agent: AgentSource,
  nodeVersion: string,
  bootstrapConfig: BootstrapConfig,
): string {
  const script = agentInstallScript(agent, nodeVersion);
  const agentConfig = bootstrapAgentConfig(bootstrapConfig);
  const packages = agentHostPackages(agentConfig.dataPlane ?? 'auto');

  const agentYaml = [
    '# wiremesh-agent bootstrap configuration, written by cloud-init. References only: the agent',
    '# replaces it with the document from configSource at start. No key material here.',
    toYaml(agentConfig, { lineWidth: 0 }),
  ].join('\n');

  const cloudConfig = {
    package_update: true,
    packages,
    write_files: [
      { path: AGENT_CONFIG_PATH, owner: 'root:root', permissions: '0600', content: agentYaml },
      { path: '/etc/modules-load.d/wireguard.conf', owner: 'root:root', permissions: '0644', content: 'wireguard\n' },
      { path: '/usr/local/sbin/wiremesh-bootstrap', owner: 'root:root', permissions: '0700', content: script },
    ],
    runcmd: [['/usr/local/sbin/wiremesh-bootstrap']],
  };
  const text = `#cloud-config\n# wiremesh gateway bootstrap: installs Node.js ${nodeVersion} and ${describeSource(agent)}, starts wiremesh-agent.\n${toYaml(cloudConfig, { lineWidth: 0 })}`;
  assertNoKeyMaterial(text, 'agentCloudInit');
  if (Buffer.byteLength(text) > MAX_USER_DATA_BYTES) {
    throw new Error(
      `agentCloudInit: the user data is ${Buffer.byteLength(text)} bytes, over the ${MAX_USER_DATA_BYTES}-byte limit`,
    );
  }
  return text;
}

/**
 * The cloud-init user data (`#cloud-config` YAML) that installs Node.js and the agent (the artifact
 * from the gateway's bucket, checksum verified, or a pinned package), writes /etc/wiremesh/agent.yaml with references only, installs the package's systemd
 * unit and starts `wiremesh-agent`. Pass it as `aws.ec2.Instance.userData` or GCP
 * `metadata["user-data"]`.
 *
 * Throws at once (plain arguments) or when the Output resolves (late ones) if the package is not
 * pinned or the artifact location is malformed, the Node.js version is below 24, the configuration is not a valid agent configuration,
 * `configSource` is not a secret store, or any input looks like a WireGuard key.
 */
export function agentCloudInit(args: AgentBootstrapArgs): pulumi.Output<string> {
  const nodeVersion = checkNodeVersion(args.nodeVersion ?? '24');
  if (isPlainBootstrapConfig(args.agentPackage)) {
    checkAgentSource(args.agentPackage as AgentSource);
    assertNoKeyMaterial(args.agentPackage, 'agentPackage');
  }
  if (isPlainBootstrapConfig(args.bootstrapConfig)) bootstrapAgentConfig(args.bootstrapConfig);
  return pulumi
    .all([args.agentPackage, args.bootstrapConfig])
    .apply(([agent, bootstrapConfig]) =>
      renderAgentCloudInit(agent as AgentSource, nodeVersion, bootstrapConfig as BootstrapConfig),
    );
}

/** True when a value holds no Output or Promise anywhere (so it can be validated right away). */
function isPlainBootstrapConfig(value: unknown): value is BootstrapConfig {
  if (pulumi.Output.isInstance(value) || value instanceof Promise) return false;
  if (Array.isArray(value)) return value.every(isPlainBootstrapConfig);
  if (typeof value === 'object' && value !== null) return Object.values(value).every(isPlainBootstrapConfig);
  return true;
}

/** Refuses inline keys, with the JSON path, before schema validation (whose message is less direct). */
function assertNoInlineKeys(config: AgentConfig): void {
  const sources: Array<[string, unknown]> = [
    ['$.privateKey', config.privateKey],
    ['$.nextPrivateKey', config.nextPrivateKey],
    ...(Array.isArray(config.peers) ? config.peers : []).map((peer, i): [string, unknown] => [
      `$.peers[${i}].presharedKey`,
      peer?.presharedKey,
    ]),
  ];
  for (const [path, source] of sources) {
    if (
      source &&
      typeof source === 'object' &&
      ((source as { source?: string }).source === 'inline' || 'key' in source)
    ) {
      throw new Error(
        `agentConfigDocument: ${path} is an inline key; store the key in a secret store or a root-only file and reference it`,
      );
    }
  }
  // Public keys are public; any other key-shaped string (a key pasted as a path or secret id) is not.
  const { peers, ...rest } = config;
  assertNoKeyMaterial(rest, 'agentConfigDocument');
  (Array.isArray(peers) ? peers : []).forEach((peer, i) => {
    const { publicKey: _publicKey, nextPublicKey: _nextPublicKey, ...others } = peer ?? ({} as never);
    assertNoKeyMaterial(others, 'agentConfigDocument', `$.peers[${i}]`);
  });
}

/** Renders and validates an agent configuration document for plain (resolved) input. */
export function renderAgentConfigDocument(config: AgentConfig): string {
  if (typeof config !== 'object' || config === null)
    throw new Error('agentConfigDocument: the configuration must be an object');
  assertNoInlineKeys(config);
  const plain = JSON.parse(JSON.stringify(config)) as unknown;
  let valid: AgentConfig;
  try {
    valid = validateAgentConfig(plain);
  } catch (error) {
    throw new Error(`agentConfigDocument: ${(error as Error).message}`);
  }
  return `${JSON.stringify(valid, null, 2)}\n`;
}

/**
 * The JSON text of a full agent configuration, for storing in a secret store (the document the
 * bootstrap's `configSource` names). Validated with the agent's own `validateAgentConfig`; inline
 * keys and key-shaped strings outside `publicKey`/`nextPublicKey` are refused. Keys must be
 * references (`privateKey: { source: "aws-secrets-manager", secretId: … }`). Late (Output) inputs
 * are validated when they resolve; the result is secret exactly when the input is.
 */
export function agentConfigDocument(config: pulumi.Input<AgentConfig>): pulumi.Output<string> {
  if (isPlainBootstrapConfig(config)) renderAgentConfigDocument(config as AgentConfig);
  return pulumi.output(config).apply((resolved) => renderAgentConfigDocument(resolved as AgentConfig));
}
