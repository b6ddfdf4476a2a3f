/**
 * Allowed IPs: which peer owns which address (kernel src/allowedips.c, wireguard-go
 * device/allowedips.go). Outbound, a destination address picks the peer to encrypt for; inbound, the
 * inner source address of a decrypted packet must look up to the peer it came from.
 *
 * Each family has a path-compressed binary trie with longest-prefix match. Keys are signed 32-bit
 * words (one for IPv4, four for IPv6), so one set of insert/remove routines serves both families and
 * a prefix test is a few XOR/AND operations instead of a per-bit walk. Nothing recurses.
 */
import { IPV4_BYTES, IPV6_BYTES, maxBitsOf, type IpFamily, type IpPrefix } from '../../common/ip';

/** A key as four signed 32-bit words, most significant first; IPv4 leaves the last three zero. */
type Key = [number, number, number, number];

function maskWord(bits: number, index: number): number {
  const keep = bits - index * 32;
  if (keep <= 0) return 0;
  if (keep >= 32) return -1;
  return -1 << (32 - keep);
}

/** `WORD_MASKS[bits * 4 + i]` masks word i of a prefix `bits` long; a table, so lookups don't branch on it. */
const WORD_MASKS = Int32Array.from({ length: 129 * 4 }, (_, index) => maskWord(index >>> 2, index & 3));

function maskedKey(key: Key, bits: number): Key {
  return [
    key[0] & maskWord(bits, 0),
    key[1] & maskWord(bits, 1),
    key[2] & maskWord(bits, 2),
    key[3] & maskWord(bits, 3),
  ];
}

/** Bit `index` (0 = most significant) of a key. */
function bitAt(key: Key, index: number): number {
  return (key[index >>> 5]! >>> (31 - (index & 31))) & 1;
}

/** How many leading bits two keys share. */
function commonBits(a: Key, b: Key): number {
  for (let i = 0; i < 4; i++) {
    const difference = a[i]! ^ b[i]!;
    if (difference !== 0) return i * 32 + Math.clz32(difference);
  }
  return 128;
}

