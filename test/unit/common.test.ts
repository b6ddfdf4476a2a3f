import { joinHostPort, splitHostPort } from '../../common/hostport';
import { WIREGUARD_KEY_EXACT, wireguardKeysIn } from '../../common/keys';

describe('splitHostPort / joinHostPort', () => {
  it.each([
    ['198.18.0.1:51820', '198.18.0.1', 51820],
    ['[fd00::1]:51820', 'fd00::1', 51820],
    ['gw.example.net:9587', 'gw.example.net', 9587],
    ['0.0.0.0:x', '0.0.0.0', Number.NaN],
    ['noport', 'noport', Number.NaN],
  ])('%s', (text, host, port) => {
    expect(splitHostPort(text)).toEqual({ host, port });
  });

  it('round-trips both families', () => {
    expect(joinHostPort('fd00::1', 51820)).toBe('[fd00::1]:51820');
    expect(joinHostPort('198.18.0.1', 51820)).toBe('198.18.0.1:51820');
    expect(splitHostPort(joinHostPort('fd00::1', 1))).toEqual({ host: 'fd00::1', port: 1 });
  });
});

describe('WireGuard key text', () => {
  const key = Buffer.alloc(32, 7).toString('base64');
  it('accepts a key and refuses a non-canonical last character', () => {
    expect(WIREGUARD_KEY_EXACT.test(key)).toBe(true);
    expect(WIREGUARD_KEY_EXACT.test(`${key.slice(0, 42)}B=`)).toBe(false);
  });
  it('finds a key in text but not inside a longer base64 run', () => {
    expect(wireguardKeysIn(`key=${key}\n`)).toHaveLength(1);
    expect(wireguardKeysIn(`AAAA${key}`)).toHaveLength(0);
  });
});
