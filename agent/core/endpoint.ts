/** A peer's UDP endpoint as the core sees it, and the wire bytes cookies and the rate limiter key on. */
import { parseAddress } from '../../common/ip';

/**
 * A UDP endpoint as the I/O shell sees it; opaque to the core except for cookies. `localAddress` is
 * the address the peer reached us on (the sticky source for replies on multi-homed hosts).
 */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
  readonly localAddress?: string;
}

export function sameEndpoint(a: Endpoint | null, b: Endpoint): boolean {
  return a !== null && a.address === b.address && a.port === b.port && a.localAddress === b.localAddress;
}

/** 4 or 16 bytes (an IPv6 zone suffix is ignored), or null if the address does not parse. */
export function endpointAddress(endpoint: Endpoint): Uint8Array | null {
  try {
    return parseAddress(endpoint.address.replace(/%.*$/, ''));
  } catch {
    return null;
  }
}
