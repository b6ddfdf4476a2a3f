/**
 * The cross-platform userspace API (https://www.wireguard.com/xplatform/; docs/protocol.md 2):
 * parsing `set` requests into a validated change, and formatting `get` answers. A request is parsed
 * completely before anything is applied, so a bad request changes nothing.
 */
import { formatPrefix, parsePrefix, type IpPrefix } from '../../common/ip';
import { parseEndpoint } from './endpoint';

/** Negative errno values, as wireguard-go writes them and `wg` expects on set (docs/protocol.md 2.2). */
export const Errno = {
  EIO: -5,
  EINVAL: -22,
  EPROTO: -71,
  EADDRINUSE: -98,
} as const;

export class UapiError extends Error {
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}

export type AllowedIpChange = { kind: 'add' | 'remove'; prefix: IpPrefix } | { kind: 'clear' };

export interface PeerChange {
  publicKey: Buffer;
  remove: boolean;
  updateOnly: boolean;
  /** null clears the key. */
  presharedKey?: Buffer | null;
  endpoint?: string;
  persistentKeepaliveInterval?: number;
  allowedIps: AllowedIpChange[];
}

export interface ConfigChange {
  /** null removes the key. */
  privateKey?: Buffer | null;
  listenPort?: number;
  fwmark?: number;
  replacePeers: boolean;
  peers: PeerChange[];
}

export interface PeerSnapshot {
  publicKey: Buffer;
  presharedKey: Buffer | null;
  endpoint: string | null;
  lastHandshakeUnixMs: number;
  txBytes: number;
  rxBytes: number;
  persistentKeepaliveInterval: number;
  allowedIps: IpPrefix[];
}

export interface DeviceSnapshot {
  privateKey: Buffer | null;
  listenPort: number;
  fwmark: number;
  /**
   * Packets dropped, by reason (wiremesh-wg only). On the wire: `wiremesh_drops_<reason>=<count>`
   * lines before the first peer, keys that `wg` skips (wireguard-tools' ipc-uapi.h ignores unknown keys).
   */
  drops?: Record<string, number>;
  peers: PeerSnapshot[];
}

const DROPS_KEY = 'wiremesh_drops_';

const HEX_KEY = /^[0-9a-fA-F]{64}$/;

function invalid(message: string): UapiError {
  return new UapiError(Errno.EINVAL, message);
}

/** A malformed `get` answer from another implementation. */
function malformed(message: string): UapiError {
  return new UapiError(Errno.EPROTO, message);
}

function parseKey(key: string, value: string, error = invalid): Buffer {
  if (!HEX_KEY.test(value)) throw error(`${key}: expected 64 hex characters`);
  return Buffer.from(value, 'hex');
}

function parseUnsigned(key: string, value: string, max: number, error = invalid): number {
  if (!/^\d{1,16}$/.test(value) || Number(value) > max) throw error(`${key}: expected an integer from 0 to ${max}`);
  return Number(value);
}

function parseTrue(key: string, value: string): true {
  if (value !== 'true') throw invalid(`${key}: the only accepted value is "true"`);
  return true;
}

function isZero(key: Buffer): boolean {
  return key.every((byte) => byte === 0);
}

