/** Minimal inner IP packets (UDP, checksums left zero: the core never checks them) for tests, fuzzing and benches. */
import { parsePrefix } from '../common/ip';

export function ipv4Packet(source: string, destination: string, payload: Buffer = Buffer.from('hello')): Buffer {
  const packet = Buffer.alloc(20 + payload.length);
  packet[0] = 0x45;
  packet.writeUInt16BE(packet.length, 2);
  packet[8] = 64;
  packet[9] = 17;
  Buffer.from(parsePrefix(source).address).copy(packet, 12);
  Buffer.from(parsePrefix(destination).address).copy(packet, 16);
  payload.copy(packet, 20);
  return packet;
}

export function ipv6Packet(source: string, destination: string, payload: Buffer = Buffer.from('hello')): Buffer {
  const packet = Buffer.alloc(40 + payload.length);
  packet[0] = 0x60;
  packet.writeUInt16BE(payload.length, 4);
  packet[6] = 17;
  packet[7] = 64;
  Buffer.from(parsePrefix(source).address).copy(packet, 8);
  Buffer.from(parsePrefix(destination).address).copy(packet, 24);
  payload.copy(packet, 40);
  return packet;
}
