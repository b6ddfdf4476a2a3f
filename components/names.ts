/** Resource names derived from values, so that adding one value renames no other resource. */

/** `10.1.0.0/16` -> `10-1-0-0-16`, `fd00::/8` -> `fd00--8`: stable route resource names. */
export function cidrSlug(cidr: string): string {
  return cidr.replace(/[./:]/g, '-');
}
