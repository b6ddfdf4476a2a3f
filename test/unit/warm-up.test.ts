/**
 * The data-plane warm-up (agent/wg/warm-up.ts): two never-started devices on the stand-in I/O
 * complete a handshake and carry the rehearsal packets both ways through the real shell and the
 * real native AEAD, with nothing dropped, no descriptor touched and the throwaway keys gone after.
 */
import { nativeAddonAvailable } from '../../agent/native-addon';
import { TunOffload, UdpOffload, nativeIo, type NativeIo } from '../../agent/wg/native';
import { UserspaceDevice } from '../../agent/wg/userspace-device';
import { WARM_UP_ROUND_TRIPS, rehearse, warmUpWanted } from '../../agent/wg/warm-up';
import type { DeviceSnapshot } from '../../agent/wg/uapi';

const describeNative = nativeAddonAvailable() || process.env.CI === 'true' ? describe : describe.skip;

interface Seen {
  snapshot: DeviceSnapshot;
  drops: Record<string, number>;
  keyAfterClose: Buffer | null;
}

/** Rehearses with devices in the given TUN mode; what each device held just before its close. */
function rehearseRecorded(
  tunOffloads: number,
  udpOffloads: number,
): { read: number; seen: Seen[]; ioCalls: Set<string> } {
  const seen: Seen[] = [];
  const ioCalls = new Set<string>();
  const real = nativeIo();
  // Every call into the real native layer is recorded: the stand-in must answer all I/O itself.
  const watched: Record<string, unknown> = {};
  for (const name of Object.getOwnPropertyNames(real)) {
    const value = (real as unknown as Record<string, unknown>)[name];
    watched[name] =
      typeof value === 'function'
        ? (...args: unknown[]) => {
            ioCalls.add(name);
            return (value as (...a: unknown[]) => unknown)(...args);
          }
        : value;
  }
  const read = rehearse(watched as unknown as NativeIo, udpOffloads, (io) => {
    const device = new UserspaceDevice({
      tunFd: -1,
      interfaceName: 'rehearsal',
      log: { debug: () => {}, info: () => {}, error: () => {} },
      threads: 1,
      io,
    });
    (device as unknown as { tunOffloads: number }).tunOffloads = tunOffloads;
    const close = device.close.bind(device);
    device.close = () => {
      const snapshot = device.snapshot();
      const drops = device.drops();
      close();
      seen.push({ snapshot, drops, keyAfterClose: device.core.privateKey });
    };
    return device;
  });
  return { read, seen, ioCalls };
}

describeNative('data-plane warm-up rehearsal', () => {
  const vnet = TunOffload.CSUM | TunOffload.TSO4 | TunOffload.TSO6;
  for (const [name, tunOffloads, udpOffloads] of [
    ['vnet TUN with UDP GSO/GRO', vnet, UdpOffload.GSO | UdpOffload.GRO],
    ['plain TUN without UDP offloads', -1, 0],
  ] as const) {
    it(`carries every packet both ways, drops nothing and touches no descriptor (${name})`, () => {
      const { read, seen, ioCalls } = rehearseRecorded(tunOffloads, udpOffloads);
      expect(read).toBe(2 * WARM_UP_ROUND_TRIPS);
      // Only the computations on buffers: the AEAD and the handshake triage (mac1 checks).
      expect([...ioCalls].sort()).toEqual(['aeadBatch', 'handshakeTriage']);
      expect(seen).toHaveLength(2);
      for (const side of seen) {
        const [peer] = side.snapshot.peers;
        expect(peer!.lastHandshakeUnixMs).toBeGreaterThan(0);
        // Each side sent its 120 packets and received the other's (transport overhead included).
        expect(peer!.txBytes).toBeGreaterThan(WARM_UP_ROUND_TRIPS * 84);
        expect(peer!.rxBytes).toBeGreaterThan(WARM_UP_ROUND_TRIPS * 84);
        expect(Object.values(side.drops).every((count) => count === 0)).toBe(true);
        expect(side.keyAfterClose).toBeNull();
      }
    });
  }

  it('is on unless WIREMESH_WARM_UP=0', () => {
    expect(warmUpWanted({})).toBe(true);
    expect(warmUpWanted({ WIREMESH_WARM_UP: '1' })).toBe(true);
    expect(warmUpWanted({ WIREMESH_WARM_UP: '0' })).toBe(false);
  });
});
