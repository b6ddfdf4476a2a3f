/**
 * Reads a plain wg-quick `.conf` as an agent configuration, so operators can move an existing
 * interface: Address, MTU, ListenPort, FwMark, PrivateKey and the [Peer] keys. Hooks and the
 * other wg-quick-only settings (PostUp, DNS, Table, SaveConfig, ...) are refused, by name and line.
 */
import { keyFromBase64 } from '../crypto/keys';
import { ConfigError, validateAgentConfig, type ConfigProblem } from './config';
import type { AgentConfig, PeerConfig } from './config-types';

const INTERFACE_KEYS = new Set(['privatekey', 'address', 'listenport', 'mtu', 'fwmark']);
const PEER_KEYS = new Set(['publickey', 'presharedkey', 'allowedips', 'endpoint', 'persistentkeepalive']);
const REFUSED = new Set(['preup', 'postup', 'predown', 'postdown', 'dns', 'table', 'saveconfig']);

function list(value: string): string[] {
  return value.split(',').map((item) => item.trim()).filter(Boolean);
}

/** Parses `.conf` text; `name` is the interface (wg-quick takes it from the file name). */
export function parseWgQuickConfig(text: string, name: string, file: string): AgentConfig {
  const problems: ConfigProblem[] = [];
  const addresses: string[] = [];
  const peers: PeerConfig[] = [];
  const keys: { privateKey?: Buffer; presharedKeys: Map<number, Buffer> } = { presharedKeys: new Map() };
  let listenPort: number | undefined;
  let mtu: number | undefined;
  let fwmark: number | undefined;
  let section: 'none' | 'interface' | 'peer' = 'none';
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/#.*$/, '').trim();
    const where = `${file}:${index + 1}`;
    if (line === '') return;
    if (/^\[interface\]$/i.test(line)) return void (section = 'interface');
    if (/^\[peer\]$/i.test(line)) {
      section = 'peer';
      peers.push({ name: `peer${peers.length + 1}`, publicKey: '', allowedIps: [] });
      return;
    }
    const equals = line.indexOf('=');
    if (equals === -1 || section === 'none') return void problems.push({ path: where, message: `cannot read "${line.slice(0, 30)}"` });
    const key = line.slice(0, equals).trim().toLowerCase();
    const value = line.slice(equals + 1).trim();
    const field = `[${section === 'interface' ? 'Interface' : 'Peer'}].${line.slice(0, equals).trim()} (${where})`;
    if (REFUSED.has(key)) return void problems.push({ path: field, message: 'is not supported by wiremesh-agent: move hooks and DNS to the host configuration' });
    const number = (max: number): number | undefined => {
      const n = Number(value);
      if (/^\d+$/.test(value) && n <= max) return n;
      problems.push({ path: field, message: `must be an integer from 0 to ${max}` });
      return undefined;
    };
    if (section === 'interface') {
      if (!INTERFACE_KEYS.has(key)) return void problems.push({ path: field, message: 'is not a known [Interface] key' });
      if (key === 'privatekey') keys.privateKey = decodeKey(value, field, problems);
      else if (key === 'address') addresses.push(...list(value));
      else if (key === 'listenport') listenPort = number(65535);
      else if (key === 'mtu') mtu = number(65535);
      else fwmark = value === 'off' ? 0 : number(0xffffffff);
      return;
    }
    const peer = peers[peers.length - 1]!;
    if (!PEER_KEYS.has(key)) return void problems.push({ path: field, message: 'is not a known [Peer] key' });
    if (key === 'publickey') peer.publicKey = value;
    else if (key === 'presharedkey') {
      const psk = decodeKey(value, field, problems);
      if (psk) keys.presharedKeys.set(peers.length - 1, psk);
    } else if (key === 'allowedips') peer.allowedIps.push(...list(value));
    else if (key === 'endpoint') peer.endpoint = value;
    else peer.persistentKeepalive = value === 'off' ? 0 : number(65535);
  });
  if (!keys.privateKey) problems.push({ path: `[Interface].PrivateKey (${file})`, message: 'is required' });
  if (problems.length > 0) throw new ConfigError(problems, `wg-quick configuration ${file}`);

  // Validate the shape with placeholder key sources (documents may not hold keys), then put the keys in.
  const placeholder = { source: 'file' as const, path: file };
  const validated = validateAgentConfig({
    interface: { name, addresses, ...(listenPort !== undefined && { listenPort }), ...(mtu !== undefined && { mtu }), ...(fwmark !== undefined && { fwmark }) },
    privateKey: placeholder,
    peers: peers.map((peer, i) => ({ ...peer, ...(keys.presharedKeys.has(i) && { presharedKey: placeholder }) })),
  });
  return {
    ...validated,
    dataPlane: 'auto',
    privateKey: { source: 'inline', key: keys.privateKey!, description: `PrivateKey in ${file}` },
    peers: validated.peers.map((peer, i) => {
      const psk = keys.presharedKeys.get(i);
      return psk ? { ...peer, presharedKey: { source: 'inline', key: psk, description: `PresharedKey of [Peer] ${i + 1} in ${file}` } } : peer;
    }),
  };
}

function decodeKey(value: string, field: string, problems: ConfigProblem[]): Buffer | undefined {
  try {
    return keyFromBase64(value);
  } catch (error) {
    problems.push({ path: field, message: (error as Error).message });
    return undefined;
  }
}
