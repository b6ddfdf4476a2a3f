/**
 * The agent configuration: every kind of invalid document and the exact error it produces, the
 * wg-quick `.conf` import, the `check` plan, and the published JSON Schema with its example.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { parse as parseYaml } from 'yaml';
import { describePlan } from '../../agent/cli/wiremesh-agent';
import { parseAgentConfig, restartOnlyChanges } from '../../agent/gateway/config';
import { ConfigError } from '../../common/validation';
import type { AgentConfig } from '../../agent/gateway/config-types';
import { parseWgQuickConfig } from '../../agent/gateway/wg-quick';
import {
  AGENT_CONFIG_VALIDATOR_FILE,
  SCHEMAS,
  agentConfigValidatorText,
  schemaText,
} from '../../scripts/write-schemas';
import { testKey as key } from '../support/fixtures';

const ROOT = join(__dirname, '..', '..');

/** Distinct, valid base64 keys (32 bytes of one value each). */
const KEY_B = key(2); // AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=
const KEY_C = key(3); // AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=
const NEXT_KEY_C = key(4);

/** A valid document as a plain object; rows change one thing and serialize it as JSON (which is YAML). */
function base(): Record<string, any> {
  return {
    interface: { name: 'wm0', addresses: ['10.99.0.1/24'], listenPort: 51820, mtu: 1420 },
    privateKey: { source: 'file', path: '/etc/wiremesh/private.key' },
    peers: [
      {
        name: 'site-b',
        publicKey: KEY_B,
        endpoint: 'gw-b.example.net:51820',
        allowedIps: ['10.99.0.2/32', '10.20.0.0/16'],
      },
      { name: 'branch', publicKey: KEY_C, allowedIps: ['10.99.0.3/32'], persistentKeepalive: 25 },
    ],
  };
}

function doc(change: (d: Record<string, any>) => void): string {
  const d = base();
  change(d);
  return JSON.stringify(d, null, 2);
}

