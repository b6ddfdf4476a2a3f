/**
 * Reads a plain wg-quick `.conf` as an agent configuration, so operators can move an existing
 * interface: Address, MTU, ListenPort, FwMark, PrivateKey and the [Peer] keys. Hooks and the
 * other wg-quick-only settings (PostUp, DNS, Table, SaveConfig, ...) are refused, by name and line.
 */
import { keyFromBase64 } from '../crypto/keys';
import { validateAgentConfig } from './config';
import { ConfigError, type ConfigProblem } from '../../common/validation';
import type { AgentConfig, PeerConfig } from './config-types';

const INTERFACE_KEYS = new Set(['privatekey', 'address', 'listenport', 'mtu', 'fwmark']);
const PEER_KEYS = new Set(['publickey', 'presharedkey', 'allowedips', 'endpoint', 'persistentkeepalive']);
const REFUSED = new Set(['preup', 'postup', 'predown', 'postdown', 'dns', 'table', 'saveconfig']);

function list(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

/**
 * A setting's name as the file spells it, for messages. A line that is not `Name = value` may be
 * key material (a pasted key ends in "="), so anything that is not a plain word is not echoed.
 */
function settingName(text: string): string {
  return /^[A-Za-z]{1,24}$/.test(text) ? text : '(unreadable setting)';
}

/** `$.peers[0].allowedIps[1]` -> the label of the longest recorded path it starts with. */
function labelFor(path: string, labels: Map<string, string>): string {
  for (let p = path; p.length > 1; p = p.replace(/(\.[^.[]+|\[\d+\])$/, '')) {
    const label = labels.get(p);
    if (label !== undefined) return label;
  }
  return path;
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
  let privateKeySeen = false;
  const publicKeySeen = new Set<number>();
  /** JSON path of each value read -> the setting and line it came from, for the validation's messages. */
  const labels = new Map<string, string>([['$.interface.name', `the interface name (from the file name of ${file})`]]);
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/#.*$/, '').trim();
    const where = `${file}:${index + 1}`;
    if (line === '') return;
    if (/^\[interface\]$/i.test(line)) return void (section = 'interface');
    if (/^\[peer\]$/i.test(line)) {
      section = 'peer';
      peers.push({ name: `peer${peers.length + 1}`, publicKey: '', allowedIps: [] });
      labels.set(`$.peers[${peers.length - 1}]`, `[Peer] ${peers.length} (${where})`);
      return;
    }
    // Never echo the line itself: it may hold a key.
    const equals = line.indexOf('=');
    if (equals === -1)
      return void problems.push({
        path: where,
        message: 'cannot read this line: expected [Interface], [Peer] or Name = value',
      });
    const name = settingName(line.slice(0, equals).trim());
    if (section === 'none')
      return void problems.push({
        path: `${name} (${where})`,
        message: 'comes before the first [Interface] or [Peer] section',
      });
    const key = name.toLowerCase();
    const value = line.slice(equals + 1).trim();
    const field = `[${section === 'interface' ? 'Interface' : 'Peer'}].${name} (${where})`;
    if (REFUSED.has(key))
      return void problems.push({
        path: field,
        message:
          'is a wg-quick setting that wiremesh-agent does not support: move hooks, DNS and routing-table settings to the host configuration',
      });
    const number = (max: number): number | undefined => {
      const n = Number(value);
      if (/^\d+$/.test(value) && n <= max) return n;
      problems.push({ path: field, message: `must be an integer from 0 to ${max}` });
      return undefined;
    };
    if (section === 'interface') {
      if (!INTERFACE_KEYS.has(key))
        return void problems.push({ path: field, message: 'is not a known [Interface] key' });
      if (key === 'privatekey') {
        privateKeySeen = true;
        keys.privateKey = decodeKey(value, field, problems);
      } else if (key === 'address') {
        for (const item of list(value)) labels.set(`$.interface.addresses[${addresses.push(item) - 1}]`, field);
      } else if (key === 'listenport') {
        listenPort = number(65535);
        labels.set('$.interface.listenPort', field);
      } else if (key === 'mtu') {
        mtu = number(65535);
        labels.set('$.interface.mtu', field);
      } else {
        fwmark = value === 'off' ? 0 : number(0xffffffff);
        labels.set('$.interface.fwmark', field);
      }
      return;
    }
    const peer = peers[peers.length - 1]!;
    const base = `$.peers[${peers.length - 1}]`;
    if (!PEER_KEYS.has(key)) return void problems.push({ path: field, message: 'is not a known [Peer] key' });
    if (key === 'publickey') {
      publicKeySeen.add(peers.length - 1);
      if (decodeKey(value, field, problems)) peer.publicKey = value;
      labels.set(`${base}.publicKey`, field);
    } else if (key === 'presharedkey') {
      const psk = decodeKey(value, field, problems);
      if (psk) keys.presharedKeys.set(peers.length - 1, psk);
    } else if (key === 'allowedips') {
      for (const item of list(value)) labels.set(`${base}.allowedIps[${peer.allowedIps.push(item) - 1}]`, field);
    } else if (key === 'endpoint') {
      peer.endpoint = value;
      labels.set(`${base}.endpoint`, field);
    } else {
      peer.persistentKeepalive = value === 'off' ? 0 : number(65535);
      labels.set(`${base}.persistentKeepalive`, field);
    }
  });
  if (!privateKeySeen) problems.push({ path: `[Interface].PrivateKey (${file})`, message: 'is required' });
  peers.forEach((_, i) => {
    if (!publicKeySeen.has(i)) problems.push({ path: labels.get(`$.peers[${i}]`)!, message: 'needs a PublicKey' });
  });
  if (problems.length > 0) throw new ConfigError(problems, `wg-quick configuration ${file}`);

  // Validate the shape with placeholder key sources (documents may not hold keys), then put the keys in.
  // Problems are reported against the file's settings and lines, not the JSON paths of a document the
  // operator never wrote.
  const placeholder = { source: 'file' as const, path: file };
  let validated: AgentConfig;
  try {
    validated = validateAgentConfig({
      interface: {
        name,
        addresses,
        ...(listenPort !== undefined && { listenPort }),
        ...(mtu !== undefined && { mtu }),
        ...(fwmark !== undefined && { fwmark }),
      },
      privateKey: placeholder,
      peers: peers.map((peer, i) => ({ ...peer, ...(keys.presharedKeys.has(i) && { presharedKey: placeholder }) })),
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError(
      error.problems.map((problem) => ({
        path: labelFor(problem.path, labels),
        message: problem.message.replace(/\$\.peers\[\d+\](\.\w+)?/g, (peerPath) => labelFor(peerPath, labels)),
      })),
      `wg-quick configuration ${file}`,
    );
  }
  return {
    ...validated,
    dataPlane: 'auto',
    privateKey: { source: 'inline', key: keys.privateKey!, description: `PrivateKey in ${file}` },
    peers: validated.peers.map((peer, i) => {
      const psk = keys.presharedKeys.get(i);
      return psk
        ? {
            ...peer,
            presharedKey: { source: 'inline', key: psk, description: `PresharedKey of [Peer] ${i + 1} in ${file}` },
          }
        : peer;
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
