/** The userspace device's receive order under a flood (agent/wg/receive-scheduler.ts). */
import { COOKIE_REPLY_LENGTH, INITIATION_LENGTH, MessageType, RESPONSE_LENGTH } from '../../agent/core/messages';
import { MAX_BATCH, RECV_META_SIZE, RECV_OFFSET_FIELD } from '../../agent/wg/native';
import { ReceiveScheduler, SHED_ALL_AT, SHED_WITHOUT_MAC2_AT } from '../../agent/wg/receive-scheduler';

const SLOT = 256;

type Kind = 'transport' | 'initiation' | 'initiation+mac2' | 'response' | 'cookie' | 'garbage';

/** A batch laid out as recvBatch leaves it. */
function batch(kinds: Kind[]): { data: Buffer; meta: Buffer } {
  const data = Buffer.alloc(MAX_BATCH * SLOT);
  const meta = Buffer.alloc(MAX_BATCH * RECV_META_SIZE);
  kinds.forEach((kind, i) => {
    const type = {
      transport: MessageType.Transport,
      initiation: 1,
      'initiation+mac2': 1,
      response: 2,
      cookie: 3,
      garbage: 9,
    }[kind];
    const length = {
      transport: 60,
      initiation: INITIATION_LENGTH,
      'initiation+mac2': INITIATION_LENGTH,
      response: RESPONSE_LENGTH,
      cookie: COOKIE_REPLY_LENGTH,
      garbage: 20,
    }[kind];
    data[i * SLOT] = type;
    if (kind === 'initiation+mac2') data[i * SLOT + length - 1] = 0x5a;
    meta.writeUInt32LE(length, i * RECV_META_SIZE);
    meta.writeUInt32LE(i * SLOT, i * RECV_META_SIZE + RECV_OFFSET_FIELD);
  });
  return { data, meta };
}

/** Runs one batch with the receive queue `backlog` full. Returns the indices in the order received. */
function run(scheduler: ReceiveScheduler, kinds: Kind[], backlog = 0): number[] {
  const { data, meta } = batch(kinds);
  const received: number[] = [];
  scheduler.run(data, SLOT, meta, kinds.length, backlog, (index) => received.push(index));
  return received;
}

describe('ReceiveScheduler', () => {
  const kinds: Kind[] = ['initiation', 'transport', 'initiation+mac2', 'response', 'cookie', 'garbage', 'transport'];

  it('puts transport (and non-handshakes) first, then cookie replies and mac2 handshakes, then the rest, each in arrival order', () => {
    const scheduler = new ReceiveScheduler();
    expect(run(scheduler, kinds)).toEqual([1, 5, 6, 2, 4, 0, 3]);
    expect(scheduler.dropped).toBe(0);
    expect(run(scheduler, kinds, SHED_WITHOUT_MAC2_AT - 0.01)).toEqual([1, 5, 6, 2, 4, 0, 3]);
  });

  it('drops handshakes without mac2 once the receive queue is half full, and every handshake at three quarters; never transport', () => {
    const scheduler = new ReceiveScheduler();
    expect(run(scheduler, kinds, SHED_WITHOUT_MAC2_AT)).toEqual([1, 5, 6, 2, 4]);
    expect(scheduler.dropped).toBe(2);
    expect(run(scheduler, kinds, SHED_ALL_AT)).toEqual([1, 5, 6]);
    expect(scheduler.dropped).toBe(4);
    expect(run(scheduler, ['transport'], 1)).toEqual([0]);
    expect(scheduler.dropped).toBe(0);
  });

  it('treats a handshake type with the wrong length or non-zero reserved bytes as not a handshake (the core drops it)', () => {
    const scheduler = new ReceiveScheduler();
    const { data, meta } = batch(['initiation', 'initiation', 'initiation']);
    meta.writeUInt32LE(INITIATION_LENGTH - 1, 0);
    data[SLOT + 2] = 1;
    const received: number[] = [];
    scheduler.run(data, SLOT, meta, 3, 1, (index) => received.push(index));
    expect(received).toEqual([0, 1]);
    expect(scheduler.dropped).toBe(1);
  });
});