/** The big-endian 32-bit word at `offset`, signed, as every key in the trie is held. */
function readWord(buf: Uint8Array, offset: number): number {
  return (buf[offset]! << 24) | (buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!;
}

function keyOf(prefix: IpPrefix): Key {
  const { family, address, bits } = prefix;
  if (family !== 4 && family !== 6) throw new RangeError(`unknown address family ${String(family)}`);
  const expectedBytes = family === 4 ? IPV4_BYTES : IPV6_BYTES;
  if (address.length !== expectedBytes) {
    throw new RangeError(`an IPv${family} prefix needs a ${expectedBytes}-byte address, not ${address.length}`);
  }
  if (!Number.isInteger(bits) || bits < 0 || bits > maxBitsOf(family)) {
    throw new RangeError(`IPv${family} prefix length ${bits} is out of range`);
  }
  const key: Key = [0, 0, 0, 0];
  for (let i = 0; i < address.length / 4; i++) key[i] = readWord(address, i * 4);
  return maskedKey(key, bits);
}

function comparePrefixes(a: IpPrefix, b: IpPrefix): number {
  if (a.family !== b.family) return a.family - b.family;
  for (let i = 0; i < a.address.length; i++) {
    if (a.address[i] !== b.address[i]) return a.address[i]! - b.address[i]!;
  }
  return a.bits - b.bits;
}

const NONE = -1;
/** Set beside the prefix length in a record's info slot when the node holds a peer. */
const HAS_PEER = 0x100;
const LENGTH_MASK = 0xff;
const INITIAL_CAPACITY = 64;

/**
 * One family's path-compressed binary trie (the kernel's algorithm). Nodes are fixed-size records in
 * one Int32Array rather than objects: a 100k-prefix table then mostly fits in cache, which makes
 * random lookups about twice as fast. A record is [key words..., info (length | HAS_PEER), zero, one];
 * IPv6 records are padded to 8 slots so an id becomes an offset by a shift. Peers sit in an array
 * read only once, for the final match. Invariant (as in the kernel): a node without a peer has two
 * children, so removal unlinks at most the node and its parent.
 */
class Trie<Peer extends {}> {
  protected records: Int32Array;
  /** Parent ids, apart from the records because lookups never read them. */
  private parents: Int32Array;
  protected readonly peers: (Peer | undefined)[] = [];
  protected root = NONE;
  private readonly words: number;
  private readonly stride: number;
  protected readonly infoSlot: number;
  protected readonly zeroSlot: number;
  private readonly freeIds: number[] = [];
  private highWater = 0;
  private readonly idsByPeer = new Map<Peer, Set<number>>();
  private prefixCount = 0;

  constructor(readonly family: IpFamily) {
    this.words = family === 4 ? 1 : 4;
    this.stride = family === 4 ? 4 : 8;
    this.infoSlot = this.words;
    this.zeroSlot = this.words + 1;
    this.records = new Int32Array(INITIAL_CAPACITY * this.stride);
    this.parents = new Int32Array(INITIAL_CAPACITY);
  }

  get size(): number {
    return this.prefixCount;
  }

  insert(key: Key, bits: number, peer: Peer): void {
    let parent = NONE;
    let down = this.root;
    while (down !== NONE && this.bitsOf(down) <= bits && this.covers(down, key)) {
      if (this.bitsOf(down) === bits) {
        this.setPeer(down, peer);
        return;
      }
      parent = down;
      down = this.child(down, bitAt(key, this.bitsOf(down)));
    }

    const leaf = this.allocate(key, bits);
    this.setPeer(leaf, peer);
    if (down === NONE) {
      if (parent === NONE) this.root = leaf;
      else this.attach(parent, bitAt(key, this.bitsOf(parent)), leaf);
      return;
    }
    // `down` is longer than the new prefix or leaves it early: the two meet where their keys part.
    const downKey = this.keyAt(down);
    const split = Math.min(bits, commonBits(key, downKey));
    if (split === bits) {
      this.replace(down, leaf);
      this.attach(leaf, bitAt(downKey, bits), down);
      return;
    }
    const fork = this.allocate(maskedKey(key, split), split);
    this.replace(down, fork);
    this.attach(fork, bitAt(downKey, split), down);
    this.attach(fork, bitAt(key, split), leaf);
  }

  remove(key: Key, bits: number, peer: Peer): boolean {
    let id = this.root;
    while (id !== NONE && this.bitsOf(id) < bits && this.covers(id, key))
      id = this.child(id, bitAt(key, this.bitsOf(id)));
    if (id === NONE || this.bitsOf(id) !== bits || this.peers[id] !== peer || !this.covers(id, key)) return false;
    this.clearPeer(id);
    this.removeNode(id);
    return true;
  }

  removePeer(peer: Peer): void {
    const ids = this.idsByPeer.get(peer);
    if (ids === undefined) return;
    // Deleting the current entry of a Set while iterating it is well defined.
    for (const id of ids) {
      this.clearPeer(id);
      this.removeNode(id);
    }
  }

  prefixesOf(peer: Peer): IpPrefix[] {
    const ids = this.idsByPeer.get(peer);
    return ids === undefined ? [] : Array.from(ids, (id) => this.prefixAt(id));
  }

  clear(): void {
    this.records = new Int32Array(INITIAL_CAPACITY * this.stride);
    this.parents = new Int32Array(INITIAL_CAPACITY);
    this.peers.length = 0;
    this.root = NONE;
    this.freeIds.length = 0;
    this.highWater = 0;
    this.idsByPeer.clear();
    this.prefixCount = 0;
  }

  private bitsOf(id: number): number {
    return this.records[id * this.stride + this.infoSlot]! & LENGTH_MASK;
  }

  private child(id: number, bit: number): number {
    return this.records[id * this.stride + this.zeroSlot + bit]!;
  }

  private keyAt(id: number): Key {
    const key: Key = [0, 0, 0, 0];
    for (let i = 0; i < this.words; i++) key[i] = this.records[id * this.stride + i]!;
    return key;
  }

  private covers(id: number, key: Key): boolean {
    const base = id * this.stride;
    const masks = this.bitsOf(id) * 4;
    for (let i = 0; i < this.words; i++) {
      if (((key[i]! ^ this.records[base + i]!) & WORD_MASKS[masks + i]!) !== 0) return false;
    }
    return true;
  }

  private prefixAt(id: number): IpPrefix {
    const address = new Uint8Array(this.words * 4);
    const view = new DataView(address.buffer);
    for (let i = 0; i < this.words; i++) view.setInt32(i * 4, this.records[id * this.stride + i]!);
    return { family: this.family, address, bits: this.bitsOf(id) };
  }

  /** `key` must already be masked to `bits`. */
  private allocate(key: Key, bits: number): number {
    let id = this.freeIds.pop();
    if (id === undefined) {
      id = this.highWater++;
      if (id === this.parents.length) this.grow();
    }
    const base = id * this.stride;
    for (let i = 0; i < this.words; i++) this.records[base + i] = key[i]!;
    this.records[base + this.infoSlot] = bits;
    this.records[base + this.zeroSlot] = NONE;
    this.records[base + this.zeroSlot + 1] = NONE;
    this.parents[id] = NONE;
    this.peers[id] = undefined;
    return id;
  }

  private grow(): void {
    const records = new Int32Array(this.records.length * 2);
    records.set(this.records);
    this.records = records;
    const parents = new Int32Array(this.parents.length * 2);
    parents.set(this.parents);
    this.parents = parents;
  }

  private setPeer(id: number, peer: Peer): void {
    const previous = this.peers[id];
    if (previous === peer) return;
    if (previous !== undefined) this.clearPeer(id);
    this.peers[id] = peer;
    this.records[id * this.stride + this.infoSlot]! |= HAS_PEER;
    let ids = this.idsByPeer.get(peer);
    if (ids === undefined) this.idsByPeer.set(peer, (ids = new Set()));
    ids.add(id);
    this.prefixCount++;
  }

  private clearPeer(id: number): void {
    const ids = this.idsByPeer.get(this.peers[id]!)!;
    ids.delete(id);
    if (ids.size === 0) this.idsByPeer.delete(this.peers[id]!);
    this.peers[id] = undefined;
    this.records[id * this.stride + this.infoSlot]! &= ~HAS_PEER;
    this.prefixCount--;
  }

  private attach(parent: number, bit: number, child: number): void {
    this.records[parent * this.stride + this.zeroSlot + bit] = child;
    this.parents[child] = parent;
  }

  /** Puts `next` (possibly NONE) where `previous` hangs. */
  private replace(previous: number, next: number): void {
    const parent = this.parents[previous]!;
    if (next !== NONE) this.parents[next] = parent;
    if (parent === NONE) this.root = next;
    else this.records[parent * this.stride + this.zeroSlot + (this.child(parent, 0) === previous ? 0 : 1)] = next;
  }

  /** Unlinks a node whose peer was just cleared, keeping every peerless node a fork. */
  private removeNode(id: number): void {
    const zero = this.child(id, 0);
    const one = this.child(id, 1);
    if (zero !== NONE && one !== NONE) return;
    const parent = this.parents[id]!;
    const onlyChild = zero !== NONE ? zero : one;
    this.replace(id, onlyChild);
    this.freeIds.push(id);
    // A leaf leaves its parent with one child; a peerless parent then stops being a fork.
    if (onlyChild === NONE && parent !== NONE && this.peers[parent] === undefined) {
      const remaining = this.child(parent, 0) !== NONE ? this.child(parent, 0) : this.child(parent, 1);
      this.replace(parent, remaining);
      this.freeIds.push(parent);
    }
  }
}

class Ipv4Trie<Peer extends {}> extends Trie<Peer> {
  constructor() {
    super(4);
  }

  lookup(word: number): Peer | undefined {
    const records = this.records;
    let found = NONE;
    let id = this.root;
    while (id !== NONE) {
      const base = id << 2;
      const info = records[base + 1]!;
      const bits = info & LENGTH_MASK;
      if (((word ^ records[base]!) & WORD_MASKS[bits << 2]!) !== 0) break;
      if ((info & HAS_PEER) !== 0) found = id;
      // A /32 node has no children, so the shift past its last bit only ever picks NONE.
      id = records[base + 2 + ((word >>> (31 - bits)) & 1)]!;
    }
    return found === NONE ? undefined : this.peers[found];
  }
}

class Ipv6Trie<Peer extends {}> extends Trie<Peer> {
  constructor() {
    super(6);
  }

  lookup(w0: number, w1: number, w2: number, w3: number): Peer | undefined {
    const records = this.records;
    let found = NONE;
    let id = this.root;
    while (id !== NONE) {
      const base = id << 3;
      const info = records[base + 4]!;
      const bits = info & LENGTH_MASK;
      const masks = bits << 2;
      const difference =
        ((w0 ^ records[base]!) & WORD_MASKS[masks]!) |
        ((w1 ^ records[base + 1]!) & WORD_MASKS[masks + 1]!) |
        ((w2 ^ records[base + 2]!) & WORD_MASKS[masks + 2]!) |
        ((w3 ^ records[base + 3]!) & WORD_MASKS[masks + 3]!);
      if (difference !== 0) break;
      if ((info & HAS_PEER) !== 0) found = id;
      const word = bits < 64 ? (bits < 32 ? w0 : w1) : bits < 96 ? w2 : w3;
      // As for IPv4: a /128 node has no children, whatever bit this reads.
      id = records[base + 5 + ((word >>> (31 - (bits & 31))) & 1)]!;
    }
    return found === NONE ? undefined : this.peers[found];
  }
}

/**
 * Longest-prefix-match table from IPv4 and IPv6 prefixes to peers. `Peer` may be any value except
 * undefined, which means "no peer"; peers are told apart by identity (===).
 */
export class AllowedIps<Peer extends {}> {
  private readonly ipv4 = new Ipv4Trie<Peer>();
  private readonly ipv6 = new Ipv6Trie<Peer>();

  /** Number of prefixes held, over all peers and both families. */
  get size(): number {
    return this.ipv4.size + this.ipv6.size;
  }

  /** Gives `prefix` (host bits ignored) to `peer`, taking it from any peer that held it. */
  insert(prefix: IpPrefix, peer: Peer): void {
    const key = keyOf(prefix);
    this.trieOf(prefix.family).insert(key, prefix.bits, peer);
  }

  /** Removes `prefix` (host bits ignored) only if `peer` holds it; reports whether it did. */
  remove(prefix: IpPrefix, peer: Peer): boolean {
    const key = keyOf(prefix);
    return this.trieOf(prefix.family).remove(key, prefix.bits, peer);
  }

  removePeer(peer: Peer): void {
    this.ipv4.removePeer(peer);
    this.ipv6.removePeer(peer);
  }

  /** The peer owning the longest prefix that holds `address` (4 or 16 bytes). */
  lookup(address: Uint8Array): Peer | undefined {
    if (address.length === IPV4_BYTES) return this.lookupIPv4(address, 0);
    if (address.length === IPV6_BYTES) return this.lookupIPv6(address, 0);
    throw new RangeError(`an IP address is 4 or 16 bytes, not ${address.length}`);
  }

  /** Looks up the IPv4 address at `buf[offset..offset+4)`, e.g. a header's source at offset 12. */
  lookupIPv4(buf: Uint8Array, offset: number): Peer | undefined {
    checkBounds(buf, offset, IPV4_BYTES);
    return this.ipv4.lookup(readWord(buf, offset));
  }

  /** Looks up the IPv6 address at `buf[offset..offset+16)`, e.g. a header's source at offset 8. */
  lookupIPv6(buf: Uint8Array, offset: number): Peer | undefined {
    checkBounds(buf, offset, IPV6_BYTES);
    return this.ipv6.lookup(
      readWord(buf, offset),
      readWord(buf, offset + 4),
      readWord(buf, offset + 8),
      readWord(buf, offset + 12),
    );
  }

  /** Every prefix `peer` holds: IPv4 before IPv6, then by address, then shorter first. */
  prefixesOf(peer: Peer): IpPrefix[] {
    return [...this.ipv4.prefixesOf(peer), ...this.ipv6.prefixesOf(peer)].sort(comparePrefixes);
  }

  clear(): void {
    this.ipv4.clear();
    this.ipv6.clear();
  }

  private trieOf(family: IpFamily): Trie<Peer> {
    return family === 4 ? this.ipv4 : this.ipv6;
  }
}

function checkBounds(buf: Uint8Array, offset: number, length: number): void {
  if (!(Number.isInteger(offset) && offset >= 0 && offset + length <= buf.length)) {
    throw new RangeError(`no ${length}-byte address at offset ${offset} of a ${buf.length}-byte buffer`);
  }
}
