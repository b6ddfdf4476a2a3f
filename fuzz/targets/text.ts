/**
 * The text parsers that read outside input: UAPI requests and answers, the agent configuration,
 * wg-quick files and the mesh spec. Each may only return, or throw its documented error type.
 */
import { parseAgentConfig } from '../../agent/gateway/config';
import { parseWgQuickConfig } from '../../agent/gateway/wg-quick';
import { Errno, UapiError, parseGetResponse, parseSetRequest, type DeviceSnapshot } from '../../agent/wg/uapi';
import { parseMeshSpec } from '../../mesh/validate';
import { ContractViolation, expectConfigOutcome, type FuzzTarget } from '../target';

/** `$`, then `.name`, `[index]` or `["quoted name"]` steps. */
const JSON_PATH = /^\$(\.[A-Za-z_$][\w$-]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])*$/;
/** `file:line`, alone or after a setting name: `[Peer].Endpoint (/etc/wireguard/wm0.conf:12)`. */
const FILE_LOCATION = /\(?[^()]*:\d+\)?$|\([^()]+\)$/;

const YAML_TOKENS = [': ', '- ', '\n  ', '\n    - ', '"', "'", '{}', '[]', 'null', 'true', '~', '&a ', '*a', '!!str ', '<<: ', '#', '? ', '|\n', '0x', '1e309'];
const CIDR_TOKENS = ['10.0.0.0/8', '0.0.0.0/0', '::/0', 'fd00::/64', '::ffff:10.0.0.1/128', '/33', '/129', '%eth0', '256.1.1.1/32'];
const KEY = 'vfQY4oAbuC/Hb+FIGfvHVfDZLYKVl+wr/T4CNefRaV0=';

/** A UAPI parser may return, or throw a UapiError with a negative errno (`errnoAllowed`) and a message. */
function uapiOutcome<T>(parse: () => T, errnoAllowed: (errno: number) => boolean, checkResult: (result: T) => void = () => {}): void {
  let result: T;
  try {
    result = parse();
  } catch (error) {
    if (!(error instanceof UapiError)) throw error;
    if (!errnoAllowed(error.errno)) throw new ContractViolation(`UapiError with errno ${error.errno}`);
    if (error.message === '') throw new ContractViolation('UapiError without a message');
    return;
  }
  checkResult(result);
}

/** What a client reads from a `get` must be usable as is: 32-byte keys, integers that fit. */
function checkSnapshot(snapshot: DeviceSnapshot): void {
  const keys = [snapshot.privateKey, ...snapshot.peers.flatMap((peer) => [peer.publicKey, peer.presharedKey])].filter((k) => k !== null);
  if (keys.some((k) => k.length !== 32)) throw new ContractViolation('a key in the snapshot is not 32 bytes');
  const numbers = [snapshot.listenPort, snapshot.fwmark, ...Object.values(snapshot.drops ?? {}), ...snapshot.peers.flatMap((p) => [p.txBytes, p.rxBytes, p.persistentKeepaliveInterval, p.lastHandshakeUnixMs])];
  if (numbers.some((n) => !Number.isFinite(n) || n < 0)) throw new ContractViolation(`a number in the snapshot is not a finite count: ${numbers.join(', ')}`);
}

export const uapi: FuzzTarget = {
  name: 'uapi',
  modules: ['agent/wg/uapi.js', 'agent/wg/endpoint.js', 'agent/core/allowedips.js'],
  dictionary: [
    'private_key=', 'listen_port=', 'fwmark=', 'replace_peers=true', 'public_key=', 'remove=true', 'update_only=true',
    'preshared_key=', 'endpoint=', 'persistent_keepalive_interval=', 'replace_allowed_ips=true', 'allowed_ip=', 'allowed_ip=-',
    'protocol_version=1', 'wiremesh_drops_invalid-mac1=', 'errno=0', 'errno=', 'tx_bytes=', 'last_handshake_time_sec=', 'last_handshake_time_nsec=',
    '0000000000000000000000000000000000000000000000000000000000000000', '[::1]:51820', '198.18.0.1:51820', '\n', ...CIDR_TOKENS,
  ],
  maxLength: 4096,
  /** The first byte picks the side: even, a `set` request we parse as the server; odd, a `get` answer we parse as a client. */
  run(input) {
    const text = input.subarray(1).toString('utf8');
    if ((input[0] ?? 0) % 2 === 0) uapiOutcome(() => parseSetRequest(text.split('\n').filter((line) => line !== '')), (errno) => errno === Errno.EINVAL);
    else uapiOutcome(() => parseGetResponse(text), (errno) => Number.isSafeInteger(errno) && errno < 0, checkSnapshot);
  },
};

export const agentConfig: FuzzTarget = {
  name: 'agent-config',
  modules: ['agent/gateway/config.js'],
  dictionary: [
    'interface:', 'name: ', 'addresses:', 'listenPort: ', 'mtu: ', 'fwmark: ', 'privateKey:', 'source: ', 'file', 'path: ',
    'aws-secrets-manager', 'gcp-secret-manager', 'secretId: ', 'region: ', 'project: ', 'secret: ', 'version: ', 'peers:', 'publicKey: ',
    'presharedKey:', 'endpoint: ', 'allowedIps:', 'persistentKeepalive: ', 'dataPlane: ', 'userspace', 'kernel', 'wireguard-go', 'auto',
    'forwarding: ', 'fullTunnel: ', 'metrics:', 'health:', 'listen: ', 'requiredPeers:', 'maxHandshakeAgeSeconds: ', 'log:', 'level: ',
    KEY, ...YAML_TOKENS, ...CIDR_TOKENS,
  ],
  maxLength: 8192,
  run(input) {
    expectConfigOutcome(input.toString('utf8'), parseAgentConfig, JSON_PATH);
  },
};

export const wgQuick: FuzzTarget = {
  name: 'wg-quick',
  modules: ['agent/gateway/wg-quick.js', 'agent/gateway/config.js', 'agent/crypto/keys.js'],
  dictionary: [
    '[Interface]\n', '[Peer]\n', 'PrivateKey = ', 'Address = ', 'ListenPort = ', 'MTU = ', 'FwMark = ', 'off', 'PublicKey = ',
    'PresharedKey = ', 'AllowedIPs = ', 'Endpoint = ', 'PersistentKeepalive = ', 'PostUp = ', 'DNS = ', 'Table = ', 'SaveConfig = ',
    ' = ', ', ', '#', '\n', KEY, `${KEY.slice(0, 43)}A`, ...CIDR_TOKENS,
  ],
  maxLength: 8192,
  run(input) {
    expectConfigOutcome(input.toString('utf8'), (text) => parseWgQuickConfig(text, 'wm0', '/etc/wireguard/wm0.conf'), FILE_LOCATION);
  },
};

export const meshSpec: FuzzTarget = {
  name: 'mesh-spec',
  modules: ['mesh/validate.js'],
  dictionary: [
    'name: ', 'topology:', 'type: ', 'full-mesh', 'hub-and-spoke', 'hubs: ', 'defaults:', 'listenPort: ', 'mtu: ', 'sites:', 'provider: ',
    'local', 'aws', 'gcp', 'cidrs: ', 'region: ', 'presharedKeys: ', 'tunnel:', ...YAML_TOKENS, ...CIDR_TOKENS,
  ],
  maxLength: 8192,
  run(input) {
    expectConfigOutcome(input.toString('utf8'), parseMeshSpec, JSON_PATH);
  },
};