/** Parses the `key=value` lines of a `set=1` request (without the `set=1` line). */
export function parseSetRequest(lines: readonly string[]): ConfigChange {
  const change: ConfigChange = { replacePeers: false, peers: [] };
  let peer: PeerChange | null = null;
  for (const line of lines) {
    const equals = line.indexOf('=');
    if (equals <= 0) throw invalid(`malformed line "${line.slice(0, 40)}"`);
    const key = line.slice(0, equals);
    const value = line.slice(equals + 1);
    if (key === 'public_key') {
      peer = { publicKey: parseKey(key, value), remove: false, updateOnly: false, allowedIps: [] };
      change.peers.push(peer);
      continue;
    }
    if (!peer) {
      switch (key) {
        case 'private_key': {
          const privateKey = parseKey(key, value);
          change.privateKey = isZero(privateKey) ? null : privateKey;
          break;
        }
        case 'listen_port':
          change.listenPort = parseUnsigned(key, value, 0xffff);
          break;
        case 'fwmark':
          change.fwmark = parseUnsigned(key, value, 0xffffffff);
          break;
        case 'replace_peers':
          change.replacePeers = parseTrue(key, value);
          break;
        default:
          throw invalid(`invalid device key "${key}"`);
      }
      continue;
    }
    switch (key) {
      case 'remove':
        peer.remove = parseTrue(key, value);
        break;
      case 'update_only':
        peer.updateOnly = parseTrue(key, value);
        break;
      case 'preshared_key': {
        const presharedKey = parseKey(key, value);
        peer.presharedKey = isZero(presharedKey) ? null : presharedKey;
        break;
      }
      case 'endpoint':
        try {
          parseEndpoint(value);
        } catch (error) {
          throw invalid((error as Error).message);
        }
        peer.endpoint = value;
        break;
      case 'persistent_keepalive_interval':
        peer.persistentKeepaliveInterval = parseUnsigned(key, value, 0xffff);
        break;
      case 'replace_allowed_ips':
        parseTrue(key, value);
        peer.allowedIps.push({ kind: 'clear' });
        break;
      case 'allowed_ip': {
        const remove = value.startsWith('-');
        try {
          peer.allowedIps.push({
            kind: remove ? 'remove' : 'add',
            prefix: parsePrefix(remove ? value.slice(1) : value),
          });
        } catch (error) {
          throw invalid((error as Error).message);
        }
        break;
      }
      case 'protocol_version':
        if (value !== '1') throw invalid('protocol_version: only version 1 exists');
        break;
      default:
        throw invalid(`invalid peer key "${key}"`);
    }
  }
  return change;
}

/** The `set=1` request that performs `change`, for driving another implementation's UAPI. */
export function formatSetRequest(change: ConfigChange): string {
  const lines = ['set=1'];
  if (change.privateKey !== undefined)
    lines.push(`private_key=${(change.privateKey ?? Buffer.alloc(32)).toString('hex')}`);
  if (change.listenPort !== undefined) lines.push(`listen_port=${change.listenPort}`);
  if (change.fwmark !== undefined) lines.push(`fwmark=${change.fwmark}`);
  if (change.replacePeers) lines.push('replace_peers=true');
  for (const peer of change.peers) {
    lines.push(`public_key=${peer.publicKey.toString('hex')}`);
    if (peer.remove) {
      lines.push('remove=true');
      continue;
    }
    if (peer.updateOnly) lines.push('update_only=true');
    if (peer.presharedKey !== undefined)
      lines.push(`preshared_key=${(peer.presharedKey ?? Buffer.alloc(32)).toString('hex')}`);
    if (peer.endpoint !== undefined) lines.push(`endpoint=${peer.endpoint}`);
    if (peer.persistentKeepaliveInterval !== undefined)
      lines.push(`persistent_keepalive_interval=${peer.persistentKeepaliveInterval}`);
    for (const allowed of peer.allowedIps) {
      if (allowed.kind === 'clear') lines.push('replace_allowed_ips=true');
      else lines.push(`allowed_ip=${allowed.kind === 'remove' ? '-' : ''}${formatPrefix(allowed.prefix)}`);
    }
  }
  return `${lines.join('\n')}\n\n`;
}

/** The body of a `get=1` answer, in wireguard-go's order, ending with `errno=0` and a blank line. */
export function formatGetResponse(snapshot: DeviceSnapshot): string {
  const lines: string[] = [];
  if (snapshot.privateKey) lines.push(`private_key=${snapshot.privateKey.toString('hex')}`);
  if (snapshot.listenPort !== 0) lines.push(`listen_port=${snapshot.listenPort}`);
  if (snapshot.fwmark !== 0) lines.push(`fwmark=${snapshot.fwmark}`);
  for (const [reason, count] of Object.entries(snapshot.drops ?? {})) lines.push(`${DROPS_KEY}${reason}=${count}`);
  for (const peer of snapshot.peers) {
    lines.push(`public_key=${peer.publicKey.toString('hex')}`);
    lines.push(`preshared_key=${(peer.presharedKey ?? Buffer.alloc(32)).toString('hex')}`);
    lines.push('protocol_version=1');
    if (peer.endpoint) lines.push(`endpoint=${peer.endpoint}`);
    let seconds = Math.floor(peer.lastHandshakeUnixMs / 1000);
    let nanoseconds = Math.round((peer.lastHandshakeUnixMs - seconds * 1000) * 1e6);
    if (nanoseconds >= 1e9) {
      // rounding up a fraction just below the next second: carry instead of writing nsec=1000000000
      seconds += 1;
      nanoseconds -= 1e9;
    }
    lines.push(`last_handshake_time_sec=${seconds}`);
    lines.push(`last_handshake_time_nsec=${nanoseconds}`);
    lines.push(`tx_bytes=${peer.txBytes}`);
    lines.push(`rx_bytes=${peer.rxBytes}`);
    lines.push(`persistent_keepalive_interval=${peer.persistentKeepaliveInterval}`);
    for (const prefix of peer.allowedIps) lines.push(`allowed_ip=${formatPrefix(prefix)}`);
  }
  lines.push('errno=0');
  return `${lines.join('\n')}\n\n`;
}

