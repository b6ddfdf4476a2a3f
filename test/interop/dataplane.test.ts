/**
 * wiremesh-wg against wireguard-go (Debian's, which we did not write), against a current upstream
 * wireguard-go (batched I/O, UDP GSO/GRO and TUN offloads; when WIREGUARD_GO_MODERN or
 * ../shared/anchors/wireguard-go-modern exists) and against itself, in network namespaces: ping and a
 * checksummed 100 MB transfer for each side as initiator and as responder, IPv4 and IPv6 outside and
 * inside, with and without a preshared key; roaming; cryptokey routing. wiremesh-wg runs with its
 * offloads (TUN vnet_hdr, UDP GSO/GRO) as by default, and once more on the plain path
 * (WIREMESH_OFFLOADS=0); setting WIREMESH_OFFLOADS=0 for the whole run puts every test on it.
 * WIREMESH_THREADS=N for the whole run sets wiremesh-wg's data-plane threads (default: one per CPU, up to 4,
 * the send threads started only under load).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../agent/package-root';
import { Lab, modernWireguardGo, type Implementation } from '../../lab/netns';
import { describeWithRoot } from '../support/root-only';

const TRANSFER = join(packageRoot(), 'dist', 'lab', 'transfer.js');
const TRANSFER_BYTES = 100 * 1024 * 1024;
const describeInterop = describeWithRoot('interop tests', ['wg', 'wireguard-go']);

jest.setTimeout(180_000);

interface Side {
  ns: string;
  iface: string;
  implementation: Implementation;
  outer: { v4: string; v6: string };
  inner: { v4: string; v6: string };
  privateKey: string;
  publicKey: string;
}

interface Tunnel {
  initiator: Side;
  responder: Side;
  veth: { initiator: string; responder: string };
}

function genkey(): { privateKey: string; publicKey: string } {
  const privateKey = execFileSync('wg', ['genkey'], { encoding: 'utf8' }).trim();
  const publicKey = execFileSync('wg', ['pubkey'], { input: privateKey, encoding: 'utf8' }).trim();
  return { privateKey, publicKey };
}

let subnet = 30;

/**
 * Two namespaces joined by a veth, a WireGuard interface in each; only the initiator knows the
 * other's endpoint, so the responder learns it from the handshake.
 */
async function tunnel(
  lab: Lab,
  implementations: { initiator: Implementation; responder: Implementation },
  options: { outer: 4 | 6; presharedKey: boolean; env?: NodeJS.ProcessEnv },
): Promise<Tunnel> {
  const n = subnet++;
  const make = (role: 'i' | 'r', implementation: Implementation, host: number): Side => ({
    ns: lab.namespace(role),
    iface: lab.name(`w${role}`),
    implementation,
    outer: { v4: `198.18.${n}.${host}`, v6: `fd18:${n}::${host}` },
    inner: { v4: `198.19.${n}.${host}`, v6: `fd19:${n}::${host}` },
    ...genkey(),
  });
  const initiator = make('i', implementations.initiator, 1);
  const responder = make('r', implementations.responder, 2);
  const { deviceA, deviceB } = lab.link(initiator.ns, responder.ns, {
    a: [`${initiator.outer.v4}/24`, `${initiator.outer.v6}/64`],
    b: [`${responder.outer.v4}/24`, `${responder.outer.v6}/64`],
  });
  const psk = options.presharedKey ? execFileSync('wg', ['genpsk'], { encoding: 'utf8' }).trim() : null;
  for (const [self, other] of [
    [initiator, responder],
    [responder, initiator],
  ] as const) {
    await lab.wireguard(self.ns, self.implementation, self.iface, options.env);
    const endpoint =
      self === initiator ? `Endpoint = ${options.outer === 4 ? other.outer.v4 : `[${other.outer.v6}]`}:51820\n` : '';
    const config =
      `[Interface]\nPrivateKey = ${self.privateKey}\nListenPort = 51820\n\n` +
      `[Peer]\nPublicKey = ${other.publicKey}\n${psk ? `PresharedKey = ${psk}\n` : ''}` +
      `AllowedIPs = ${other.inner.v4}/32, ${other.inner.v6}/128\n${endpoint}`;
    lab.wgConfig(self.ns, 'setconf', self.iface, config);
    lab.addAddress(self.ns, self.iface, `${self.inner.v4}/24`);
    lab.addAddress(self.ns, self.iface, `${self.inner.v6}/64`);
    lab.run(self.ns, 'ip', ['link', 'set', self.iface, 'up']);
  }
  return { initiator, responder, veth: { initiator: deviceA, responder: deviceB } };
}

function ping(lab: Lab, from: Side, address: string, count = 3): boolean {
  try {
    lab.run(from.ns, 'ping', ['-c', String(count), '-i', '0.2', '-W', '2', address]);
    return true;
  } catch {
    return false;
  }
}

