import {
  formatAddress,
  formatPrefix,
  parseAddress,
  parsePrefix,
  prefixContains,
  prefixesOverlap,
  tryParsePrefix,
  PrefixFormatError,
} from '../../common/ip';

const p = parsePrefix;
const a = parseAddress;

describe('parsePrefix / formatPrefix', () => {
  it.each([
    ['10.0.0.0/8', '10.0.0.0/8'],
    ['10.1.2.3/8', '10.0.0.0/8'],
    ['192.168.1.77/27', '192.168.1.64/27'],
    ['1.2.3.4', '1.2.3.4/32'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['255.255.255.255/0', '0.0.0.0/0'],
    ['  10.0.0.1/32 ', '10.0.0.1/32'],
    ['::/0', '::/0'],
    ['::', '::/128'],
    ['::1', '::1/128'],
    ['FD00:0:0:0:0:0:0:1/64', 'fd00::/64'],
    ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1/128'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1/128'],
    ['2001:db8::', '2001:db8::/128'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0/128'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4/128'],
    ['::FFFF:102:304/96', '::ffff:0.0.0.0/96'],
    ['::1.2.3.4', '::102:304/128'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221/128'],
    ['fe80::1:2:3:4/10', 'fe80::/10'],
    ['2001:db8:ffff:ffff:ffff:ffff:ffff:ffff/33', '2001:db8:8000::/33'],
  ])('%s -> %s', (text, canonical) => {
    expect(formatPrefix(p(text))).toBe(canonical);
  });

  it('gives the family, masked bytes and length', () => {
    expect(p('10.1.2.3/12')).toEqual({ family: 4, address: Uint8Array.of(10, 0, 0, 0), bits: 12 });
    const v6 = p('fd12:3456::9/16');
    expect(v6.family).toBe(6);
    expect(v6.bits).toBe(16);
    expect(Array.from(v6.address)).toEqual([0xfd, 0x12, ...new Array<number>(14).fill(0)]);
  });

  it('puts "::" on the first of two equally long zero runs, never on a single zero group', () => {
    expect(formatAddress(a('1:0:0:2:0:0:3:4'))).toBe('1::2:0:0:3:4');
    expect(formatAddress(a('1:0:0:2:0:0:0:4'))).toBe('1:0:0:2::4');
    expect(formatAddress(a('1:0:2:3:4:5:6:7'))).toBe('1:0:2:3:4:5:6:7');
  });

  it.each([
    '',
    '/',
    'garbage',
    '10.0.0.0/33',
    '::/129',
    '10.0.0.0/',
    '10.0.0.0/-1',
    '10.0.0.0/08',
    '10.0.0.0/8/8',
    '10.0.0.0/ 8',
    '10.0.0.0/1e1',
    '10.0.0/8',
    '256.0.0.0/8',
    '01.2.3.4',
    '1.2.3.4.5',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '12345::',
    'fe80::1%eth0',
    '::ffff:1.2.3',
  ])('rejects %j, naming it', (text) => {
    expect(() => p(text)).toThrow(PrefixFormatError);
    expect(() => p(text)).toThrow(`"${text}"`);
  });

  it('names the allowed length range', () => {
    expect(() => p('10.0.0.0/33')).toThrow('IPv4 prefix length must be 0 to 32');
    expect(() => p('::/129')).toThrow('IPv6 prefix length must be 0 to 128');
  });

  it('parseAddress refuses prefixes; formatAddress refuses odd lengths', () => {
    expect(() => a('10.0.0.0/8')).toThrow(PrefixFormatError);
    expect(() => formatAddress(new Uint8Array(5))).toThrow(RangeError);
  });
});

describe('prefixContains / prefixesOverlap', () => {
  it.each([
    ['10.0.0.0/8', '10.1.2.0/24', true, true],
    ['10.1.2.0/24', '10.0.0.0/8', false, true],
    ['10.0.0.0/8', '11.0.0.0/8', false, false],
    ['0.0.0.0/0', '198.18.0.1/32', true, true],
    ['fc00::/7', 'fd00:1::/64', true, true],
    ['fc00::/7', '10.0.0.0/8', false, false],
    ['192.168.1.0/24', '192.168.1.0/24', true, true],
  ])('%s and %s: contains %s, overlap %s', (outer, inner, contains, overlaps) => {
    expect(prefixContains(p(outer), p(inner))).toBe(contains);
    expect(prefixesOverlap(p(outer), p(inner))).toBe(overlaps);
    expect(prefixesOverlap(p(inner), p(outer))).toBe(overlaps);
  });

  it('tryParsePrefix answers undefined instead of throwing', () => {
    expect(tryParsePrefix('10.0.0.0/33')).toBeUndefined();
    expect(tryParsePrefix(42)).toBeUndefined();
    expect(tryParsePrefix('10.0.0.1/8')).toEqual(p('10.0.0.0/8'));
  });
});
