/**
 * The receiver-index table (wireguard-go device/indextable.go, kernel src/peerlookup.c): random
 * 32-bit indices, each naming a peer's pending handshake or one of its keypairs, so a response,
 * cookie reply or transport packet finds its session with one lookup of its receiver index
 * (docs/protocol.md 1.2).
 */
import { randomUint32 } from '../crypto/primitives';

export class IndexTable<Entry> {
  private readonly entries = new Map<number, Entry>();

  constructor(private readonly random: () => number = randomUint32) {}

  /** A fresh random index, never one in use, now naming `entry`. */
  allocate(entry: Entry): number {
    let index: number;
    do index = this.random();
    while (this.entries.has(index));
    this.entries.set(index, entry);
    return index;
  }

  get(index: number): Entry | undefined {
    return this.entries.get(index);
  }

  delete(index: number): void {
    this.entries.delete(index);
  }

  get size(): number {
    return this.entries.size;
  }
}