/** Sends TRANSFER_BYTES from `from` to `to` over the tunnel; resolves with both ends' digests. */
async function transfer(lab: Lab, from: Side, to: Side, address: string, duringTransfer?: () => void) {
  const port = '5001';
  const server = lab.spawn(to.ns, process.execPath, [TRANSFER, 'serve', port]);
  let received = '';
  await new Promise<void>((resolve, reject) => {
    server.stdout!.on('data', (chunk: Buffer) => {
      received += chunk.toString();
      if (received.includes('ready')) resolve();
    });
    server.once('exit', () => reject(new Error('transfer server exited early')));
  });
  const sending = lab.runAsync(from.ns, process.execPath, [TRANSFER, 'send', address, port, String(TRANSFER_BYTES)]);
  if (duringTransfer) setTimeout(duringTransfer, 300);
  const sent = JSON.parse((await sending).stdout) as { bytes: number; sha256: string };
  await new Promise((resolve) => (server.exitCode === null ? server.once('exit', resolve) : resolve(null)));
  const result = JSON.parse(received.split('\n').find((line) => line.startsWith('{'))!) as {
    bytes: number;
    sha256: string;
  };
  return { sent, received: result };
}

type Pair = { initiator: Implementation; responder: Implementation };
const PAIRS: Pair[] = [
  { initiator: 'wiremesh', responder: 'wireguard-go' },
  { initiator: 'wireguard-go', responder: 'wiremesh' },
  { initiator: 'wiremesh', responder: 'wiremesh' },
];
const MODERN_PAIRS: Pair[] = [
  { initiator: 'wiremesh', responder: 'wireguard-go-modern' },
  { initiator: 'wireguard-go-modern', responder: 'wiremesh' },
];
const VARIANTS = [
  { outer: 4 as const, inner: 4 as const, presharedKey: false },
  { outer: 6 as const, inner: 6 as const, presharedKey: true },
];
const PLAIN = { WIREMESH_OFFLOADS: '0' };
const modern = modernWireguardGo();
if (!modern) {
  console.log(
    'wireguard-go-modern not found (WIREGUARD_GO_MODERN or ../shared/anchors/wireguard-go-modern): its interop tests are skipped',
  );
}
const itModern = modern ? it : it.skip;

