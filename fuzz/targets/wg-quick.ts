/** wg-quick `.conf` files: returns, or a ConfigError whose problems name the setting and line. */
import { parseWgQuickConfig } from '../../agent/gateway/wg-quick';
import type { FuzzTarget } from '../target';
import { expectConfigOutcome } from './config-outcome';
import { CIDR_TOKENS, KEY } from './tokens';

/** `file:line`, alone or after a setting name: `[Peer].Endpoint (/etc/wireguard/wm0.conf:12)`. */
const FILE_LOCATION = /\(?[^()]*:\d+\)?$|\([^()]+\)$/;

export const wgQuick: FuzzTarget = {
  name: 'wg-quick',
  modules: ['agent/gateway/wg-quick.js', 'agent/gateway/config.js', 'agent/crypto/keys.js'],
  dictionary: [
    '[Interface]\n',
    '[Peer]\n',
    'PrivateKey = ',
    'Address = ',
    'ListenPort = ',
    'MTU = ',
    'FwMark = ',
    'off',
    'PublicKey = ',
    'PresharedKey = ',
    'AllowedIPs = ',
    'Endpoint = ',
    'PersistentKeepalive = ',
    'PostUp = ',
    'DNS = ',
    'Table = ',
    'SaveConfig = ',
    ' = ',
    ', ',
    '#',
    '\n',
    KEY,
    `${KEY.slice(0, 43)}A`,
    ...CIDR_TOKENS,
  ],
  maxLength: 8192,
  run(input) {
    expectConfigOutcome(
      input.toString('utf8'),
      (text) => parseWgQuickConfig(text, 'wm0', '/etc/wireguard/wm0.conf'),
      FILE_LOCATION,
    );
  },
};
