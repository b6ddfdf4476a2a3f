/** The wire bytes of an endpoint's address, as cookies and the handshake rate limiter key on them. */
import { parseAddress } from './allowedips';
import type { Endpoint } from './peer';

/** 4 or 16 bytes (an IPv6 zone suffix is ignored), or null if the address does not parse. */
export function endpointAddress(endpoint: Endpoint): Uint8Array | null {
  try {
    return parseAddress(endpoint.address.replace(/%.*$/, ''));
  } catch {
    return null;
  }
}