describeInterop('wiremesh-wg data plane interop (namespaces)', () => {
  const lab = new Lab('dp');
  afterEach(() => lab.cleanup());

  const cases: { pair: Pair; env?: NodeJS.ProcessEnv; mode: string; test: typeof it }[] = [
    ...PAIRS.map((pair) => ({ pair, mode: '', test: it })),
    ...MODERN_PAIRS.map((pair) => ({ pair, mode: '', test: itModern })),
    // The plain path (no vnet_hdr, no GSO/GRO) against both wireguard-go builds.
    ...[PAIRS[0]!, PAIRS[1]!].map((pair) => ({ pair, env: PLAIN, mode: ' (wiremesh-wg on the plain path)', test: it })),
    ...MODERN_PAIRS.map((pair) => ({ pair, env: PLAIN, mode: ' (wiremesh-wg on the plain path)', test: itModern })),
  ];
  for (const { pair, env, mode, test } of cases) {
    for (const variant of VARIANTS) {
      const label =
        `${pair.initiator} initiates to ${pair.responder}, outer IPv${variant.outer}, inner IPv${variant.inner}, ` +
        `${variant.presharedKey ? 'with' : 'without'} preshared key${mode}`;
      test(`${label}: ping both families and a checksummed 100 MB transfer`, async () => {
        const t = await tunnel(lab, pair, { ...variant, env });
        expect(ping(lab, t.initiator, t.responder.inner.v4)).toBe(true);
        expect(ping(lab, t.initiator, t.responder.inner.v6)).toBe(true);
        expect(ping(lab, t.responder, t.initiator.inner.v4)).toBe(true);
        const target = variant.inner === 4 ? t.responder.inner.v4 : t.responder.inner.v6;
        const { sent, received } = await transfer(lab, t.initiator, t.responder, target);
        expect(received.bytes).toBe(TRANSFER_BYTES);
        expect(received.sha256).toBe(sent.sha256);
      });
    }
  }

  for (const pair of PAIRS.slice(0, 2)) {
    it(`roaming: the ${pair.initiator} initiator moves to a new address mid-transfer and the ${pair.responder} side follows`, async () => {
      const t = await tunnel(lab, pair, { outer: 4, presharedKey: false });
      expect(ping(lab, t.initiator, t.responder.inner.v4)).toBe(true);
      const endpoints = (): string => lab.wg(t.responder.ns, ['show', t.responder.iface, 'endpoints']);
      expect(endpoints()).toContain(`${t.initiator.outer.v4}:51820`);
      const moved = t.initiator.outer.v4.replace(/\.1$/, '.11');
      lab.run(t.initiator.ns, 'sysctl', ['-qw', `net.ipv4.conf.${t.veth.initiator}.promote_secondaries=1`]);
      const { sent, received } = await transfer(lab, t.initiator, t.responder, t.responder.inner.v4, () => {
        lab.addAddress(t.initiator.ns, t.veth.initiator, `${moved}/24`);
        lab.run(t.initiator.ns, 'ip', ['addr', 'del', `${t.initiator.outer.v4}/24`, 'dev', t.veth.initiator]);
      });
      expect(received.sha256).toBe(sent.sha256);
      expect(received.bytes).toBe(TRANSFER_BYTES);
      expect(endpoints()).toContain(`${moved}:51820`);
    });
  }

  // With threads > 1 the send path runs in worker threads (agent/wg/send-threads.ts): the counters
  // `wg` shows must still add up, checked against wireguard-go's own count of what it received.
  // By default the threads start only once the transfer loads the send path: pings do not.
  for (const threads of [1, 2, 'default'] as const) {
    it(`threads=${threads}: wg shows the handshake and transfer counters that match wireguard-go's`, async () => {
      const logFile = join(mkdtempSync(join(tmpdir(), 'wiremesh-threads-')), 'wiremesh-wg.log');
      const env = {
        WIREMESH_THREADS: threads === 'default' ? '' : String(threads),
        LOG_LEVEL: 'verbose',
        WG_LOG_FILE: logFile,
      };
      const t = await tunnel(
        lab,
        { initiator: 'wiremesh', responder: 'wireguard-go' },
        { outer: 4, presharedKey: false, env },
      );
      if (threads === 'default') {
        expect(ping(lab, t.initiator, t.responder.inner.v4)).toBe(true);
        expect(readFileSync(logFile, 'utf8')).not.toContain('send thread');
      }
      const { sent, received } = await transfer(lab, t.initiator, t.responder, t.responder.inner.v4);
      expect(received.sha256).toBe(sent.sha256);
      const counters = (side: Side): { rx: number; tx: number } => {
        const [, rx, tx] = lab.wg(side.ns, ['show', side.iface, 'transfer']).trim().split('\t');
        return { rx: Number(rx), tx: Number(tx) };
      };
      const ours = counters(t.initiator);
      const theirs = counters(t.responder);
      // Each side received what the other sent, less datagrams lost to full socket buffers (which
      // TCP then sent again), and at least the payload.
      expect(theirs.rx).toBeGreaterThan(TRANSFER_BYTES);
      expect(theirs.rx).toBeLessThanOrEqual(ours.tx);
      expect(ours.rx).toBeLessThanOrEqual(theirs.tx);
      expect(ours.rx).toBeGreaterThan(theirs.tx * 0.9);
      const [, handshake] = lab.wg(t.initiator.ns, ['show', t.initiator.iface, 'latest-handshakes']).trim().split('\t');
      expect(Math.abs(Number(handshake) - Date.now() / 1000)).toBeLessThan(120);
      const log = readFileSync(logFile, 'utf8');
      const workers = threads === 'default' ? Math.min(availableParallelism(), 4) - 1 : threads - 1;
      if (workers > 0) expect(log).toContain(`data plane: ${workers} send thread`);
      else expect(log).not.toContain('send thread');
      if (threads === 'default' && workers > 0) expect(log).toContain('data plane: send threads started under load');
    });
  }

  it('sticky source: on a multi-homed responder, replies leave from the address the initiator used', async () => {
    const t = await tunnel(
      lab,
      { initiator: 'wireguard-go', responder: 'wiremesh' },
      { outer: 4, presharedKey: false },
    );
    // A second address on the responder; the initiator is told to use it.
    const second = t.responder.outer.v4.replace(/\.2$/, '.12');
    lab.addAddress(t.responder.ns, t.veth.responder, `${second}/24`);
    lab.wg(t.initiator.ns, ['set', t.initiator.iface, 'peer', t.responder.publicKey, 'endpoint', `${second}:51820`]);
    expect(ping(lab, t.initiator, t.responder.inner.v4, 5)).toBe(true);
    // Had the replies come from the primary address, the initiator would have roamed to it.
    expect(lab.wg(t.initiator.ns, ['show', t.initiator.iface, 'endpoints'])).toContain(`${second}:51820`);
  });

  it("cryptokey routing: a packet whose inner source is outside the peer's allowed IPs is dropped", async () => {
    const t = await tunnel(
      lab,
      { initiator: 'wireguard-go', responder: 'wiremesh' },
      { outer: 4, presharedKey: false },
    );
    expect(ping(lab, t.initiator, t.responder.inner.v4)).toBe(true);
    // Packets wiremesh-wg delivers show up as received on its TUN interface.
    const delivered = (): number =>
      Number(lab.run(t.responder.ns, 'cat', [`/sys/class/net/${t.responder.iface}/statistics/rx_packets`]));
    const outside = t.initiator.inner.v4.replace(/\.1$/, '.99');
    lab.addAddress(t.initiator.ns, t.initiator.iface, `${outside}/32`);
    const before = delivered();
    // wireguard-go encrypts these (the destination is allowed); wiremesh-wg must drop them after decryption.
    try {
      lab.run(t.initiator.ns, 'ping', ['-c', '5', '-i', '0.1', '-W', '1', '-I', outside, t.responder.inner.v4]);
    } catch {
      // no replies expected
    }
    expect(delivered()).toBe(before);
    expect(ping(lab, t.initiator, t.responder.inner.v4, 5)).toBe(true);
    expect(delivered()).toBeGreaterThanOrEqual(before + 5);
  });
});