/** Parses a `get=1` answer (from any implementation) back into a snapshot. */
export function parseGetResponse(text: string): DeviceSnapshot {
  const snapshot: DeviceSnapshot = { privateKey: null, listenPort: 0, fwmark: 0, peers: [] };
  let peer: PeerSnapshot | null = null;
  let errno: number | null = null;
  const key = (name: string, value: string): Buffer => parseKey(name, value, malformed);
  const unsigned = (name: string, value: string, max: number): number => parseUnsigned(name, value, max, malformed);
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const equals = line.indexOf('=');
    const name = line.slice(0, equals);
    const value = line.slice(equals + 1);
    switch (name) {
      case 'private_key':
        snapshot.privateKey = key(name, value);
        break;
      case 'listen_port':
        snapshot.listenPort = unsigned(name, value, 0xffff);
        break;
      case 'fwmark':
        snapshot.fwmark = unsigned(name, value, 0xffffffff);
        break;
      case 'public_key':
        peer = {
          publicKey: key(name, value),
          presharedKey: null,
          endpoint: null,
          lastHandshakeUnixMs: 0,
          txBytes: 0,
          rxBytes: 0,
          persistentKeepaliveInterval: 0,
          allowedIps: [],
        };
        snapshot.peers.push(peer);
        break;
      case 'preshared_key':
        if (peer) {
          const psk = key(name, value);
          peer.presharedKey = isZero(psk) ? null : psk;
        }
        break;
      case 'endpoint':
        if (peer) peer.endpoint = value;
        break;
      case 'last_handshake_time_sec':
        if (peer) peer.lastHandshakeUnixMs += unsigned(name, value, Number.MAX_SAFE_INTEGER / 1000) * 1000;
        break;
      case 'last_handshake_time_nsec':
        if (peer) peer.lastHandshakeUnixMs += unsigned(name, value, 999_999_999) / 1e6;
        break;
      case 'tx_bytes':
        if (peer) peer.txBytes = unsigned(name, value, Number.MAX_SAFE_INTEGER);
        break;
      case 'rx_bytes':
        if (peer) peer.rxBytes = unsigned(name, value, Number.MAX_SAFE_INTEGER);
        break;
      case 'persistent_keepalive_interval':
        if (peer) peer.persistentKeepaliveInterval = unsigned(name, value, 0xffff);
        break;
      case 'allowed_ip':
        if (!peer) break;
        try {
          peer.allowedIps.push(parsePrefix(value));
        } catch (error) {
          throw malformed(`allowed_ip: ${(error as Error).message}`);
        }
        break;
      case 'errno':
        if (!/^-?\d{1,10}$/.test(value)) throw malformed('errno: expected an integer');
        errno = Number(value);
        break;
      default:
        if (name.startsWith(DROPS_KEY) && !peer)
          (snapshot.drops ??= {})[name.slice(DROPS_KEY.length)] = unsigned(name, value, Number.MAX_SAFE_INTEGER);
        break; // other unknown keys are ignored, as wg does
    }
  }
  if (errno === null) throw new UapiError(Errno.EPROTO, 'UAPI answer without errno');
  if (errno !== 0) throw new UapiError(-Math.abs(errno), `UAPI get failed with errno ${errno}`);
  return snapshot;
}
