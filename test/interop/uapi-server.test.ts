/**
 * UAPI interop with real processes (docs/protocol.md 2 and 3): wiremesh-wg (the built bin) driven by
 * the real `wg` and `wg-quick`, and compared with wireguard-go given the same configuration. Every
 * interface lives in its own network namespace made by lab/netns.ts (names start with "ua"); addresses
 * are from 198.18.0.0/15 and IPv6 ULA, no namespace has a default route, and cleanup after each test
 * removes every namespace and process. Needs root, wg, wg-quick and wireguard-go: otherwise the suite
 * is skipped, except under CI=true, where it fails.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Lab, WIREMESH_WG, hasCommand, isRoot, type Implementation } from '../../lab/netns';

const SOCKET_DIRECTORY = '/var/run/wireguard';
const BUILT_CLI = join(__dirname, '..', '..', 'dist', 'agent', 'cli', 'wiremesh-wg.js');
/** A handshake initiation: the only thing either side can send when no peer ever answers. */
const INITIATION_BYTES = 148;

const missing = [
  ...(isRoot() ? [] : ['root']),
  ...['ip', 'wg', 'wg-quick', 'wireguard-go'].filter((command) => !hasCommand(command)),
];
const skipReason = missing.length > 0 ? `needs ${missing.join(', ')}` : '';

if (skipReason && process.env.CI === 'true') {
  describe('UAPI interop prerequisites', () => {
    test('root, ip, wg, wg-quick and wireguard-go are present (required under CI=true)', () => {
      throw new Error(`the UAPI interop suite cannot run: it ${skipReason}`);
    });
  });
}

const suite = skipReason ? describe.skip : describe;

