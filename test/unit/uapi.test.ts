/**
 * The UAPI text protocol (docs/protocol.md 2.2 and 2.3): parsing set requests, formatting get answers,
 * and answerRequest's errno handling, without sockets or root.
 */
import fc from 'fast-check';
import { formatPrefix, parsePrefix } from '../../common/ip';
import {
  Errno,
  UapiError,
  formatGetResponse,
  formatSetRequest,
  parseGetResponse,
  parseSetRequest,
  type ConfigChange,
  type DeviceSnapshot,
  type PeerChange,
} from '../../agent/wg/uapi';
import { answerRequest, type UapiTarget } from '../../agent/wg/uapi-server';

const KEY_A = 'a'.repeat(64);
const KEY_B = '0123456789abcdef'.repeat(4);
const KEY_C = 'fedcba9876543210'.repeat(4);
const ZERO_KEY = '0'.repeat(64);

function hex(buffer: Buffer | null | undefined): string | null | undefined {
  return buffer === undefined ? undefined : buffer === null ? null : buffer.toString('hex');
}

function refused(lines: string[]): UapiError {
  let caught: unknown;
  try {
    parseSetRequest(lines);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(UapiError);
  return caught as UapiError;
}

describe('parseSetRequest: device keys', () => {
  test('an empty request changes nothing', () => {
    expect(parseSetRequest([])).toEqual({ replacePeers: false, peers: [] });
  });

  test('private_key, listen_port, fwmark and replace_peers', () => {
    const change = parseSetRequest([
      `private_key=${KEY_B}`,
      'listen_port=51820',
      'fwmark=4294967295',
      'replace_peers=true',
    ]);
    expect(hex(change.privateKey)).toBe(KEY_B);
    expect(change.listenPort).toBe(51820);
    expect(change.fwmark).toBe(0xffffffff);
    expect(change.replacePeers).toBe(true);
    expect(change.peers).toEqual([]);
  });

  test('uppercase hex is accepted, as wireguard-go does', () => {
    expect(hex(parseSetRequest([`private_key=${KEY_B.toUpperCase()}`]).privateKey)).toBe(KEY_B);
  });

  test('an all-zero private key removes the key; absent keys stay undefined', () => {
    const change = parseSetRequest([`private_key=${ZERO_KEY}`]);
    expect(change.privateKey).toBeNull();
    expect(change.listenPort).toBeUndefined();
    expect(change.fwmark).toBeUndefined();
  });

  test('what `wg setconf` always sends is accepted: listen_port=0 and fwmark=0', () => {
    const change = parseSetRequest([`private_key=${KEY_B}`, 'listen_port=0', 'fwmark=0', 'replace_peers=true']);
    expect(change.listenPort).toBe(0);
    expect(change.fwmark).toBe(0);
  });

  test('listen_port boundaries', () => {
    expect(parseSetRequest(['listen_port=65535']).listenPort).toBe(65535);
    expect(parseSetRequest(['listen_port=1']).listenPort).toBe(1);
  });

  test('a value containing "=" is split at the first "="', () => {
    expect(refused(['listen_port=1=2']).errno).toBe(Errno.EINVAL);
  });
});

describe('parseSetRequest: peer keys', () => {
  test('every peer key', () => {
    const change = parseSetRequest([
      `public_key=${KEY_A}`,
      'protocol_version=1',
      `preshared_key=${KEY_C}`,
      'endpoint=198.18.0.1:51820',
      'persistent_keepalive_interval=25',
      'replace_allowed_ips=true',
      'allowed_ip=198.18.1.0/24',
      'allowed_ip=fd00:1::/64',
      'allowed_ip=-198.18.2.0/24',
      'allowed_ip=-fd00:2::1/128',
    ]);
    expect(change.replacePeers).toBe(false);
    expect(change.peers).toHaveLength(1);
    const peer = change.peers[0]!;
    expect(hex(peer.publicKey)).toBe(KEY_A);
    expect(peer.remove).toBe(false);
    expect(peer.updateOnly).toBe(false);
    expect(hex(peer.presharedKey)).toBe(KEY_C);
    expect(peer.endpoint).toBe('198.18.0.1:51820');
    expect(peer.persistentKeepaliveInterval).toBe(25);
    expect(peer.allowedIps.map((a) => (a.kind === 'clear' ? 'clear' : `${a.kind} ${formatPrefix(a.prefix)}`))).toEqual([
      'clear',
      'add 198.18.1.0/24',
      'add fd00:1::/64',
      'remove 198.18.2.0/24',
      'remove fd00:2::1/128',
    ]);
  });

  test('allowed_ip host bits are masked off, and a bare address is a host prefix', () => {
    const peer = parseSetRequest([
      `public_key=${KEY_A}`,
      'allowed_ip=198.18.7.9/24',
      'allowed_ip=fd00::5',
      'allowed_ip=-198.18.8.1/16',
    ]).peers[0]!;
    expect(peer.allowedIps.map((a) => (a.kind === 'clear' ? 'clear' : `${a.kind} ${formatPrefix(a.prefix)}`))).toEqual([
      'add 198.18.7.0/24',
      'add fd00::5/128',
      'remove 198.18.0.0/16',
    ]);
  });

  test('an all-zero preshared key clears it; an absent one stays undefined', () => {
    const [cleared, untouched] = parseSetRequest([
      `public_key=${KEY_A}`,
      `preshared_key=${ZERO_KEY}`,
      `public_key=${KEY_B}`,
    ]).peers;
    expect(cleared!.presharedKey).toBeNull();
    expect(untouched!.presharedKey).toBeUndefined();
    expect(untouched!.endpoint).toBeUndefined();
    expect(untouched!.persistentKeepaliveInterval).toBeUndefined();
    expect(untouched!.allowedIps).toEqual([]);
  });

  test('remove and update_only', () => {
    const [removed, updated] = parseSetRequest([
      `public_key=${KEY_A}`,
      'remove=true',
      `public_key=${KEY_B}`,
      'update_only=true',
      'persistent_keepalive_interval=0',
    ]).peers;
    expect(removed!.remove).toBe(true);
    expect(removed!.updateOnly).toBe(false);
    expect(updated!.remove).toBe(false);
    expect(updated!.updateOnly).toBe(true);
    expect(updated!.persistentKeepaliveInterval).toBe(0);
  });

  test('endpoints: IPv4, IPv6 in brackets, an IPv6 zone (xplatform example)', () => {
    const peers = parseSetRequest([
      `public_key=${KEY_A}`,
      'endpoint=198.18.0.1:1',
      `public_key=${KEY_B}`,
      'endpoint=[fd00::1]:65535',
      `public_key=${KEY_C}`,
      'endpoint=[abcd:23::33%2]:51820',
    ]).peers;
    expect(peers.map((p) => p.endpoint)).toEqual(['198.18.0.1:1', '[fd00::1]:65535', '[abcd:23::33%2]:51820']);
  });

  test('several peers, each opened by public_key, keep their order', () => {
    const change = parseSetRequest([
      'replace_peers=true',
      `public_key=${KEY_A}`,
      'allowed_ip=198.18.1.0/24',
      `public_key=${KEY_B}`,
      'replace_allowed_ips=true',
      'allowed_ip=198.18.2.0/24',
    ]);
    expect(change.peers.map((p) => hex(p.publicKey))).toEqual([KEY_A, KEY_B]);
    expect(change.peers[0]!.allowedIps).toHaveLength(1);
    expect(change.peers[1]!.allowedIps.map((a) => a.kind)).toEqual(['clear', 'add']);
  });

  test('tens of thousands of allowed IPs in one peer parse without trouble (netns.sh)', () => {
    const lines = [`public_key=${KEY_A}`, 'replace_allowed_ips=true'];
    for (let i = 0; i < 65281; i++) lines.push(`allowed_ip=198.18.${i >> 8}.${i & 255}/32`);
    const peer = parseSetRequest(lines).peers[0]!;
    expect(peer.allowedIps).toHaveLength(65282);
  });
});

describe('parseSetRequest: invalid values are EINVAL and refuse the whole request', () => {
  const device: Array<[string, string]> = [
    ['private_key', 'xyz'],
    ['private_key', KEY_A.slice(1)],
    ['private_key', `${KEY_A}0`],
    ['private_key', 'qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq='], // base64, not hex
    ['private_key', ''],
    ['listen_port', '65536'],
    ['listen_port', '-1'],
    ['listen_port', 'abc'],
    ['listen_port', ''],
    ['listen_port', ' 1'],
    ['listen_port', '1.5'],
    ['listen_port', '0x10'],
    ['fwmark', '4294967296'],
    ['fwmark', '0x1234'],
    ['fwmark', '-1'],
    ['fwmark', ''],
    ['replace_peers', 'false'],
    ['replace_peers', 'TRUE'],
    ['replace_peers', ''],
    ['endpoint', '198.18.0.1:1'], // a peer key before any public_key
    ['allowed_ip', '198.18.0.0/24'],
    ['protocol_version', '1'],
    ['remove', 'true'],
    ['nonsense', '1'],
  ];
  const peer: Array<[string, string]> = [
    ['public_key', 'xyz'],
    ['public_key', KEY_A.slice(2)],
    ['preshared_key', 'nothex'],
    ['preshared_key', `${KEY_A}00`],
    ['endpoint', '198.18.0.1'],
    ['endpoint', '198.18.0.1:0'],
    ['endpoint', '198.18.0.1:65536'],
    ['endpoint', 'example.com:51820'],
    ['endpoint', 'fd00::1:51820'],
    ['endpoint', '[fd00::1]'],
    ['endpoint', '[198.18.0.1]:51820'],
    ['endpoint', ''],
    ['persistent_keepalive_interval', '65536'],
    ['persistent_keepalive_interval', '-1'],
    ['persistent_keepalive_interval', 'x'],
    ['replace_allowed_ips', 'false'],
    ['allowed_ip', '198.18.0.0/33'],
    ['allowed_ip', 'fd00::/129'],
    ['allowed_ip', '198.18.0.0/-1'],
    ['allowed_ip', '198.18.0.0/'],
    ['allowed_ip', 'nope'],
    ['allowed_ip', '-'],
    ['allowed_ip', '--198.18.0.0/24'],
    ['allowed_ip', ''],
    ['allowed_ip', 'fe80::1%eth0/64'],
    ['remove', 'false'],
    ['remove', ''],
    ['update_only', 'false'],
    ['protocol_version', '2'],
    ['protocol_version', '0'],
    ['protocol_version', ''],
    ['listen_port', '51820'], // device keys are not accepted once a peer is open (wireguard-go)
    ['private_key', KEY_B],
    ['fwmark', '0'],
    ['replace_peers', 'true'],
    ['nonsense', '1'],
  ];
  const validDevicePrefix = [`private_key=${KEY_B}`, 'listen_port=51820', 'fwmark=0', 'replace_peers=true'];
  const validPeerPrefix = [
    ...validDevicePrefix,
    `public_key=${KEY_A}`,
    'endpoint=198.18.0.1:51820',
    'allowed_ip=198.18.1.0/24',
  ];
  const validSuffix = [`public_key=${KEY_C}`, 'allowed_ip=198.18.3.0/24'];

  test.each(device)('device %s=%j', (key, value) => {
    const error = refused([...validDevicePrefix, `${key}=${value}`, ...validSuffix]);
    expect(error.errno).toBe(-22);
    expect(error.errno).toBe(Errno.EINVAL);
  });

  test.each(peer)('peer %s=%j', (key, value) => {
    expect(refused([...validPeerPrefix, `${key}=${value}`, ...validSuffix]).errno).toBe(-22);
  });

  test.each(['nonsense', '=value', '=', ''])('malformed line %j', (line) => {
    expect(refused([...validPeerPrefix, line]).errno).toBe(-22);
    expect(refused([line, ...validPeerPrefix]).errno).toBe(-22);
  });

  test('errno is exported with the signs wg expects on set', () => {
    expect(Errno).toEqual({ EIO: -5, EINVAL: -22, EPROTO: -71, EADDRINUSE: -98 });
  });
});

function samplePeer(overrides: Partial<DeviceSnapshot['peers'][number]> = {}): DeviceSnapshot['peers'][number] {
  return {
    publicKey: Buffer.from(KEY_A, 'hex'),
    presharedKey: null,
    endpoint: null,
    lastHandshakeUnixMs: 0,
    txBytes: 0,
    rxBytes: 0,
    persistentKeepaliveInterval: 0,
    allowedIps: [],
    ...overrides,
  };
}

function keysOf(response: string): string[] {
  return response
    .split('\n')
    .filter(Boolean)
    .map((line) => line.slice(0, line.indexOf('=')));
}

describe('formatGetResponse', () => {
  const snapshot: DeviceSnapshot = {
    privateKey: Buffer.from(KEY_B, 'hex'),
    listenPort: 51820,
    fwmark: 0x1234,
    peers: [
      samplePeer({
        presharedKey: Buffer.from(KEY_C, 'hex'),
        endpoint: '198.18.0.1:51820',
        lastHandshakeUnixMs: 1_700_000_000_250,
        txBytes: 148,
        rxBytes: 92,
        persistentKeepaliveInterval: 25,
        allowedIps: [parsePrefix('198.18.1.0/24'), parsePrefix('fd00:1::/64')],
      }),
      samplePeer({ publicKey: Buffer.from(KEY_C, 'hex') }),
    ],
  };

  test("wireguard-go's order: interface keys before the first public_key, then per-peer order", () => {
    const response = formatGetResponse(snapshot);
    expect(response.endsWith('errno=0\n\n')).toBe(true);
    expect(response.split('\n\n')).toHaveLength(2);
    const peerKeys = [
      'public_key',
      'preshared_key',
      'protocol_version',
      'endpoint',
      'last_handshake_time_sec',
      'last_handshake_time_nsec',
      'tx_bytes',
      'rx_bytes',
      'persistent_keepalive_interval',
    ];
    expect(keysOf(response)).toEqual([
      'private_key',
      'listen_port',
      'fwmark',
      ...peerKeys,
      'allowed_ip',
      'allowed_ip',
      ...peerKeys.filter((k) => k !== 'endpoint'),
      'errno',
    ]);
    expect(response).toBe(
      [
        `private_key=${KEY_B}`,
        'listen_port=51820',
        'fwmark=4660',
        `public_key=${KEY_A}`,
        `preshared_key=${KEY_C}`,
        'protocol_version=1',
        'endpoint=198.18.0.1:51820',
        'last_handshake_time_sec=1700000000',
        'last_handshake_time_nsec=250000000',
        'tx_bytes=148',
        'rx_bytes=92',
        'persistent_keepalive_interval=25',
        'allowed_ip=198.18.1.0/24',
        'allowed_ip=fd00:1::/64',
        `public_key=${KEY_C}`,
        `preshared_key=${ZERO_KEY}`,
        'protocol_version=1',
        'last_handshake_time_sec=0',
        'last_handshake_time_nsec=0',
        'tx_bytes=0',
        'rx_bytes=0',
        'persistent_keepalive_interval=0',
        'errno=0',
        '',
        '',
      ].join('\n'),
    );
  });

  test('an unset private key, port 0 and fwmark 0 are omitted', () => {
    expect(formatGetResponse({ privateKey: null, listenPort: 0, fwmark: 0, peers: [] })).toBe('errno=0\n\n');
    expect(keysOf(formatGetResponse({ privateKey: null, listenPort: 0, fwmark: 0, peers: [samplePeer()] }))[0]).toBe(
      'public_key',
    );
  });

  test('last_handshake_time_nsec is always 0..999999999', () => {
    for (const ms of [1_999.999_999_9, 1_700_000_000_999.999_9, 1_700_000_000_000.000_1, 0.000_000_1]) {
      const response = formatGetResponse({
        privateKey: null,
        listenPort: 0,
        fwmark: 0,
        peers: [samplePeer({ lastHandshakeUnixMs: ms })],
      });
      const sec = Number(/last_handshake_time_sec=(\d+)/.exec(response)![1]);
      const nsec = Number(/last_handshake_time_nsec=(\d+)/.exec(response)![1]);
      expect(nsec).toBeGreaterThanOrEqual(0);
      expect(nsec).toBeLessThan(1e9);
      expect(Math.abs(sec * 1000 + nsec / 1e6 - ms)).toBeLessThan(1e-3);
    }
  });
});

describe('parseGetResponse', () => {
  test('reads what formatGetResponse writes', () => {
    const snapshot: DeviceSnapshot = {
      privateKey: Buffer.from(KEY_B, 'hex'),
      listenPort: 1,
      fwmark: 0xffffffff,
      peers: [
        samplePeer({
          presharedKey: Buffer.from(KEY_C, 'hex'),
          endpoint: '[fd00::1]:51820',
          lastHandshakeUnixMs: 1_700_000_000_250,
          txBytes: 2 ** 40,
          rxBytes: 7,
          persistentKeepaliveInterval: 65535,
          allowedIps: [parsePrefix('0.0.0.0/0'), parsePrefix('::/0'), parsePrefix('198.18.0.1/32')],
        }),
        samplePeer({ publicKey: Buffer.from(KEY_C, 'hex') }),
      ],
    };
    expect(parseGetResponse(formatGetResponse(snapshot))).toEqual(snapshot);
  });

  test("reads wireguard-go's answer and ignores unknown keys (boringtun's own_public_key)", () => {
    const answer = [
      `private_key=${KEY_B}`,
      'listen_port=40000',
      `own_public_key=${KEY_C}`,
      `public_key=${KEY_A}`,
      `preshared_key=${ZERO_KEY}`,
      'protocol_version=1',
      'endpoint=198.18.0.2:1',
      'last_handshake_time_sec=5',
      'last_handshake_time_nsec=500000000',
      'tx_bytes=1',
      'rx_bytes=2',
      'persistent_keepalive_interval=0',
      'allowed_ip=198.18.0.0/15',
      'errno=0',
      '',
      '',
    ].join('\n');
    const parsed = parseGetResponse(answer);
    expect(parsed.listenPort).toBe(40000);
    expect(parsed.fwmark).toBe(0);
    expect(parsed.peers).toHaveLength(1);
    expect(parsed.peers[0]!.presharedKey).toBeNull();
    expect(parsed.peers[0]!.lastHandshakeUnixMs).toBe(5500);
    expect(parsed.peers[0]!.allowedIps.map(formatPrefix)).toEqual(['198.18.0.0/15']);
  });

  test("reads wiremesh-wg's drop counters (device keys that wg skips), and writes them before the peers", () => {
    const snapshot: DeviceSnapshot = {
      privateKey: null,
      listenPort: 51820,
      fwmark: 0,
      drops: { 'invalid-mac1': 2, 'unknown-type': 5 },
      peers: [samplePeer({})],
    };
    const text = formatGetResponse(snapshot);
    expect(text.indexOf('wiremesh_drops_invalid-mac1=2\nwiremesh_drops_unknown-type=5\n')).toBeLessThan(
      text.indexOf('public_key='),
    );
    expect(parseGetResponse(text)).toEqual(snapshot);
    // A peer's section cannot hold device counters.
    expect(parseGetResponse(`public_key=${KEY_A}\nwiremesh_drops_invalid-mac1=2\nerrno=0\n\n`).drops).toBeUndefined();
  });

  test('a failed get and a missing errno line are errors with negative errno', () => {
    expect(() => parseGetResponse('errno=5\n\n')).toThrow(UapiError);
    try {
      parseGetResponse('errno=98\n\n');
    } catch (error) {
      expect((error as UapiError).errno).toBe(-98);
    }
    try {
      parseGetResponse('listen_port=1\n');
    } catch (error) {
      expect((error as UapiError).errno).toBe(Errno.EPROTO);
    }
    expect.assertions(3);
  });
});

// ---- round trips -------------------------------------------------------------------------------

const keyArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => Buffer.from(bytes));
const prefixArb = fc.oneof(
  fc
    .tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 32 }))
    .map(([bytes, bits]) => parsePrefix(`${[...bytes].join('.')}/${bits}`)),
  fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 128 })).map(([bytes, bits]) =>
    parsePrefix(
      `${Buffer.from(bytes)
        .toString('hex')
        .replace(/(.{4})(?!$)/g, '$1:')}/${bits}`,
    ),
  ),
);
const endpointArb = fc.oneof(
  fc.tuple(fc.ipV4(), fc.integer({ min: 1, max: 65535 })).map(([ip, port]) => `${ip}:${port}`),
  fc.tuple(fc.ipV6(), fc.integer({ min: 1, max: 65535 })).map(([ip, port]) => `[${ip}]:${port}`),
);
const peerChangeArb: fc.Arbitrary<PeerChange> = fc.oneof(
  keyArb.map((publicKey) => ({ publicKey, remove: true, updateOnly: false, allowedIps: [] })),
  fc.record(
    {
      publicKey: keyArb,
      remove: fc.constant(false),
      updateOnly: fc.boolean(),
      presharedKey: fc.option(
        fc.oneof(
          keyArb.filter((k) => k.some((b) => b !== 0)),
          fc.constant(null),
        ),
        { nil: undefined },
      ),
      endpoint: fc.option(endpointArb, { nil: undefined }),
      persistentKeepaliveInterval: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
      allowedIps: fc.array(
        fc.oneof(
          fc.constant({ kind: 'clear' as const }),
          fc.record({ kind: fc.constantFrom('add' as const, 'remove' as const), prefix: prefixArb }),
        ),
        { maxLength: 6 },
      ),
    },
    { requiredKeys: ['publicKey', 'remove', 'updateOnly', 'allowedIps'] },
  ),
);
const changeArb: fc.Arbitrary<ConfigChange> = fc.record(
  {
    privateKey: fc.option(
      fc.oneof(
        keyArb.filter((k) => k.some((b) => b !== 0)),
        fc.constant(null),
      ),
      { nil: undefined },
    ),
    listenPort: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
    fwmark: fc.option(fc.integer({ min: 0, max: 0xffffffff }), { nil: undefined }),
    replacePeers: fc.boolean(),
    peers: fc.array(peerChangeArb, { maxLength: 4 }),
  },
  { requiredKeys: ['replacePeers', 'peers'] },
);

