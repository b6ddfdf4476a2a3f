/** Short builders for UAPI changes in tests: `prefixes('clear', '10.0.0.0/8', '-fd00::/64')`. */
import { parsePrefix } from '../../common/ip';
import type { PeerChange } from '../../agent/wg/uapi';

export function prefixes(...texts: string[]): PeerChange['allowedIps'] {
  return texts.map((text) =>
    text === 'clear'
      ? { kind: 'clear' as const }
      : text.startsWith('-')
        ? { kind: 'remove' as const, prefix: parsePrefix(text.slice(1)) }
        : { kind: 'add' as const, prefix: parsePrefix(text) },
  );
}

export function peer(key: Buffer, fields: Partial<PeerChange> = {}): PeerChange {
  return { publicKey: key, remove: false, updateOnly: false, allowedIps: [], ...fields };
}
