/**
 * UDP endpoints of the userspace device: the core's Endpoint plus the bytes the native layer needs,
 * computed once per endpoint rather than per packet.
 */
import { formatAddress, parseAddress } from '../../common/ip';
import type { Endpoint } from '../core/peer';

export class UdpEndpoint implements Endpoint {
  readonly address: string;
  readonly localAddress?: string;

  constructor(
    readonly family: 4 | 6,
    /** 4 or 16 bytes. */
    readonly addressBytes: Uint8Array,
    readonly port: number,
    /** The local address the peer reached (sticky source); null when not known. */
    readonly localBytes: Uint8Array | null = null,
    readonly interfaceIndex = 0,
  ) {
    this.address = formatAddress(addressBytes);
    if (localBytes) this.localAddress = formatAddress(localBytes);
  }

  withoutLocalAddress(): UdpEndpoint {
    return new UdpEndpoint(this.family, this.addressBytes, this.port);
  }

  /** `a.b.c.d:port` or `[v6]:port`, as the UAPI and `wg` write endpoints. */
  toString(): string {
    return this.family === 6 ? `[${this.address}]:${this.port}` : `${this.address}:${this.port}`;
  }
}

export class EndpointFormatError extends Error {}

const V4_ENDPOINT = /^([0-9.]+):(\d{1,5})$/;
const V6_ENDPOINT = /^\[([0-9A-Fa-f:.]+)(?:%[^\]]+)?\]:(\d{1,5})$/;

/** Parses `IPv4:port` or `[IPv6]:port` (a zone suffix is accepted and ignored). */
export function parseEndpoint(text: string): UdpEndpoint {
  const match = V4_ENDPOINT.exec(text) ?? V6_ENDPOINT.exec(text);
  if (!match) throw new EndpointFormatError(`invalid endpoint "${text}": expected IPv4:port or [IPv6]:port`);
  const port = Number(match[2]);
  if (port < 1 || port > 65535) throw new EndpointFormatError(`invalid endpoint "${text}": port must be 1 to 65535`);
  let bytes: Uint8Array;
  try {
    bytes = parseAddress(match[1]!);
  } catch {
    throw new EndpointFormatError(`invalid endpoint "${text}": not an IP address`);
  }
  const isV6Syntax = text.startsWith('[');
  if ((bytes.length === 16) !== isV6Syntax) throw new EndpointFormatError(`invalid endpoint "${text}"`);
  return unmapped(new UdpEndpoint(isV6Syntax ? 6 : 4, bytes, port));
}

/** An IPv4-mapped IPv6 endpoint is sent from the IPv4 socket. */
function unmapped(endpoint: UdpEndpoint): UdpEndpoint {
  const b = endpoint.addressBytes;
  const isMapped = b.length === 16 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  return isMapped ? new UdpEndpoint(4, b.slice(12), endpoint.port) : endpoint;
}
