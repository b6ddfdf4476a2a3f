/**
 * Repeated full `set` requests of thousands of peers (what `wg setconf` sends) keep exactly the
 * configured peers alive and leave V8's young generation small: before, it stayed grown to its
 * maximum after each large request, and per-peer garbage on every idle tick grew it back (wiremesh-wg
 * settled at ~280 MB RSS for 10,000 peers; the
 * figures are in `npm run bench`, section Memory). Counts and sizes, not timings.
 */
import { getHeapSpaceStatistics } from 'node:v8';
import { WireGuardDevice } from '../../agent/core/device';
import { generatePrivateKey, randomBytes } from '../../agent/crypto/primitives';
import { parsePrefix } from '../../common/ip';
import { LARGE_CHANGE_PEERS } from '../../agent/wg/heap';
import { formatSetRequest, type ConfigChange } from '../../agent/wg/uapi';
import { answerRequest } from '../../agent/wg/uapi-server';

const PEERS = 3 * LARGE_CHANGE_PEERS;

function fullSet(): string {
  const change: ConfigChange = {
    replacePeers: true,
    peers: Array.from({ length: PEERS }, (_, i) => ({
      publicKey: randomBytes(32),
      remove: false,
      updateOnly: false,
      endpoint: `198.18.${(i >> 8) & 255}.${i & 255}:51820`,
      allowedIps: [
        { kind: 'add' as const, prefix: parsePrefix(`10.${(i >> 8) & 255}.${i & 255}.0/24`) },
        { kind: 'add' as const, prefix: parsePrefix(`fd00:${i.toString(16)}::/64`) },
      ],
    })),
  };
  return formatSetRequest(change).replace(/\n\n$/, '');
}

const newSpaceBytes = (): number =>
  getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')!.space_size;

it('keeps only the configured peers, and gives the young generation back, after each full set and while idle after it', async () => {
  const device = new WireGuardDevice({ outputs: { transmit: () => undefined, deliver: () => undefined } });
  device.setPrivateKey(generatePrivateKey());
  const target = {
    snapshot: () => {
      throw new Error('not asked');
    },
    apply(change: ConfigChange): void {
      if (change.replacePeers) device.removeAllPeers();
      for (const peerChange of change.peers) {
        const peer = device.addPeer(peerChange.publicKey)!;
        for (const allowed of peerChange.allowedIps)
          if (allowed.kind === 'add') device.allowedIps.insert(allowed.prefix, peer);
      }
    },
  };
  const errors: string[] = [];
  let firstPeers: WeakRef<object>[] = [];
  for (let round = 0; round < 3; round++) {
    expect(answerRequest(fullSet(), target, { error: (message) => errors.push(message) })).toBe('errno=0\n\n');
    expect(newSpaceBytes()).toBeLessThanOrEqual(4 * 1024 * 1024);
    if (round === 0) firstPeers = [...device.peers()].map((peer) => new WeakRef(peer));
    // WeakRef targets are held until the current job ends; the next request's collection can then free them.
    await new Promise((resolve) => setImmediate(resolve));
  }
  expect(errors).toEqual([]);
  expect([...device.peers()]).toHaveLength(PEERS);
  // The first configuration's peers, replaced twice since, are gone from the heap.
  expect(firstPeers.filter((ref) => ref.deref() !== undefined)).toHaveLength(0);
  // Idle ticks after the set: per-peer garbage on each of them (a generator per peer, copies of
  // the peer list) grew the young generation back to its maximum within seconds (wiremesh-wg
  // +15 MB over 10 s); a tick that allocates nothing per peer leaves it as the set left it.
  for (let tick = 0; tick < 600; tick++) device.tick(tick * 100);
  expect(newSpaceBytes()).toBeLessThanOrEqual(4 * 1024 * 1024);
});
