/**
 * The userspace device's side of a handshake flood, a whole received batch at a time: mac1 of every
 * handshake checked in one native call (handshakeTriage, which also classifies the batch for the
 * receive scheduler), and under load the cookie replies to every valid-mac1 handshake without mac2
 * sealed in one native call and sent with sendBatch (agent/native/cookie_batch.c). The core keeps the
 * rules: it says whether it is under load, holds the keys and the cookie secret, and counts. No
 * object is made per datagram.
 */
import type { WireGuardDevice } from '../core/device';
import { COOKIE_REPLY_LENGTH } from '../core/messages';
import type { KeySlot } from '../core/keypair';
import { DatagramClass, GRO_MAX_SEGMENTS, MAX_BATCH, SEND_META_SIZE, type NativeIo } from './native';

const MAX_RECORDS = MAX_BATCH * GRO_MAX_SEGMENTS;
const SLOTS: ReadonlyArray<[KeySlot, number]> = [
  ['current', DatagramClass.withoutMac2Current],
  ['next', DatagramClass.withoutMac2Next],
];

/** Where the replies of one `answer()` go. */
export interface ReplySocket {
  fd: number;
  sendState: Buffer;
}

export class HandshakeFastPath {
  /** The last triaged batch, one DatagramClass per datagram. */
  readonly classes = Buffer.alloc(MAX_RECORDS);
  /** Whether the last triaged batch had no key to check mac1 with (its handshakes are not ours to judge). */
  noKey = false;
  /** Replies of the last `answer()` the kernel would not take (a full send buffer). */
  refused = 0;
  private readonly mac1Keys = Buffer.alloc(64);
  private readonly replies = Buffer.alloc(MAX_RECORDS * COOKIE_REPLY_LENGTH);
  private readonly replyMeta = Buffer.alloc(MAX_RECORDS * SEND_META_SIZE);

  constructor(
    private readonly io: NativeIo,
    private readonly core: WireGuardDevice,
  ) {}

  /** Classifies `count` received datagrams (laid out as recvBatch leaves them) into `classes`. */
  triage(data: Buffer, slotSize: number, meta: Buffer, count: number): void {
    const mask = this.core.mac1Keys(this.mac1Keys);
    this.noKey = mask === 0;
    this.io.handshakeTriage(data, slotSize, meta, count, this.mac1Keys, mask, this.classes);
  }

  /**
   * Under load: answers the triaged batch's valid-mac1 handshakes without mac2 with cookie replies
   * through `socket`; returns how many replies were made, or null when the core is not under load
   * (they are the core's to handle). `refused` is set to how many of them the kernel would not take.
   */
  answer(data: Buffer, slotSize: number, meta: Buffer, count: number, socket: ReplySocket, now: number): number | null {
    let answered: number | null = null;
    this.refused = 0;
    for (const [slot, wanted] of SLOTS) {
      const keys = this.core.cookieReplyKeys(slot, now);
      if (!keys) continue;
      const replies = this.io.cookieReplies(
        data,
        slotSize,
        meta,
        count,
        this.classes,
        wanted,
        keys.cookieKey,
        keys.secret,
        this.replies,
        this.replyMeta,
      );
      this.core.countCookieReplies(replies, now);
      this.refused += replies - this.send(replies, socket);
      answered = (answered ?? 0) + replies;
    }
    return answered;
  }

  /** Hands `replies` to the kernel, MAX_BATCH at a time; returns how many it took. */
  private send(replies: number, socket: ReplySocket): number {
    let sent = 0;
    for (let first = 0; first < replies; first += MAX_BATCH) {
      const chunk = Math.min(MAX_BATCH, replies - first);
      const meta = this.replyMeta.subarray(first * SEND_META_SIZE, (first + chunk) * SEND_META_SIZE);
      sent += this.io.sendBatch(socket.fd, this.replies, meta, chunk, socket.sendState);
    }
    return sent;
  }
}