/** The ConfigError message `parse` throws for `text`; fails the test when it does not throw one. */
function errorOf(parse: () => unknown): string {
  try {
    parse();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError, but the configuration was accepted');
}

const invalid = (...lines: string[]): string =>
  `invalid configuration:\n${lines.map((line) => `  ${line}`).join('\n')}`;

describe('agent configuration', () => {
  it('accepts the valid base document (as JSON and as YAML)', () => {
    const config = parseAgentConfig(doc(() => {}));
    expect(config).toEqual(base());
    expect(
      parseAgentConfig(`
interface:
  name: wm0
  addresses: [10.99.0.1/24]
privateKey: { source: aws-secrets-manager, secretId: wiremesh/a, region: eu-west-1, versionId: 5f2b-v2 }
nextPrivateKey: { source: gcp-secret-manager, name: projects/p/secrets/a-key/versions/4 }
statusFile: /run/wiremesh/wm0.status.json
peers:
  - name: site-b
    publicKey: ${KEY_B}
    presharedKey: { source: gcp-secret-manager, name: projects/p/secrets/psk/versions/3 }
    endpoint: "[2001:db8::7]:51820"
    allowedIps: [fd99::2/128]
`).peers[0]!.endpoint,
    ).toBe('[2001:db8::7]:51820');
  });

  it.each<[string, string, string]>([
    // Required fields.
    ['no interface', doc((d) => delete d.interface), invalid('$.interface: is required')],
    ['no interface.name', doc((d) => delete d.interface.name), invalid('$.interface.name: is required')],
    ['no privateKey', doc((d) => delete d.privateKey), invalid('$.privateKey: is required')],
    ['no peers', doc((d) => delete d.peers), invalid('$.peers: is required')],
    [
      'a peer without name, publicKey and allowedIps',
      doc((d) => (d.peers[1] = { endpoint: 'gw-c.example.net:51820' })),
      invalid(
        '$.peers[1].name: is required',
        '$.peers[1].publicKey: is required',
        '$.peers[1].allowedIps: is required',
      ),
    ],
    // Unknown fields, at several depths.
    ['an unknown top-level field', doc((d) => (d.peer = [])), invalid('$.peer: is not a known field')],
    [
      'an unknown interface field',
      doc((d) => (d.interface.port = 51820)),
      invalid('$.interface.port: is not a known field'),
    ],
    [
      'a misspelt peer field',
      doc((d) => (d.peers[1].allowedIPs = ['10.3.0.0/16'])),
      invalid('$.peers[1].allowedIPs: is not a known field'),
    ],
    [
      'an unknown field in a key source',
      doc((d) => (d.peers[0].presharedKey = { source: 'file', path: '/etc/wiremesh/psk', mode: '0600' })),
      invalid('$.peers[0].presharedKey.mode: is not a known field'),
    ],
    // Interface.
    [
      'an interface name over 15 characters',
      doc((d) => (d.interface.name = 'wiremesh-gateway0')),
      invalid('$.interface.name: must be 1 to 15 letters, digits or _=+.-'),
    ],
    ["an MTU under IPv6's 1280", doc((d) => (d.interface.mtu = 576)), invalid('$.interface.mtu: must be >= 1280')],
    ['an MTU given as a string', doc((d) => (d.interface.mtu = '1420')), invalid('$.interface.mtu: must be integer')],
    [
      'a listen port over 65535',
      doc((d) => (d.interface.listenPort = 70000)),
      invalid('$.interface.listenPort: must be <= 65535'),
    ],
    // Keys and where they come from.
    [
      'a public key that is not base64',
      doc((d) => (d.peers[0].publicKey = 'site-b-public-key')),
      invalid('$.peers[0].publicKey: must be a base64 WireGuard key (44 characters ending in "=")'),
    ],
    [
      'a public key one byte short',
      doc((d) => (d.peers[0].publicKey = Buffer.alloc(31, 2).toString('base64'))),
      invalid('$.peers[0].publicKey: must be a base64 WireGuard key (44 characters ending in "=")'),
    ],
    [
      'a private key written inline',
      doc((d) => (d.privateKey = key(1))),
      invalid('$.privateKey: needs "source": one of file, aws-secrets-manager, gcp-secret-manager'),
    ],
    [
      'an unknown privateKey source',
      doc((d) => (d.privateKey = { source: 'vault', path: 'secret/wg' })),
      invalid('$.privateKey: needs "source": one of file, aws-secrets-manager, gcp-secret-manager'),
    ],
    [
      'a file privateKey without path',
      doc((d) => (d.privateKey = { source: 'file' })),
      invalid('$.privateKey.path: is required'),
    ],
    [
      'an unknown presharedKey source',
      doc((d) => (d.peers[1].presharedKey = { source: 'env', name: 'PSK' })),
      invalid('$.peers[1].presharedKey: needs "source": one of file, aws-secrets-manager, gcp-secret-manager'),
    ],
    [
      'a file presharedKey without path',
      doc((d) => (d.peers[1].presharedKey = { source: 'file' })),
      invalid('$.peers[1].presharedKey.path: is required'),
    ],
    [
      'an AWS key source without secretId',
      doc((d) => (d.nextPrivateKey = { source: 'aws-secrets-manager', region: 'eu-west-1' })),
      invalid('$.nextPrivateKey.secretId: is required'),
    ],
    // A scheduled switch names an instant in UTC, and a next key to switch to.
    [
      'a switchAt that is not an instant in UTC',
      doc((d) => {
        d.nextPrivateKey = { source: 'file', path: '/etc/wiremesh/next.key' };
        d.switchAt = '2026-12-07 12:00';
      }),
      invalid('$.switchAt: must be an instant in UTC, e.g. 2026-12-07T12:00:00Z'),
    ],
    [
      'a switchAt on a day the month does not have',
      doc((d) => {
        d.nextPrivateKey = { source: 'file', path: '/etc/wiremesh/next.key' };
        d.switchAt = '2026-02-30T12:00:00Z';
      }),
      invalid('$.switchAt: 2026-02-30T12:00:00Z is not a real instant'),
    ],
    [
      'a switchAt without nextPrivateKey',
      doc((d) => (d.switchAt = '2026-12-07T12:00:00Z')),
      invalid('$.switchAt: schedules a switch to nextPrivateKey, which is absent'),
    ],
    [
      "a peer's switchAt without nextPublicKey",
      doc((d) => (d.peers[1].switchAt = '2026-12-07T12:00:00.000Z')),
      invalid('$.peers[1].switchAt: schedules a switch to nextPublicKey, which is absent'),
    ],
    [
      'a GCP secret that is not a resource name',
      doc((d) => (d.privateKey = { source: 'gcp-secret-manager', name: 'wg-private-key' })),
      invalid(
        '$.privateKey.name: must be projects/PROJECT/secrets/SECRET or projects/PROJECT/secrets/SECRET/versions/VERSION',
      ),
    ],
    // Endpoints and listen addresses.
    [
      'an endpoint without port',
      doc((d) => (d.peers[0].endpoint = 'gw-b.example.net')),
      invalid('$.peers[0].endpoint: must be host:port or [IPv6]:port'),
    ],
    [
      'an IPv6 endpoint without brackets',
      doc((d) => (d.peers[0].endpoint = '2001:db8::7:51820')),
      invalid('$.peers[0].endpoint: must be host:port or [IPv6]:port'),
    ],
    [
      'an endpoint port over 65535',
      doc((d) => (d.peers[0].endpoint = 'gw-b.example.net:99999')),
      invalid('$.peers[0].endpoint: port 99999 is out of range (1 to 65535)'),
    ],
    [
      'an endpoint port 0',
      doc((d) => (d.peers[0].endpoint = '198.51.100.7:0')),
      invalid('$.peers[0].endpoint: port 0 is out of range (1 to 65535)'),
    ],
    [
      'a metrics listen address without port',
      doc((d) => (d.metrics = { listen: '127.0.0.1' })),
      invalid('$.metrics.listen: must be host:port'),
    ],
    [
      'a health listen port over 65535',
      doc((d) => (d.health = { listen: '0.0.0.0:65536' })),
      invalid('$.health.listen: port 65536 is out of range (0 to 65535)'),
    ],
    // Prefixes.
    [
      'an IPv4 prefix length over 32',
      doc((d) => (d.peers[0].allowedIps[1] = '10.20.0.0/33')),
      invalid('$.peers[0].allowedIps[1]: invalid IP prefix "10.20.0.0/33": IPv4 prefix length must be 0 to 32'),
    ],
    [
      'an interface address that is not an address',
      doc((d) => d.interface.addresses.push('10.99.0.300/24')),
      invalid('$.interface.addresses[1]: invalid IP prefix "10.99.0.300/24": not an IPv4 or IPv6 address'),
    ],
    [
      'an IPv6 route prefix length over 128',
      doc((d) => (d.routes = ['10.20.0.0/16', 'fd00::/129'])),
      invalid('$.routes[1]: invalid IP prefix "fd00::/129": IPv6 prefix length must be 0 to 128'),
    ],
    [
      '0.0.0.0/0 without fullTunnel',
      doc((d) => (d.peers[0].allowedIps = ['0.0.0.0/0'])),
      invalid(
        '$.peers[0].allowedIps[0]: a default route (0.0.0.0/0 or ::/0) needs "fullTunnel": true; list the remote prefixes instead',
      ),
    ],
    [
      "::/0 after an invalid prefix (the path is the item's own index)",
      doc((d) => (d.peers[1].allowedIps = ['10.99.0.3', 'fd99::3/200', '::/0'])),
      invalid(
        '$.peers[1].allowedIps[1]: invalid IP prefix "fd99::3/200": IPv6 prefix length must be 0 to 128',
        '$.peers[1].allowedIps[2]: a default route (0.0.0.0/0 or ::/0) needs "fullTunnel": true; list the remote prefixes instead',
      ),
    ],
    // Uniqueness and references.
    [
      'two peers with one name',
      doc((d) => (d.peers[1].name = 'site-b')),
      invalid('$.peers[1].name: duplicates $.peers[0].name'),
    ],
    [
      'two peers with one public key',
      doc((d) => (d.peers[1].publicKey = KEY_B)),
      invalid('$.peers[1].publicKey: the same key is already used by $.peers[0]'),
    ],
    [
      'a prefix under two peers (written differently)',
      doc((d) => d.peers[1].allowedIps.push('10.20.7.0/16')),
      invalid('$.peers[1].allowedIps[1]: is also an allowed IP of $.peers[0]; a prefix belongs to one peer'),
    ],
    [
      'requiredPeers naming an unknown peer',
      doc((d) => (d.health = { listen: '0.0.0.0:9587', requiredPeers: ['site-b', 'site-c'] })),
      invalid('$.health.requiredPeers[1]: no peer is named "site-c"'),
    ],
    [
      'a health threshold that routine rekeys would cross',
      doc((d) => (d.health = { listen: '0.0.0.0:9587', maxHandshakeAgeSeconds: 149 })),
      invalid(
        "$.health.maxHandshakeAgeSeconds: 149 s would flap: a healthy peer's handshake is renewed every 120 s (REKEY_AFTER_TIME), " +
          'up to a keepalive interval and a retry later; use at least 150 s (default 180)',
      ),
    ],
    // Syntax and enumerations.
    [
      'invalid YAML (an unclosed flow sequence)',
      'interface:\n  name: wm0\n  addresses: [10.99.0.1/24\npeers: []\n',
      invalid(
        '$: is not valid YAML or JSON: Flow sequence in block collection must be sufficiently indented and end with a ] at line 4, column 1',
      ),
    ],
    [
      'invalid JSON (a trailing comma)',
      '{ "interface": { "name": "wm0", } ',
      invalid('$: is not valid YAML or JSON: Flow map must end with a } at line 1, column 35'),
    ],
    [
      'a key given twice',
      'interface: {}\ninterface: {}\n',
      invalid('$: is not valid YAML or JSON: Map keys must be unique at line 2, column 1'),
    ],
    [
      'an empty document',
      '# nothing yet\n',
      invalid('$: is empty: expected an object with interface, privateKey and peers'),
    ],
    ['a list instead of an object', '- wm0\n', invalid('$: must be object')],
    [
      'an unknown dataPlane',
      doc((d) => (d.dataPlane = 'ebpf')),
      invalid('$.dataPlane: must be one of: auto, userspace, kernel, wireguard-go'),
    ],
    ['zero data-plane threads', doc((d) => (d.threads = 0)), invalid('$.threads: must be >= 1')],
    ['peers as a map', doc((d) => (d.peers = { 'site-b': d.peers[0] })), invalid('$.peers: must be array')],
  ])('rejects %s', (_what, text, message) => {
    expect(errorOf(() => parseAgentConfig(text))).toBe(message);
  });

  it('lists every schema problem in one error', () => {
    const text = doc((d) => {
      delete d.privateKey;
      d.interface.mtu = 9999999;
      d.peers[0].publicKey = 'short';
      d.peers[1].persistentKeepalive = -1;
      d.dataPlane = 'fast';
      d.extra = true;
    });
    expect(errorOf(() => parseAgentConfig(text))).toBe(
      invalid(
        '$.privateKey: is required',
        '$.extra: is not a known field',
        '$.interface.mtu: must be <= 65535',
        '$.peers[0].publicKey: must be a base64 WireGuard key (44 characters ending in "=")',
        '$.peers[1].persistentKeepalive: must be >= 0',
        '$.dataPlane: must be one of: auto, userspace, kernel, wireguard-go',
      ),
    );
  });

  it('lists every semantic problem in one error (after the schema passes)', () => {
    const text = doc((d) => {
      d.peers.push({ name: 'site-b', publicKey: KEY_C, allowedIps: ['10.20.0.0/16', '0.0.0.0/0'] });
      d.routes = ['10.20.0.0/16', 'nope'];
      d.health = { listen: '127.0.0.1:9587', requiredPeers: ['site-z'] };
    });
    expect(errorOf(() => parseAgentConfig(text))).toBe(
      invalid(
        '$.routes[1]: invalid IP prefix "nope": not an IPv4 or IPv6 address',
        '$.peers[2].name: duplicates $.peers[0].name',
        '$.peers[2].publicKey: the same key is already used by $.peers[1]',
        '$.peers[2].allowedIps[0]: is also an allowed IP of $.peers[0]; a prefix belongs to one peer',
        '$.peers[2].allowedIps[1]: a default route (0.0.0.0/0 or ::/0) needs "fullTunnel": true; list the remote prefixes instead',
        '$.health.requiredPeers[0]: no peer is named "site-z"',
      ),
    );
  });

  it('accepts a default route on a declared full tunnel', () => {
    const config = parseAgentConfig(
      doc((d) => {
        d.peers = [
          {
            name: 'exit',
            publicKey: KEY_B,
            endpoint: '[2001:db8::1]:51820',
            allowedIps: ['0.0.0.0/0', '::/0'],
            fullTunnel: true,
          },
        ];
        d.interface.fwmark = 51820;
      }),
    );
    expect(config.peers[0]!.allowedIps).toEqual(['0.0.0.0/0', '::/0']);
  });
});

describe('wg-quick .conf import', () => {
  const FILE = '/etc/wireguard/wm0.conf';
  const PRIVATE = key(1);
  const PSK = key(4);
  const conf = `[Interface]
# gateway A
PrivateKey = ${PRIVATE}
Address = 10.99.0.1/24, fd99::1/64
ListenPort = 51820
MTU = 1420

[Peer]
PublicKey = ${KEY_B}
PresharedKey = ${PSK}
AllowedIPs = 10.20.0.0/16, fd99::2/128
Endpoint = 198.51.100.7:51820
PersistentKeepalive = 25

[Peer]
PublicKey = ${KEY_C}
AllowedIPs = 10.99.0.3/32
`;
  const conferr = (...lines: string[]): string =>
    `invalid wg-quick configuration ${FILE}:\n${lines.map((line) => `  ${line}`).join('\n')}`;
  const UNSUPPORTED =
    'is a wg-quick setting that wiremesh-agent does not support: move hooks, DNS and routing-table settings to the host configuration';

  it('reads a valid .conf into an AgentConfig with inline keys', () => {
    const config = parseWgQuickConfig(conf, 'wm0', FILE);
    expect(config).toEqual<AgentConfig>({
      interface: { name: 'wm0', addresses: ['10.99.0.1/24', 'fd99::1/64'], listenPort: 51820, mtu: 1420 },
      privateKey: { source: 'inline', key: Buffer.alloc(32, 1), description: `PrivateKey in ${FILE}` },
      peers: [
        {
          name: 'peer1',
          publicKey: KEY_B,
          presharedKey: {
            source: 'inline',
            key: Buffer.alloc(32, 4),
            description: `PresharedKey of [Peer] 1 in ${FILE}`,
          },
          allowedIps: ['10.20.0.0/16', 'fd99::2/128'],
          endpoint: '198.51.100.7:51820',
          persistentKeepalive: 25,
        },
        { name: 'peer2', publicKey: KEY_C, allowedIps: ['10.99.0.3/32'] },
      ],
      dataPlane: 'auto',
    });
  });

  it.each<[string, string, string]>([
    [
      'PostUp and DNS',
      conf.replace('MTU = 1420\n', 'MTU = 1420\nPostUp = iptables -A FORWARD -i %i -j ACCEPT\nDNS = 10.20.0.2\n'),
      conferr(`[Interface].PostUp (${FILE}:7): ${UNSUPPORTED}`, `[Interface].DNS (${FILE}:8): ${UNSUPPORTED}`),
    ],
    [
      'Table and SaveConfig',
      conf.replace('MTU = 1420\n', 'Table = off\nSaveConfig = true\n'),
      conferr(`[Interface].Table (${FILE}:6): ${UNSUPPORTED}`, `[Interface].SaveConfig (${FILE}:7): ${UNSUPPORTED}`),
    ],
    [
      'a bad PrivateKey (reported once, not also as missing)',
      conf.replace(PRIVATE, PRIVATE.slice(0, 40) + '='),
      conferr(`[Interface].PrivateKey (${FILE}:3): a key must be 32 bytes in base64 (44 characters ending in "=")`),
    ],
    [
      'a bad PresharedKey',
      conf.replace(PSK, PSK.slice(1)),
      conferr(`[Peer].PresharedKey (${FILE}:10): a key must be 32 bytes in base64 (44 characters ending in "=")`),
    ],
    [
      'a bad PublicKey (with its line)',
      conf.replace(KEY_C, 'peer-two'),
      conferr(`[Peer].PublicKey (${FILE}:16): a key must be 32 bytes in base64 (44 characters ending in "=")`),
    ],
    ['no PrivateKey', conf.replace(/^PrivateKey.*\n/m, ''), conferr(`[Interface].PrivateKey (${FILE}): is required`)],
    [
      'a [Peer] without PublicKey',
      conf.replace(`PublicKey = ${KEY_C}\n`, ''),
      conferr(`[Peer] 2 (${FILE}:15): needs a PublicKey`),
    ],
    [
      'a setting before any section (its value, a key, not echoed)',
      `PrivateKey = ${PRIVATE}\n${conf}`,
      conferr(`PrivateKey (${FILE}:1): comes before the first [Interface] or [Peer] section`),
    ],
    [
      'a pasted key on a line of its own (not echoed)',
      conf.replace('MTU = 1420', PRIVATE),
      conferr(`[Interface].(unreadable setting) (${FILE}:6): is not a known [Interface] key`),
    ],
    [
      'a line that is not a setting (not echoed)',
      conf.replace('MTU = 1420', PSK.slice(0, 43)),
      conferr(`${FILE}:6: cannot read this line: expected [Interface], [Peer] or Name = value`),
    ],
    [
      'an unknown [Peer] key',
      conf.replace('PersistentKeepalive = 25', 'Keepalive = 25'),
      conferr(`[Peer].Keepalive (${FILE}:13): is not a known [Peer] key`),
    ],
    [
      'a ListenPort that is not a number',
      conf.replace('ListenPort = 51820', 'ListenPort = auto'),
      conferr(`[Interface].ListenPort (${FILE}:5): must be an integer from 0 to 65535`),
    ],
    [
      'an invalid AllowedIPs prefix (with its line)',
      conf.replace('10.20.0.0/16', '10.20.0.0/40'),
      conferr(`[Peer].AllowedIPs (${FILE}:11): invalid IP prefix "10.20.0.0/40": IPv4 prefix length must be 0 to 32`),
    ],
    [
      'an MTU under 1280 (with its line)',
      conf.replace('MTU = 1420', 'MTU = 1000'),
      conferr(`[Interface].MTU (${FILE}:6): must be >= 1280`),
    ],
    [
      'a prefix under two peers (both located)',
      conf.replace('AllowedIPs = 10.99.0.3/32', 'AllowedIPs = 10.99.0.3/32, 10.20.0.0/16'),
      conferr(
        `[Peer].AllowedIPs (${FILE}:17): is also an allowed IP of [Peer] 1 (${FILE}:8); a prefix belongs to one peer`,
      ),
    ],
    [
      'an endpoint port over 65535',
      conf.replace(':51820\nPersistent', ':65536\nPersistent'),
      conferr(`[Peer].Endpoint (${FILE}:12): port 65536 is out of range (1 to 65535)`),
    ],
  ])('rejects %s', (_what, text, message) => {
    const error = errorOf(() => parseWgQuickConfig(text, 'wm0', FILE));
    expect(error).toBe(message);
    for (const secret of [PRIVATE, PSK, PRIVATE.slice(0, 16), PSK.slice(1, 17)]) expect(error).not.toContain(secret);
  });

  it('names the interface from the file name', () => {
    expect(errorOf(() => parseWgQuickConfig(conf, 'wiremesh-gateway0', FILE))).toBe(
      conferr(`the interface name (from the file name of ${FILE}): must be 1 to 15 letters, digits or _=+.-`),
    );
  });
});

describe('restartOnlyChanges (what a reload refuses rather than ignores)', () => {
  const running = parseAgentConfig(doc(() => undefined));
  it('a default written out is no change; peers, routes and health thresholds may change', () => {
    const next = parseAgentConfig(
      doc((d) => {
        d.forwarding = true;
        d.dataPlane = d.dataPlane ?? 'auto';
        d.peers.pop();
        d.health = { listen: '0.0.0.0:9587', maxHandshakeAgeSeconds: 200 };
      }),
    );
    expect(restartOnlyChanges({ ...running, health: { listen: '0.0.0.0:9587' } }, next)).toEqual([]);
  });
  it('names every field a running agent cannot apply', () => {
    const next = parseAgentConfig(
      doc((d) => {
        d.interface.mtu = 1380;
        d.interface.addresses = ['10.99.0.9/24'];
        d.forwarding = false;
        d.metrics = {};
      }),
    );
    expect(restartOnlyChanges(running, next)).toEqual(
      ['$.interface.addresses', '$.interface.mtu', '$.forwarding', '$.metrics'].map((path) => ({
        path,
        message: 'cannot change while the agent runs; restart it',
      })),
    );
  });
});

test('the lowest health threshold that does not flap on rekeys is accepted', () => {
  const config = parseAgentConfig(doc((d) => (d.health = { listen: '0.0.0.0:9587', maxHandshakeAgeSeconds: 150 })));
  expect(config.health?.maxHandshakeAgeSeconds).toBe(150);
});

describe('describePlan (wiremesh-agent check)', () => {
  it('prints the plan with key sources, never key material', () => {
    const config = parseAgentConfig(
      doc((d) => {
        d.nextPrivateKey = { source: 'aws-secrets-manager', secretId: 'wiremesh/site-a/next', region: 'eu-west-1' };
        d.switchAt = '2026-12-10T12:00:00Z';
        d.peers[0].presharedKey = { source: 'gcp-secret-manager', name: 'projects/p/secrets/site-b-psk' };
        d.peers[1].nextPublicKey = NEXT_KEY_C;
        d.peers[1].switchAt = '2026-12-11T00:00:00Z';
        d.routes = ['10.20.0.0/16', '10.99.0.0/24'];
        d.metrics = { listen: '127.0.0.1:9586' };
        d.health = { listen: '0.0.0.0:9587', requiredPeers: ['site-b'] };
      }),
    );
    expect(describePlan(config, 'kernel')).toBe(`interface wm0: addresses 10.99.0.1/24, listen port 51820, MTU 1420
data plane: kernel (auto)
private key: file /etc/wiremesh/private.key; rotating to AWS Secrets Manager secret wiremesh/site-a/next at 2026-12-10T12:00:00Z
peers (2):
  site-b  ${KEY_B}  endpoint gw-b.example.net:51820  allowed 10.99.0.2/32, 10.20.0.0/16  psk from GCP Secret Manager secret projects/p/secrets/site-b-psk/versions/latest
  branch  ${KEY_C}  endpoint (learned)  allowed 10.99.0.3/32  keepalive 25s  next key ${NEXT_KEY_C} from 2026-12-11T00:00:00Z
routes: 10.20.0.0/16, 10.99.0.0/24
forwarding: on
metrics: http://127.0.0.1:9586/metrics
health: http://0.0.0.0:9587/healthz (required peers: site-b)
`);
  });

  it('shows inline keys from a .conf by their description only', () => {
    const privateKey = key(7);
    const psk = key(8);
    const config = parseWgQuickConfig(
      `[Interface]\nPrivateKey = ${privateKey}\nAddress = 10.99.0.1/24\n\n[Peer]\nPublicKey = ${KEY_B}\nPresharedKey = ${psk}\nAllowedIPs = 10.20.0.0/16\n`,
      'wm0',
      '/etc/wireguard/wm0.conf',
    );
    const plan = describePlan(config, 'userspace');
    expect(plan).toBe(`interface wm0: addresses 10.99.0.1/24, listen port random, MTU 1420
data plane: userspace (auto)
private key: PrivateKey in /etc/wireguard/wm0.conf
peers (1):
  peer1  ${KEY_B}  endpoint (learned)  allowed 10.20.0.0/16  psk from PresharedKey of [Peer] 1 in /etc/wireguard/wm0.conf
routes: 10.20.0.0/16
forwarding: on
`);
    for (const secret of [privateKey, psk, Buffer.alloc(32, 7).toString('hex'), Buffer.alloc(32, 8).toString('hex')])
      expect(plan).not.toContain(secret);
  });
});

describe('published schema and example', () => {
  const schemaFile = join(ROOT, 'schemas', 'agent-config.schema.json');

  it.each(SCHEMAS.map(({ file, schema }) => [file, schema] as const))(
    '%s is exactly what `npm run schemas` writes',
    (file, schema) => {
      const text = readFileSync(join(ROOT, file), 'utf8');
      expect(JSON.parse(text)).toEqual(schema);
      expect(text).toBe(schemaText(schema));
    },
  );

  it(`${AGENT_CONFIG_VALIDATOR_FILE} (the agent's precompiled validator) is exactly what \`npm run schemas\` writes`, () => {
    expect(readFileSync(join(ROOT, AGENT_CONFIG_VALIDATOR_FILE), 'utf8')).toBe(agentConfigValidatorText());
  });

  it('the committed mesh spec schema validates examples/local/mesh.yaml', () => {
    const validate = new Ajv({ allErrors: true, strict: true }).compile(
      JSON.parse(readFileSync(join(ROOT, 'schemas', 'mesh-spec.schema.json'), 'utf8')),
    );
    expect(validate(parseYaml(readFileSync(join(ROOT, 'examples', 'local', 'mesh.yaml'), 'utf8')))).toBe(true);
  });

  it('the committed schema (compiled by ajv on its own) validates examples/agent/gateway.yaml', () => {
    const ajv = new Ajv({ allErrors: true, strict: true });
    const validate = ajv.compile(JSON.parse(readFileSync(schemaFile, 'utf8')));
    const example = parseYaml(readFileSync(join(ROOT, 'examples', 'agent', 'gateway.yaml'), 'utf8'));
    const valid = validate(example);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it("the example passes the agent's own checks and follows its advice", () => {
    const config = parseAgentConfig(readFileSync(join(ROOT, 'examples', 'agent', 'gateway.yaml'), 'utf8'));
    expect(config.interface.mtu).toBe(1420);
    const natPeer = config.peers.find((peer) => peer.endpoint === undefined)!;
    expect(natPeer.persistentKeepalive).toBe(25);
    for (const peer of config.peers) {
      expect(peer.fullTunnel).toBeUndefined();
      for (const prefix of peer.allowedIps) expect(Number(prefix.split('/')[1])).toBeGreaterThanOrEqual(16);
    }
    expect(config.health?.requiredPeers).toEqual(['site-b']);
  });
});
