/** The userspace device's receive order under a flood (agent/wg/receive-scheduler.ts). */
import { COOKIE_REPLY_LENGTH, INITIATION_LENGTH, MessageType, RESPONSE_LENGTH } from '../../agent/core/messages';
import { MAX_BATCH, RECV_META_SIZE } from '../../agent/wg/native';
import { ReceiveScheduler } from '../../agent/wg/receive-scheduler';

const SLOT = 256;

type Kind = 'transport' | 'initiation' | 'initiation+mac2' | 'response' | 'cookie' | 'garbage';

/** A batch laid out as recvBatch leaves it. */
function batch(kinds: Kind[]): { data: Buffer; meta: Buffer } {
  const data = Buffer.alloc(MAX_BATCH * SLOT);
  const meta = Buffer.alloc(MAX_BATCH * RECV_META_SIZE);
  kinds.forEach((kind, i) => {
    const type = { transport: MessageType.Transport, initiation: 1, 'initiation+mac2': 1, response: 2, cookie: 3, garbage: 9 }[kind];
    const length = { transport: 60, initiation: INITIATION_LENGTH, 'initiation+mac2': INITIATION_LENGTH, response: RESPONSE_LENGTH, cookie: COOKIE_REPLY_LENGTH, garbage: 20 }[kind];
    data[i * SLOT] = type;
    if (kind === 'initiation+mac2') data[i * SLOT + length - 1] = 0x5a;
    meta.writeUInt32LE(length, i * RECV_META_SIZE);
  });
  return { data, meta };
}

function scheduled(scheduler: ReceiveScheduler, kinds: Kind[]): number[] {
  const { data, meta } = batch(kinds);
  const count = scheduler.schedule(data, SLOT, meta, kinds.length);
  return [...scheduler.order.subarray(0, count)];
}

describe('ReceiveScheduler', () => {
  it('puts transport (and non-handshakes) first, then cookie replies and mac2 handshakes, then the rest, each in arrival order', () => {
    const scheduler = new ReceiveScheduler();
    const kinds: Kind[] = ['initiation', 'transport', 'initiation+mac2', 'response', 'cookie', 'garbage', 'transport'];
    expect(scheduled(scheduler, kinds)).toEqual([1, 5, 6, 2, 4, 0, 3]);
    expect(scheduler.dropped).toBe(0);
  });

  it('bounds handshakes per turn, dropping those without mac2 first, and refills on a new turn', () => {
    const scheduler = new ReceiveScheduler(3);
    const kinds: Kind[] = ['initiation', 'initiation', 'transport', 'initiation+mac2', 'initiation', 'transport'];
    expect(scheduled(scheduler, kinds)).toEqual([2, 5, 3, 0, 1]);
    expect(scheduler.dropped).toBe(1);
    // The budget is spent for this turn: only transport gets through.
    expect(scheduled(scheduler, ['initiation+mac2', 'transport'])).toEqual([1]);
    expect(scheduler.dropped).toBe(1);
    scheduler.startTurn();
    expect(scheduled(scheduler, ['initiation', 'transport'])).toEqual([1, 0]);
    expect(scheduler.dropped).toBe(0);
  });

  it('treats a handshake type with the wrong length or non-zero reserved bytes as not a handshake (the core drops it)', () => {
    const scheduler = new ReceiveScheduler(0);
    const { data, meta } = batch(['initiation', 'initiation']);
    meta.writeUInt32LE(INITIATION_LENGTH - 1, 0);
    data[SLOT + 2] = 1;
    expect(scheduler.schedule(data, SLOT, meta, 2)).toBe(2);
    expect(scheduler.dropped).toBe(0);
  });
});