// ---- helpers -------------------------------------------------------------------------------------

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `command` in `ns`; large outputs (showconf of 85k allowed IPs) are fine. */
function tryRun(
  ns: string,
  command: string,
  args: string[],
  options: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Run {
  const result = spawnSync('ip', ['netns', 'exec', ns, command, ...args], {
    encoding: 'utf8',
    input: options.input,
    env: options.env ?? process.env,
    timeout: 30_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function run(
  ns: string,
  command: string,
  args: string[],
  options: { input?: string; env?: NodeJS.ProcessEnv } = {},
): string {
  const result = tryRun(ns, command, args, options);
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} in ${ns} failed (${result.status}): ${result.stderr}${result.stdout}`,
    );
  }
  return result.stdout;
}

function wg(ns: string, ...args: string[]): string {
  return run(ns, 'wg', args);
}

function socketPath(iface: string): string {
  return `${SOCKET_DIRECTORY}/${iface}.sock`;
}

/** A random 32-byte key, base64 as in wg configuration files. */
function key(): string {
  return randomBytes(32).toString('base64');
}

function publicKeyOf(privateKey: string): string {
  return execFileSync('wg', ['pubkey'], { input: `${privateKey}\n`, encoding: 'utf8' }).trim();
}

function base64ToHex(text: string): string {
  return Buffer.from(text, 'base64').toString('hex');
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function namespacePids(ns: string): number[] {
  return execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
}

/** Gone, or a zombie nobody reaped yet (a daemon's parent is init, which may be slow to reap). */
function processGone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /s, '')
      .startsWith('Z');
  } catch {
    return true;
  }
}

function linkExists(ns: string, iface: string): boolean {
  return tryRun(ns, 'ip', ['link', 'show', 'dev', iface]).status === 0;
}

/**
 * Sends `requests` on one connection to the UAPI socket (wg uses one connection per operation; the
 * server must also serve several) and returns one answer per request.
 */
function uapi(iface: string, requests: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath(iface));
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`UAPI ${iface}: no complete answer after 5 s; got ${JSON.stringify(received.slice(0, 300))}`));
    }, 5000);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(requests.join('')));
    socket.on('data', (chunk: string) => {
      received += chunk;
      const answers = received.split('\n\n').slice(0, -1);
      if (answers.length >= requests.length) {
        clearTimeout(timer);
        socket.end();
        resolve(answers.map((answer) => `${answer}\n\n`));
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

async function uapiGet(iface: string): Promise<string> {
  const [answer] = await uapi(iface, ['get=1\n\n']);
  expect(answer).toMatch(/errno=0\n\n$/);
  return answer!;
}

interface DumpPeer {
  publicKey: string;
  presharedKey: string;
  endpoint: string;
  allowedIps: string[];
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  keepalive: string;
}

interface Dump {
  privateKey: string;
  publicKey: string;
  listenPort: number;
  fwmark: string;
  peers: DumpPeer[];
}

/** `wg show IFACE dump`: one interface line of 4 fields, then one line of 8 fields per peer. */
function dump(ns: string, iface: string): Dump {
  const rows = wg(ns, 'show', iface, 'dump')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split('\t'));
  const [head, ...peerRows] = rows;
  expect(head).toHaveLength(4);
  for (const row of peerRows) expect(row).toHaveLength(8);
  return {
    privateKey: head![0]!,
    publicKey: head![1]!,
    listenPort: Number(head![2]),
    fwmark: head![3]!,
    peers: peerRows
      .map((row) => ({
        publicKey: row[0]!,
        presharedKey: row[1]!,
        endpoint: row[2]!,
        // The order of allowed IPs carries no meaning (wireguard-go: insertion order; wiremesh: trie order).
        allowedIps: row[3] === '(none)' ? [] : row[3]!.split(',').sort(),
        latestHandshake: Number(row[4]),
        rxBytes: Number(row[5]),
        txBytes: Number(row[6]),
        keepalive: row[7]!,
      }))
      .sort((a, b) => a.publicKey.localeCompare(b.publicKey)),
  };
}

/**
 * The configuration part of a dump, in a form where equal means "same meaning". One spelling is
 * normalized: wiremesh sends to an IPv4-mapped endpoint from its IPv4 socket and shows it as IPv4
 * (agent/wg/endpoint.ts), wireguard-go keeps the mapped form; both reach the same address and port.
 */
function configuration(d: Dump, options: { randomPort?: boolean } = {}): unknown {
  return {
    privateKey: d.privateKey,
    publicKey: d.publicKey,
    listenPort: options.randomPort ? 'random' : d.listenPort,
    fwmark: d.fwmark,
    peers: d.peers.map((peer) => ({
      publicKey: peer.publicKey,
      presharedKey: peer.presharedKey,
      endpoint: peer.endpoint.replace(/^\[::ffff:(\d+\.\d+\.\d+\.\d+)\]:/i, '$1:'),
      allowedIps: peer.allowedIps,
      keepalive: peer.keepalive,
    })),
  };
}

/**
 * The traffic fields: no peer exists, so there can be no handshake and nothing received; what was
 * sent can only be handshake initiations, and how many depends on timing and routes. (The counts do
 * differ: wiremesh counts an initiation even when the kernel refused it for want of a route, and
 * sends while the link is down; wireguard-go counts only what was sent and sends only while up.)
 */
function expectNoSessionTraffic(d: Dump): void {
  for (const peer of d.peers) {
    expect(peer.latestHandshake).toBe(0);
    expect(peer.rxBytes).toBe(0);
    expect(peer.txBytes % INITIATION_BYTES).toBe(0);
  }
}

interface Device {
  ns: string;
  iface: string;
}

let lab: Lab;
let workDir: string;
let counter = 0;

async function startDevice(implementation: Implementation): Promise<Device> {
  const ns = lab.namespace('n');
  const iface = lab.name(implementation === 'wiremesh' ? 'm' : 'g');
  await lab.wireguard(ns, implementation, iface);
  return { ns, iface };
}

function configFile(text: string, name = `c${counter++}.conf`): string {
  const path = join(workDir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

function setconf(device: Device, text: string): void {
  wg(device.ns, 'setconf', device.iface, configFile(text));
}

function linkUp(device: Device): void {
  run(device.ns, 'ip', ['link', 'set', 'dev', device.iface, 'up']);
}

interface PeerConfig {
  publicKey: string;
  presharedKey?: string;
  endpoint?: string;
  keepalive?: number;
  allowedIps?: string[];
}

function configText(device: { privateKey: string; listenPort?: number; fwmark?: string }, peers: PeerConfig[]): string {
  const lines = ['[Interface]', `PrivateKey = ${device.privateKey}`];
  if (device.listenPort !== undefined) lines.push(`ListenPort = ${device.listenPort}`);
  if (device.fwmark !== undefined) lines.push(`FwMark = ${device.fwmark}`);
  for (const peer of peers) {
    lines.push('', '[Peer]', `PublicKey = ${peer.publicKey}`);
    if (peer.presharedKey) lines.push(`PresharedKey = ${peer.presharedKey}`);
    if (peer.endpoint) lines.push(`Endpoint = ${peer.endpoint}`);
    if (peer.keepalive !== undefined) lines.push(`PersistentKeepalive = ${peer.keepalive}`);
    if (peer.allowedIps?.length) lines.push(`AllowedIPs = ${peer.allowedIps.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Deliberately unclamped, so both implementations must clamp it the same way. */
function unclampedPrivateKey(): string {
  const bytes = randomBytes(32);
  bytes[0]! |= 7;
  bytes[31]! |= 0x80;
  bytes[31]! &= ~0x40;
  return bytes.toString('base64');
}

/** Everything at once: psk, v4/v6/mapped endpoints, keepalive, v4+v6 allowed IPs, moves, own key, /0. */
function fullConfig(): string {
  const privateKey = unclampedPrivateKey();
  return configText({ privateKey, listenPort: 51820, fwmark: '0x5ca1' }, [
    {
      publicKey: key(),
      presharedKey: key(),
      endpoint: '198.19.1.1:51820',
      keepalive: 25,
      allowedIps: [
        '198.18.10.0/24',
        '198.18.11.5/32',
        '198.18.12.7/24',
        'fd00:10::/64',
        'fd00:11::1/128',
        'fd00:12::7/48',
      ],
    },
    // takes 198.18.10.0/24 from the peer above, as a later owner does in both implementations
    {
      publicKey: key(),
      endpoint: '[fd00:99::1]:4242',
      keepalive: 65535,
      allowedIps: ['198.18.20.0/24', '198.18.10.0/24'],
    },
    { publicKey: key(), presharedKey: key(), endpoint: '[::ffff:198.19.3.3]:3' },
    // our own public key: ignored by both
    { publicKey: publicKeyOf(privateKey), allowedIps: ['198.18.30.0/24'] },
    { publicKey: key(), allowedIps: ['0.0.0.0/0', '::/0'] },
  ]);
}

/** No preshared keys, endpoints, keepalives or listen port. */
function plainConfig(): string {
  return configText({ privateKey: key() }, [
    { publicKey: key(), allowedIps: ['198.18.40.0/24', '198.18.41.0/25', 'fd00:40::/56'] },
    { publicKey: key(), allowedIps: ['198.18.42.1/32', 'fd00:42::1/128', 'fd00:43::/32'] },
    { publicKey: key() },
  ]);
}

suite(
  `UAPI interop: wiremesh-wg with wg, wg-quick and wireguard-go${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    jest.setTimeout(30_000);

    beforeAll(() => {
      if (!existsSync(BUILT_CLI)) throw new Error(`${BUILT_CLI} is missing: run \`npm run build\` first`);
      workDir = mkdtempSync(join(tmpdir(), 'ua-uapi-'));
      lab = new Lab('ua');
    });

    afterEach(async () => {
      await lab.cleanup();
    });

    afterAll(async () => {
      await lab?.cleanup();
      if (workDir) rmSync(workDir, { recursive: true, force: true });
    });

    // ---- a ---------------------------------------------------------------------------------------

    describe('wg show dump matches wireguard-go for the same configuration', () => {
      test.each([
        ['with preshared keys, endpoints, keepalive, several v4+v6 allowed IPs', fullConfig, false],
        ['without preshared keys, endpoints, keepalive or listen port', plainConfig, true],
      ])('%s', async (_name, makeConfig, randomPort) => {
        const config = makeConfig();
        const [mine, theirs] = await Promise.all([startDevice('wiremesh'), startDevice('wireguard-go')]);
        for (const device of [mine, theirs]) {
          setconf(device, config); // as wg-quick: configuration first, then the link comes up
          linkUp(device);
        }
        const ours = dump(mine.ns, mine.iface);
        const reference = dump(theirs.ns, theirs.iface);
        expect(ours.peers).toHaveLength(reference.peers.length);
        expect(configuration(ours, { randomPort })).toEqual(configuration(reference, { randomPort }));
        // the interface's own key-dependent fields are the same because the private key is
        if (randomPort) {
          expect(ours.listenPort).toBeGreaterThan(0);
          expect(reference.listenPort).toBeGreaterThan(0);
        }
        expectNoSessionTraffic(ours);
        expectNoSessionTraffic(reference);
        // spot checks of the meanings themselves
        expect(ours.privateKey).not.toBe('(none)');
        expect(ours.publicKey).toBe(publicKeyOf(ours.privateKey));
        expect(Buffer.from(ours.privateKey, 'base64')[0]! & 7).toBe(0); // clamped
        if (!randomPort) {
          expect(ours.listenPort).toBe(51820);
          expect(ours.fwmark).toBe('0x5ca1');
          expect(ours.peers).toHaveLength(4); // the own-key peer was ignored
          expect(ours.peers.flatMap((peer) => peer.allowedIps).filter((ip) => ip === '198.18.10.0/24')).toHaveLength(1);
          expect(ours.peers.flatMap((peer) => peer.allowedIps)).toContain('198.18.12.0/24'); // host bits masked
        } else {
          expect(ours.fwmark).toBe('off');
          for (const peer of ours.peers) {
            expect(peer.presharedKey).toBe('(none)');
            expect(peer.endpoint).toBe('(none)');
            expect(peer.keepalive).toBe('off');
          }
        }
      });
    });

    // ---- b ---------------------------------------------------------------------------------------

    describe('wg showconf round-trips through wg setconf', () => {
      test('showconf -> setconf into a fresh wiremesh-wg -> the same showconf', async () => {
        const [first, second] = await Promise.all([startDevice('wiremesh'), startDevice('wiremesh')]);
        setconf(first, fullConfig());
        const shown = wg(first.ns, 'showconf', first.iface);
        expect(shown).toMatch(/^\[Interface\]\nListenPort = 51820\nFwMark = 0x5ca1\nPrivateKey = /);
        setconf(second, shown);
        expect(wg(second.ns, 'showconf', second.iface)).toBe(shown);
        expect(configuration(dump(second.ns, second.iface))).toEqual(configuration(dump(first.ns, first.iface)));
      });

      test('showconf -> setconf into the same interface changes nothing, also when its port was random', async () => {
        const [fixed, random] = await Promise.all([startDevice('wiremesh'), startDevice('wiremesh')]);
        setconf(fixed, fullConfig());
        setconf(random, plainConfig());
        for (const device of [fixed, random]) {
          const shown = wg(device.ns, 'showconf', device.iface);
          setconf(device, shown);
          expect(wg(device.ns, 'showconf', device.iface)).toBe(shown);
          // and `wg set listen-port <the port it has>` is a no-op, as in the kernel and wireguard-go
          const port = wg(device.ns, 'show', device.iface, 'listen-port').trim();
          wg(device.ns, 'set', device.iface, 'listen-port', port);
          expect(wg(device.ns, 'show', device.iface, 'listen-port').trim()).toBe(port);
        }
      });
    });

    // ---- c ---------------------------------------------------------------------------------------

    test('tens of thousands of allowed IPs round-trip through setconf and showconf', async () => {
      const big: PeerConfig = { publicKey: key(), allowedIps: [] };
      for (let i = 0; i < 65281; i++) big.allowedIps!.push(`198.18.${i >> 8}.${i & 255}/32`);
      const spread: PeerConfig[] = [];
      for (let p = 0; p < 40; p++) {
        const peer: PeerConfig = { publicKey: key(), allowedIps: [] };
        for (let i = 0; i < 500; i++)
          peer.allowedIps!.push(`fd00:${(p + 1).toString(16)}::${(i + 1).toString(16)}/128`);
        spread.push(peer);
      }
      const peers = [big, ...spread];
      const [first, second] = await Promise.all([startDevice('wiremesh'), startDevice('wiremesh')]);
      setconf(first, configText({ privateKey: key(), listenPort: 51821 }, peers));

      const got = dump(first.ns, first.iface);
      expect(got.peers).toHaveLength(peers.length);
      const byKey = new Map(got.peers.map((peer) => [peer.publicKey, peer]));
      for (const peer of peers) expect(byKey.get(peer.publicKey)?.allowedIps).toEqual([...peer.allowedIps!].sort());
      expect(got.peers.reduce((sum, peer) => sum + peer.allowedIps.length, 0)).toBe(65281 + 40 * 500);

      const shown = wg(first.ns, 'showconf', first.iface);
      setconf(second, shown);
      expect(wg(second.ns, 'showconf', second.iface)).toBe(shown);
    }, 60_000);

    // ---- d ---------------------------------------------------------------------------------------

    describe('wg set and wg syncconf', () => {
      test('the same sequence of wg set / syncconf leaves both implementations in the same state', async () => {
        const privateKey = key();
        const [a, b, c, d, e] = [key(), key(), key(), key(), key()];
        const psk = configFile(`${key()}\n`, 'psk.key');
        const privateKeyFile = configFile(`${privateKey}\n`, 'private.key');
        const base = configText({ privateKey, listenPort: 51822 }, [
          { publicKey: a, allowedIps: ['198.18.1.0/24', 'fd00:1::/64'] },
          { publicKey: b, endpoint: '198.19.2.2:2', allowedIps: ['198.18.2.0/24', '198.18.3.0/24'] },
          { publicKey: c, presharedKey: key(), allowedIps: ['198.18.4.0/24'] },
        ]);
        const sync = configFile(
          configText({ privateKey, listenPort: 51822 }, [
            { publicKey: a, allowedIps: ['198.18.60.0/24'] },
            { publicKey: e, endpoint: '[fd00:5::5]:5', allowedIps: ['198.18.5.0/24', 'fd00:5::/64'] },
          ]),
        );
        const steps: Array<[string, string[]]> = [
          ['allowed-ips replacement', ['set', '%', 'peer', a, 'allowed-ips', '198.18.50.0/24,fd00:50::/64']],
          [
            'a new peer takes an allowed IP from another',
            ['set', '%', 'peer', d, 'endpoint', '198.19.4.4:4444', 'allowed-ips', '198.18.2.0/24'],
          ],
          ['remove', ['set', '%', 'peer', b, 'remove']],
          [
            'preshared key, endpoint, keepalive',
            ['set', '%', 'peer', c, 'preshared-key', psk, 'endpoint', '[fd00::3]:3', 'persistent-keepalive', '7'],
          ],
          [
            'keepalive off, preshared key cleared',
            ['set', '%', 'peer', c, 'persistent-keepalive', 'off', 'preshared-key', '/dev/null'],
          ],
          ['empty allowed IPs', ['set', '%', 'peer', d, 'allowed-ips', '']],
          ['listen port and fwmark', ['set', '%', 'listen-port', '51823', 'fwmark', '0x42']],
          ['fwmark off', ['set', '%', 'fwmark', 'off']],
          ['private key removed', ['set', '%', 'private-key', '/dev/null']],
          ['private key back', ['set', '%', 'private-key', privateKeyFile]],
          ['syncconf adds and removes peers without replace', ['syncconf', '%', sync]],
        ];
        const [mine, theirs] = await Promise.all([startDevice('wiremesh'), startDevice('wireguard-go')]);
        for (const device of [mine, theirs]) {
          setconf(device, base);
          linkUp(device);
        }
        expect(configuration(dump(mine.ns, mine.iface))).toEqual(configuration(dump(theirs.ns, theirs.iface)));
        for (const [name, args] of steps) {
          for (const device of [mine, theirs]) wg(device.ns, ...args.map((arg) => (arg === '%' ? device.iface : arg)));
          const ours = dump(mine.ns, mine.iface);
          const reference = dump(theirs.ns, theirs.iface);
          try {
            expect(configuration(ours)).toEqual(configuration(reference));
          } catch (error) {
            throw new Error(`after "${name}": ${(error as Error).message}`);
          }
          expectNoSessionTraffic(ours);
        }
        const final = dump(mine.ns, mine.iface);
        expect(final.listenPort).toBe(51822);
        expect(final.fwmark).toBe('off');
        expect(final.peers.map((peer) => peer.publicKey).sort()).toEqual([a, e].sort());
        expect(final.peers.find((peer) => peer.publicKey === a)!.allowedIps).toEqual(['198.18.60.0/24']);
      });

      test('UAPI allowed_ip=-ip/cidr removal, replace_allowed_ips and update_only', async () => {
        const device = await startDevice('wiremesh');
        const [a, b] = [key(), key()];
        setconf(
          device,
          configText({ privateKey: key() }, [
            { publicKey: a, allowedIps: ['198.18.1.0/24', '198.18.2.0/24', 'fd00:1::/64', 'fd00:2::/64'] },
          ]),
        );
        const [removal, missingPeer, update, replace] = await uapi(device.iface, [
          `set=1\npublic_key=${base64ToHex(a)}\nallowed_ip=-198.18.1.0/24\nallowed_ip=-fd00:2::/64\nallowed_ip=-198.18.99.0/24\n\n`,
          `set=1\npublic_key=${base64ToHex(b)}\nupdate_only=true\nallowed_ip=198.18.3.0/24\n\n`,
          `set=1\npublic_key=${base64ToHex(a)}\nupdate_only=true\npersistent_keepalive_interval=9\n\n`,
          `set=1\npublic_key=${base64ToHex(a)}\nallowed_ip=198.18.7.0/24\n\n`,
        ]);
        expect([removal, missingPeer, update, replace]).toEqual(Array(4).fill('errno=0\n\n'));
        let state = dump(device.ns, device.iface);
        expect(state.peers).toHaveLength(1); // update_only did not create b
        expect(state.peers[0]!.allowedIps).toEqual(['198.18.2.0/24', '198.18.7.0/24', 'fd00:1::/64']);
        expect(state.peers[0]!.keepalive).toBe('9');

        const [replaced] = await uapi(device.iface, [
          `set=1\npublic_key=${base64ToHex(a)}\nreplace_allowed_ips=true\nallowed_ip=198.18.8.0/24\n\n`,
        ]);
        expect(replaced).toBe('errno=0\n\n');
        state = dump(device.ns, device.iface);
        expect(state.peers[0]!.allowedIps).toEqual(['198.18.8.0/24']);
      });
    });

    // ---- e ---------------------------------------------------------------------------------------

    describe('refused requests change nothing', () => {
      test('bad raw UAPI requests get errno=-22 and leave the device as it was', async () => {
        const device = await startDevice('wiremesh');
        const [a, other] = [key(), key()];
        setconf(
          device,
          configText({ privateKey: key(), listenPort: 51824 }, [
            { publicKey: a, presharedKey: key(), allowedIps: ['198.18.1.0/24', 'fd00:1::/64'] },
          ]),
        );
        const before = await uapiGet(device.iface);
        const a16 = base64ToHex(a);
        const o16 = base64ToHex(other);
        const bad = [
          `set=1\nlisten_port=4000\npublic_key=${o16}\nallowed_ip=198.18.0.0/33\n\n`,
          `set=1\nreplace_peers=true\nprivate_key=zzzz\n\n`,
          `set=1\nreplace_peers=true\npublic_key=${o16}\nallowed_ip=198.18.9.0/24\nbogus=1\n\n`,
          `set=1\npublic_key=${a16}\nremove=true\nprotocol_version=2\n\n`,
          `set=1\npublic_key=${a16}\nreplace_allowed_ips=true\nendpoint=198.18.0.1\n\n`,
          `set=1\nfwmark=1\nlisten_port=65536\n\n`,
          `set=1\npublic_key=${a16}\npersistent_keepalive_interval=70000\n\n`,
          `set=1\npublic_key=${a16}\nlisten_port=1\n\n`,
          `get=1\nlisten_port=1\n\n`,
          `frob=1\n\n`,
        ];
        const answers = await uapi(device.iface, [...bad, 'get=1\n\n']);
        expect(answers.slice(0, bad.length)).toEqual(Array(bad.length).fill('errno=-22\n\n'));
        // the same connection still serves, and nothing changed
        expect(answers[bad.length]).toBe(before);
        expect(await uapiGet(device.iface)).toBe(before);
      });

      test('wg set listen-port <port in use> fails with "Address already in use" and changes nothing', async () => {
        const device = await startDevice('wiremesh');
        setconf(
          device,
          configText({ privateKey: key(), listenPort: 51825 }, [{ publicKey: key(), allowedIps: ['198.18.1.0/24'] }]),
        );
        const before = await uapiGet(device.iface);
        // IPv4 and (v6-only) IPv6 sockets holding two ports in the same namespace
        const holder = lab.spawn(device.ns, process.execPath, [
          '-e',
          `
        const dgram = require('node:dgram');
        let bound = 0;
        const ready = () => { if (++bound === 2) console.log('ready'); };
        dgram.createSocket('udp4').bind(41001, ready);
        dgram.createSocket({ type: 'udp6', ipv6Only: true }).bind(41002, ready);
      `,
        ]);
        let output = '';
        holder.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
        await waitFor(() => output.includes('ready') || holder.exitCode !== null, 10_000, 'the port holder');
        expect(output).toContain('ready');

        for (const port of ['41001', '41002']) {
          const result = tryRun(device.ns, 'wg', ['set', device.iface, 'listen-port', port]);
          expect(result.status).not.toBe(0);
          expect(result.stderr).toContain('Address already in use');
          expect(await uapiGet(device.iface)).toBe(before);
        }
        // a whole setconf on a port in use is refused too: its peers are not applied
        const refused = tryRun(device.ns, 'wg', [
          'setconf',
          device.iface,
          configFile(
            configText({ privateKey: key(), listenPort: 41001 }, [{ publicKey: key(), allowedIps: ['198.18.2.0/24'] }]),
          ),
        ]);
        expect(refused.status).not.toBe(0);
        expect(refused.stderr).toContain('Address already in use');
        expect(await uapiGet(device.iface)).toBe(before);
      });
    });

    // ---- f ---------------------------------------------------------------------------------------

    describe('lifecycle of the daemon (started without -f)', () => {
      const created: string[] = [];

      afterEach(() => {
        for (const iface of created.splice(0)) if (existsSync(socketPath(iface))) unlinkSync(socketPath(iface));
      });

      /** `wiremesh-wg IFACE` returns at once, and the socket already answers: wg setconf right after works. */
      function daemon(): { ns: string; iface: string; pid: number } {
        const ns = lab.namespace('d');
        const iface = lab.name('w');
        created.push(iface);
        execFileSync('ip', ['netns', 'exec', ns, process.execPath, WIREMESH_WG, iface], {
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: 15_000,
        });
        wg(
          ns,
          'setconf',
          iface,
          configFile(configText({ privateKey: key() }, [{ publicKey: key(), allowedIps: ['198.18.1.0/24'] }])),
        );
        expect(dump(ns, iface).peers).toHaveLength(1);
        const pids = namespacePids(ns);
        expect(pids).toHaveLength(1);
        expect(readFileSync(`/proc/${pids[0]}/cmdline`, 'utf8').split('\0')).toContain(iface);
        expect(readlinkSync(`/proc/${pids[0]}/exe`)).toBe(readlinkSync('/proc/self/exe'));
        return { ns, iface, pid: pids[0]! };
      }

      async function expectGone(device: { ns: string; iface: string; pid: number }): Promise<void> {
        await waitFor(() => processGone(device.pid), 5000, `wiremesh-wg ${device.iface} (pid ${device.pid}) to exit`);
        expect(existsSync(socketPath(device.iface))).toBe(false);
        expect(namespacePids(device.ns)).toEqual([]);
        expect(linkExists(device.ns, device.iface)).toBe(false);
      }

      test('exits on SIGTERM', async () => {
        const device = daemon();
        process.kill(device.pid, 'SIGTERM');
        await expectGone(device);
      });

      test('exits when the interface is deleted (ip link delete)', async () => {
        const device = daemon();
        run(device.ns, 'ip', ['link', 'delete', 'dev', device.iface]);
        await expectGone(device);
      });

      test('exits when the UAPI socket file is deleted', async () => {
        const device = daemon();
        unlinkSync(socketPath(device.iface));
        await expectGone(device);
      });
    });

    // ---- g ---------------------------------------------------------------------------------------

    test('wg-quick up/down falls back to wiremesh-wg as the userspace implementation', async () => {
      const ns = lab.namespace('q');
      const iface = lab.name('q');
      const privateKey = key();
      const peer = key();
      const file = configFile(
        [
          '[Interface]',
          'Address = 198.18.77.1/24, fd00:77::1/64',
          'ListenPort = 51826',
          `PrivateKey = ${privateKey}`,
          'MTU = 1380',
          '',
          '[Peer]',
          `PublicKey = ${peer}`,
          'AllowedIPs = 198.19.77.0/24, 198.19.78.5/32',
          'Endpoint = 198.18.78.2:51820',
          '',
        ].join('\n'),
        `${iface}.conf`,
      );
      const env = {
        ...process.env,
        PATH: `${dirname(process.execPath)}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
        WG_QUICK_USERSPACE_IMPLEMENTATION: WIREMESH_WG,
      };
      try {
        const up = tryRun(ns, 'wg-quick', ['up', file], { env });
        expect({ status: up.status, stderr: up.stderr }).toMatchObject({ status: 0 });
        expect(up.stderr).toContain('Falling back to slow userspace implementation');

        const pids = namespacePids(ns);
        expect(pids).toHaveLength(1);
        expect(readFileSync(`/proc/${pids[0]}/cmdline`, 'utf8').split('\0')).toEqual(
          expect.arrayContaining([WIREMESH_WG, iface]),
        );
        // wg-quick prepends its own directory to PATH (linux.bash: export PATH="${SELF%/*}:$PATH"), so the
        // bin's `#!/usr/bin/env node` finds a node installed next to wg-quick (/usr/bin/node) before the
        // one we put first: the daemon is *a* node, not necessarily process.execPath.
        expect(basename(readlinkSync(`/proc/${pids[0]}/exe`))).toMatch(/^node/);
        expect(existsSync(socketPath(iface))).toBe(true);

        const state = dump(ns, iface);
        expect(state.publicKey).toBe(publicKeyOf(privateKey));
        expect(state.listenPort).toBe(51826);
        expect(state.peers).toEqual([
          expect.objectContaining({
            publicKey: peer,
            endpoint: '198.18.78.2:51820',
            allowedIps: ['198.19.77.0/24', '198.19.78.5/32'],
            keepalive: 'off',
          }),
        ]);
        expect(wg(ns, 'show', iface)).toContain(`peer: ${peer}`);

        const link = run(ns, 'ip', ['-o', 'link', 'show', 'dev', iface]);
        expect(link).toMatch(/\bmtu 1380\b/);
        expect(link).toMatch(/[<,]UP[,>]/);
        const addresses = run(ns, 'ip', ['-o', 'addr', 'show', 'dev', iface]);
        expect(addresses).toContain('inet 198.18.77.1/24');
        expect(addresses).toContain('inet6 fd00:77::1/64');
        const routes = run(ns, 'ip', ['-4', 'route', 'show', 'dev', iface]);
        expect(routes).toContain('198.19.77.0/24');
        expect(routes).toContain('198.19.78.5');
        expect(run(ns, 'ip', ['-4', 'route', 'show', 'default'])).toBe('');

        const down = tryRun(ns, 'wg-quick', ['down', file], { env });
        expect({ status: down.status, stderr: down.stderr }).toMatchObject({ status: 0 });
        await waitFor(() => pids.every(processGone), 5000, 'wiremesh-wg to exit after wg-quick down');
        expect(namespacePids(ns)).toEqual([]);
        expect(existsSync(socketPath(iface))).toBe(false);
        expect(linkExists(ns, iface)).toBe(false);
      } finally {
        if (existsSync(socketPath(iface))) unlinkSync(socketPath(iface));
      }
    });
  },
);