/** The request body as the server hands it to parseSetRequest: without `set=1` and the blank line. */
function bodyLines(request: string): string[] {
  expect(request.startsWith('set=1\n')).toBe(true);
  expect(request.endsWith('\n\n')).toBe(true);
  const body = request.slice('set=1\n'.length, -2);
  return body === '' ? [] : body.split('\n');
}

function normalized(change: ConfigChange): unknown {
  return JSON.parse(
    JSON.stringify(change, (_key, value) => {
      if (value && typeof value === 'object' && value.type === 'Buffer') return Buffer.from(value.data).toString('hex');
      if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
      return value;
    }),
  );
}

describe('round trips', () => {
  test('formatSetRequest -> parseSetRequest gives the same change', () => {
    fc.assert(
      fc.property(changeArb, (change) => {
        const parsed = parseSetRequest(bodyLines(formatSetRequest(change)));
        expect(normalized(parsed)).toEqual(normalized(change));
      }),
      { numRuns: 300 },
    );
  });

  test('formatGetResponse -> parseGetResponse gives the same snapshot', () => {
    const snapshotArb: fc.Arbitrary<DeviceSnapshot> = fc.record({
      privateKey: fc.option(
        keyArb.filter((k) => k.some((b) => b !== 0)),
        { nil: null },
      ),
      listenPort: fc.integer({ min: 0, max: 65535 }),
      fwmark: fc.integer({ min: 0, max: 0xffffffff }),
      peers: fc.array(
        fc.record({
          publicKey: keyArb,
          presharedKey: fc.option(
            keyArb.filter((k) => k.some((b) => b !== 0)),
            { nil: null },
          ),
          endpoint: fc.option(endpointArb, { nil: null }),
          lastHandshakeUnixMs: fc.integer({ min: 0, max: 4_000_000_000_000 }),
          txBytes: fc.maxSafeNat(),
          rxBytes: fc.maxSafeNat(),
          persistentKeepaliveInterval: fc.integer({ min: 0, max: 65535 }),
          allowedIps: fc.array(prefixArb, { maxLength: 5 }),
        }),
        { maxLength: 4 },
      ),
    });
    fc.assert(
      fc.property(snapshotArb, (snapshot) => {
        expect(normalized(parseGetResponse(formatGetResponse(snapshot)) as unknown as ConfigChange)).toEqual(
          normalized(snapshot as unknown as ConfigChange),
        );
      }),
      { numRuns: 300 },
    );
  });

  test('a get answer turned into a set request reproduces the configuration', () => {
    const snapshot: DeviceSnapshot = {
      privateKey: Buffer.from(KEY_B, 'hex'),
      listenPort: 51820,
      fwmark: 7,
      peers: [
        samplePeer({
          endpoint: '198.18.0.1:9',
          persistentKeepaliveInterval: 5,
          allowedIps: [parsePrefix('198.18.4.0/22')],
        }),
      ],
    };
    const parsed = parseGetResponse(formatGetResponse(snapshot));
    const change = parseSetRequest(
      bodyLines(
        formatSetRequest({
          privateKey: parsed.privateKey,
          listenPort: parsed.listenPort,
          fwmark: parsed.fwmark,
          replacePeers: true,
          peers: parsed.peers.map((p) => ({
            publicKey: p.publicKey,
            remove: false,
            updateOnly: false,
            presharedKey: p.presharedKey,
            endpoint: p.endpoint ?? undefined,
            persistentKeepaliveInterval: p.persistentKeepaliveInterval,
            allowedIps: [
              { kind: 'clear' as const },
              ...p.allowedIps.map((prefix) => ({ kind: 'add' as const, prefix })),
            ],
          })),
        }),
      ),
    );
    expect(hex(change.privateKey)).toBe(KEY_B);
    expect(change.listenPort).toBe(51820);
    expect(change.fwmark).toBe(7);
    expect(change.peers[0]!.endpoint).toBe('198.18.0.1:9');
    expect(change.peers[0]!.allowedIps.map((a) => (a.kind === 'add' ? formatPrefix(a.prefix) : a.kind))).toEqual([
      'clear',
      '198.18.4.0/22',
    ]);
  });
});

