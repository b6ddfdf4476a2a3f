/**
 * The userspace data plane lowers V8's optimization thresholds (agent/wg/tiering.ts) on the first
 * tunnel traffic, and not before: an idle interface stays at the start-up thresholds, so the
 * optimizing compilers are not paged in for nothing (bench/memory.ts counts what that saves). The
 * kernel's own IPv6 chatter on a new interface (router solicitations, MLD reports), which the TUN
 * delivers for no peer, is not tunnel traffic. wiremesh-wg says when it tiers up in its verbose log.
 */
import { execFileSync } from 'node:child_process';
import { Lab } from '../../lab/netns';
import { describeWithRoot } from '../support/root-only';

jest.setTimeout(60_000);

const TIER_UP_LINE = 'tunnel traffic: V8 optimizes the data plane early';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function genkey(): { privateKey: string; publicKey: string } {
  const privateKey = execFileSync('wg', ['genkey'], { encoding: 'utf8' }).trim();
  const publicKey = execFileSync('wg', ['pubkey'], { input: privateKey, encoding: 'utf8' }).trim();
  return { privateKey, publicKey };
}

describeWithRoot('the tier-up test', ['wg', 'wireguard-go', 'ping'])('early V8 tier-up of wiremesh-wg', () => {
  const lab = new Lab(`tu${process.pid % 10000}`);
  afterAll(() => lab.cleanup());

  it('waits for tunnel traffic: the kernel IPv6 chatter on the TUN does not count, the first ping does', async () => {
    const ours = { ns: lab.namespace('a'), iface: lab.name('wm'), ...genkey() };
    const theirs = { ns: lab.namespace('b'), iface: lab.name('wg'), ...genkey() };
    lab.link(ours.ns, theirs.ns, { a: ['198.18.93.1/24'], b: ['198.18.93.2/24'] });
    const child = await lab.wireguard(ours.ns, 'wiremesh', ours.iface, { LOG_LEVEL: 'verbose' });
    let log = '';
    child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    await lab.wireguard(theirs.ns, 'wireguard-go', theirs.iface);
    for (const [self, other, host] of [
      [ours, theirs, 1],
      [theirs, ours, 2],
    ] as const) {
      lab.wgConfig(
        self.ns,
        'setconf',
        self.iface,
        `[Interface]\nPrivateKey = ${self.privateKey}\nListenPort = 51820\n\n` +
          `[Peer]\nPublicKey = ${other.publicKey}\nAllowedIPs = 198.19.93.${3 - host}/32\n` +
          (self === ours ? 'Endpoint = 198.18.93.2:51820\n' : ''),
      );
      lab.addAddress(self.ns, self.iface, `198.19.93.${host}/24`);
      lab.addAddress(self.ns, self.iface, `fd19:93::${host}/64`);
      lab.run(self.ns, 'ip', ['link', 'set', self.iface, 'up']);
    }

    // The kernel writes to the new interface (its TX counter) for no peer: still no tier-up.
    const kernelPackets = (): number =>
      Number(JSON.parse(lab.run(ours.ns, 'ip', ['-s', '-j', 'link', 'show', ours.iface]))[0].stats64.tx.packets);
    for (let waited = 0; kernelPackets() === 0 && waited < 5000; waited += 100) await sleep(100);
    expect(kernelPackets()).toBeGreaterThan(0);
    await sleep(500);
    expect(log).toContain('listening on UDP port 51820');
    expect(log).not.toContain(TIER_UP_LINE);

    lab.run(ours.ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', '198.19.93.2']);
    for (let waited = 0; !log.includes(TIER_UP_LINE) && waited < 2000; waited += 100) await sleep(100);
    expect(log.split(TIER_UP_LINE).length - 1).toBe(1);
  });
});
