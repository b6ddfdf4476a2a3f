/**
 * `host:port` as WireGuard writes endpoints: the port after the last colon, an IPv6 host in
 * brackets (`[fd00::1]:51820`). Only splits; whether the host resolves is the caller's business.
 */
export interface HostPort {
  /** The host without brackets: a name, an IPv4 or an IPv6 literal. */
  host: string;
  /** The text after the last colon as a number (NaN when it is not one). */
  port: number;
}

/** What a field that fails a host:port pattern is told. */
export const HOST_PORT_MESSAGE = 'must be host:port or [IPv6]:port';

export function splitHostPort(text: string): HostPort {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return { host: text, port: Number.NaN };
  const rawHost = text.slice(0, colon);
  const host = rawHost.startsWith('[') && rawHost.endsWith(']') ? rawHost.slice(1, -1) : rawHost;
  return { host, port: Number(text.slice(colon + 1)) };
}

/** `host:port` again, with brackets around an IPv6 host. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
