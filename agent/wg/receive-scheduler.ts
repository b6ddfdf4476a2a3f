/**
 * The order in which the userspace device feeds one received batch to the core, so that a handshake
 * flood cannot starve existing tunnels (the kernel gets the same from separate queues, reference 1.11).
 * The batch arrives classified by the addon's handshakeTriage (DatagramClass, mac1 already checked):
 *  1. transport data (and anything else that is not a handshake: the core drops it cheaply);
 *  2. cookie replies and handshake messages carrying a mac2 (a sender that holds our cookie, which is
 *     how a legitimate peer's retry gets through a flood);
 *  3. handshake messages with a valid mac1 and no mac2: under load the caller answers them all with
 *     cookie replies in one native call (`answerWithoutMac2`), otherwise they go to the core.
 * Handshakes whose mac1 is valid for none of our keys go nowhere (counted in `invalidMac1`).
 * Handshake work is shed by how far behind the device is, as the kernel drops handshakes once its
 * handshake queue is half full: the caller passes the share of the socket's receive buffer still
 * queued after this batch was read. Over SHED_WITHOUT_MAC2_AT the third class is dropped, over
 * SHED_ALL_AT the second too (a flood can send a non-zero mac2, just not a valid one); dropping costs
 * no cryptography, so the socket drains and transport keeps flowing. Below that nothing is dropped,
 * however bursty the arrival. Order within each class is kept (the replay window expects it).
 */
import { DatagramClass, GRO_MAX_SEGMENTS, MAX_BATCH } from './native';

/** Records one recvBatch can leave: every datagram of a batch of UDP GRO frames. */
const MAX_RECORDS = MAX_BATCH * GRO_MAX_SEGMENTS;

export const SHED_WITHOUT_MAC2_AT = 0.5;
export const SHED_ALL_AT = 0.75;

export class ReceiveScheduler {
  /** Handshake messages dropped by the last `run()` for being over budget. */
  dropped = 0;
  /** Handshake messages of the last `run()` with no valid mac1. */
  invalidMac1 = 0;
  private readonly transport = new Uint16Array(MAX_RECORDS);
  /** Cookie replies and handshakes with a mac2. */
  private readonly preferred = new Uint16Array(MAX_RECORDS);
  /** Handshakes without a mac2. */
  private readonly rest = new Uint16Array(MAX_RECORDS);

  /**
   * Hands the indices of `count` datagrams classified in `classes` to `receive` in the order above.
   * `backlog` is the share (0..1) of the receive buffer still queued; `answerWithoutMac2` answers
   * the third class itself and says so (true), or leaves it to `receive` (false).
   */
  run(
    classes: Uint8Array,
    count: number,
    backlog: number,
    receive: (index: number) => void,
    answerWithoutMac2: () => boolean,
  ): void {
    let transport = 0;
    let preferred = 0;
    let rest = 0;
    let invalid = 0;
    for (let i = 0; i < count; i++) {
      const kind = classes[i]!;
      if (kind === DatagramClass.other) this.transport[transport++] = i;
      else if (kind === DatagramClass.cookieReply || kind === DatagramClass.withMac2) this.preferred[preferred++] = i;
      else if (kind === DatagramClass.badMac1) invalid++;
      else this.rest[rest++] = i;
    }
    for (let k = 0; k < transport; k++) receive(this.transport[k]!);
    const keepPreferred = backlog < SHED_ALL_AT;
    const keepRest = backlog < SHED_WITHOUT_MAC2_AT;
    if (keepPreferred) for (let k = 0; k < preferred; k++) receive(this.preferred[k]!);
    if (keepRest && rest > 0 && !answerWithoutMac2()) for (let k = 0; k < rest; k++) receive(this.rest[k]!);
    this.dropped = (keepPreferred ? 0 : preferred) + (keepRest ? 0 : rest);
    this.invalidMac1 = invalid;
  }
}