// ---- answerRequest ------------------------------------------------------------------------------

class FakeTarget implements UapiTarget {
  readonly applied: ConfigChange[] = [];
  failure: Error | null = null;
  constructor(readonly state: DeviceSnapshot) {}

  snapshot(): DeviceSnapshot {
    return this.state;
  }

  apply(change: ConfigChange): void {
    if (this.failure) throw this.failure;
    this.applied.push(change);
  }
}

function fakeLog(): { error: jest.Mock; messages: string[] } {
  const messages: string[] = [];
  return { messages, error: jest.fn((message: string) => void messages.push(message)) };
}

describe('answerRequest', () => {
  const state: DeviceSnapshot = {
    privateKey: Buffer.from(KEY_B, 'hex'),
    listenPort: 51820,
    fwmark: 0,
    peers: [samplePeer({ allowedIps: [parsePrefix('198.18.1.0/24')] })],
  };

  test('get answers with the formatted snapshot', () => {
    const target = new FakeTarget(state);
    const log = fakeLog();
    expect(answerRequest('get=1', target, log)).toBe(formatGetResponse(state));
    expect(target.applied).toEqual([]);
    expect(log.error).not.toHaveBeenCalled();
  });

  test('get with arguments is EINVAL', () => {
    const log = fakeLog();
    expect(answerRequest('get=1\nlisten_port=1', new FakeTarget(state), log)).toBe('errno=-22\n\n');
    expect(log.error).toHaveBeenCalledTimes(1);
  });

  test('set applies the parsed change and answers errno=0', () => {
    const target = new FakeTarget(state);
    const log = fakeLog();
    const answer = answerRequest(`set=1\nlisten_port=4242\npublic_key=${KEY_C}\nallowed_ip=198.18.9.0/24`, target, log);
    expect(answer).toBe('errno=0\n\n');
    expect(target.applied).toHaveLength(1);
    expect(target.applied[0]!.listenPort).toBe(4242);
    expect(hex(target.applied[0]!.peers[0]!.publicKey)).toBe(KEY_C);
    expect(log.error).not.toHaveBeenCalled();
  });

  test('an empty set is applied as a change that changes nothing', () => {
    const target = new FakeTarget(state);
    expect(answerRequest('set=1', target, fakeLog())).toBe('errno=0\n\n');
    expect(target.applied).toEqual([{ replacePeers: false, peers: [] }]);
  });

  test.each([
    'listen_port=70000',
    `public_key=${KEY_C}\nallowed_ip=198.18.0.0/40`,
    `public_key=${KEY_C}\nendpoint=nowhere`,
    `private_key=${KEY_B}\nreplace_peers=true\npublic_key=${KEY_C}\nallowed_ip=198.18.1.0/24\nbogus=1`,
  ])('an invalid set is errno=-22 and apply is never called: %j', (body) => {
    const target = new FakeTarget(state);
    const log = fakeLog();
    expect(answerRequest(`set=1\n${body}`, target, log)).toBe('errno=-22\n\n');
    expect(target.applied).toEqual([]);
    expect(log.error).toHaveBeenCalledTimes(1);
  });

  test('an apply failure is answered with its errno (EADDRINUSE), other errors with EIO', () => {
    const target = new FakeTarget(state);
    target.failure = new UapiError(Errno.EADDRINUSE, 'port in use');
    expect(answerRequest('set=1\nlisten_port=1', target, fakeLog())).toBe('errno=-98\n\n');
    target.failure = new Error('unexpected');
    expect(answerRequest('set=1\nlisten_port=1', target, fakeLog())).toBe('errno=-5\n\n');
  });

  test('a get whose snapshot fails is answered with an errno, not a partial answer', () => {
    const target = new FakeTarget(state);
    target.snapshot = () => {
      throw new Error('boom');
    };
    expect(answerRequest('get=1', target, fakeLog())).toMatch(/^errno=-?\d+\n\n$/);
  });

  test.each(['frob=1', 'get=2', 'set=true', 'GET=1', '', 'get', 'set'])(
    'unknown operation %j is errno=-22',
    (request) => {
      const target = new FakeTarget(state);
      const log = fakeLog();
      expect(answerRequest(`${request}\nlisten_port=1`, target, log)).toBe('errno=-22\n\n');
      expect(answerRequest(request, target, log)).toBe('errno=-22\n\n');
      expect(target.applied).toEqual([]);
    },
  );
});
