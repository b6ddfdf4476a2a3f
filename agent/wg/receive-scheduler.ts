/**
 * The order in which the userspace device feeds one received batch to the core, so that a handshake
 * flood cannot starve existing tunnels (the kernel gets the same from separate queues, reference 1.11):
 *  1. transport data (and anything else that is not a handshake: the core drops it cheaply);
 *  2. cookie replies and handshake messages carrying a mac2 (a sender that holds our cookie, which is
 *     how a legitimate peer's retry gets through a flood);
 *  3. handshake messages without mac2.
 * Handshake work is shed by how far behind the device is, as the kernel drops handshakes once its
 * handshake queue is half full: the caller passes the share of the socket's receive buffer still
 * queued after this batch was read. Over SHED_WITHOUT_MAC2_AT the third class is dropped, over
 * SHED_ALL_AT the second too (a flood can send a non-zero mac2, just not a valid one); dropping costs
 * no cryptography, so the socket drains and transport keeps flowing. Below that nothing is dropped,
 * however bursty the arrival. Order within each class is kept (the replay window expects it).
 */
import { INITIATION_LENGTH, MessageType, RESPONSE_LENGTH } from '../core/messages';
import { MAC_LENGTH, isAllZero } from '../crypto/primitives';
import { GRO_MAX_SEGMENTS, MAX_BATCH, RECV_META_SIZE, RECV_OFFSET_FIELD } from './native';

/** Records one recvBatch can leave: every datagram of a batch of UDP GRO frames. */
const MAX_RECORDS = MAX_BATCH * GRO_MAX_SEGMENTS;

export const SHED_WITHOUT_MAC2_AT = 0.5;
export const SHED_ALL_AT = 0.75;

export class ReceiveScheduler {
  /** Handshake messages dropped by the last `run()`. */
  dropped = 0;
  private readonly transport = new Uint16Array(MAX_RECORDS);
  /** Cookie replies and handshakes with a mac2. */
  private readonly preferred = new Uint16Array(MAX_RECORDS);
  /** Handshakes without a mac2. */
  private readonly rest = new Uint16Array(MAX_RECORDS);

  /**
   * Hands the indices of `count` datagrams, laid out as recvBatch leaves them (meta record i holds
   * datagram i's length and its offset in `data`; at most `maxLength` bytes of it count), to
   * `receive` in the order above. `backlog` is the share (0..1) of the receive buffer still queued.
   */
  run(
    data: Uint8Array,
    maxLength: number,
    meta: Buffer,
    count: number,
    backlog: number,
    receive: (index: number) => void,
  ): void {
    let transport = 0;
    let preferred = 0;
    let rest = 0;
    for (let i = 0; i < count; i++) {
      const start = meta.readUInt32LE(i * RECV_META_SIZE + RECV_OFFSET_FIELD);
      const length = Math.min(meta.readUInt32LE(i * RECV_META_SIZE), maxLength);
      const type =
        length >= 4 && data[start + 1] === 0 && data[start + 2] === 0 && data[start + 3] === 0 ? data[start]! : 0;
      if (type === MessageType.CookieReply) this.preferred[preferred++] = i;
      else if (
        (type === MessageType.Initiation && length === INITIATION_LENGTH) ||
        (type === MessageType.Response && length === RESPONSE_LENGTH)
      ) {
        if (!isAllZero(data, start + length - MAC_LENGTH, start + length)) this.preferred[preferred++] = i;
        else this.rest[rest++] = i;
      } else this.transport[transport++] = i;
    }
    for (let k = 0; k < transport; k++) receive(this.transport[k]!);
    const keepPreferred = backlog < SHED_ALL_AT;
    const keepRest = backlog < SHED_WITHOUT_MAC2_AT;
    if (keepPreferred) for (let k = 0; k < preferred; k++) receive(this.preferred[k]!);
    if (keepRest) for (let k = 0; k < rest; k++) receive(this.rest[k]!);
    this.dropped = (keepPreferred ? 0 : preferred) + (keepRest ? 0 : rest);
  }
}
