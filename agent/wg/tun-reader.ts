/**
 * Batched reads from one TUN queue: plain packets, or (with a vnet header) frames split into
 * MTU-sized packets by the native layer. Owned by one thread: the main thread's device, or a
 * data-plane worker.
 */
import { MAX_BATCH, MAX_SEGMENTS_PER_FRAME, TUN_READ_RESERVE, type NativeIo } from './native';
import { SLOT } from './send-batch';

/** Span room per tunReadSegments call: it reads until about 256 packets are in (a 64 KB segment splits into about 45). */
const TUN_READ_SPANS = MAX_SEGMENTS_PER_FRAME + 256;
const TUN_READ_DATA = TUN_READ_SPANS * 1500 + TUN_READ_RESERVE;
const MAX_ROUNDS_PER_WAKEUP = 4;

/** Called per packet with a view into the reader's buffer (valid until the call returns). */
export type PacketSink = (data: Buffer, start: number, length: number) => void;

export class TunReader {
  private readonly data: Buffer;
  private readonly lengths = Buffer.alloc(MAX_BATCH * 4);
  private readonly spans = Buffer.alloc(TUN_READ_SPANS * 8);
  /** Packets handed to sinks so far (the device's measure of send load). */
  packetsRead = 0;

  constructor(
    private readonly io: NativeIo,
    private readonly fd: number,
    /** The TUN carries vnet headers (tunSetOffloads did not return -1). */
    private readonly vnet: boolean,
    /** The u32 offload counters (OffloadStat) the native reads count into. */
    private readonly offloadStats: Buffer,
  ) {
    this.data = Buffer.alloc(vnet ? TUN_READ_DATA : MAX_BATCH * SLOT);
  }

  /**
   * Reads a few batches, handing each packet to `sink` and calling `flush` after each batch, then
   * returns to the event loop: the sockets (ACKs, handshakes) get their turn; the poll is
   * level-triggered, so what is left wakes us again. Throws when the read fails.
   */
  drain(sink: PacketSink, flush: () => void): void {
    const { io, fd, vnet, data, spans, lengths } = this;
    for (let round = 0; round < MAX_ROUNDS_PER_WAKEUP; round++) {
      const count = vnet
        ? io.tunReadSegments(fd, data, spans, TUN_READ_SPANS, this.offloadStats)
        : io.tunReadBatch(fd, data, SLOT, lengths, MAX_BATCH);
      this.packetsRead += count;
      for (let i = 0; i < count; i++) {
        if (vnet) sink(data, spans.readUInt32LE(i * 8), spans.readUInt32LE(i * 8 + 4));
        else sink(data, i * SLOT, lengths.readUInt32LE(i * 4));
      }
      flush();
      // A vnet read stops with room for one more large frame, so a full one means "more may wait".
      if (count === 0 || (!vnet && count < MAX_BATCH) || (vnet && count < TUN_READ_SPANS - MAX_SEGMENTS_PER_FRAME))
        break;
    }
  }
}
