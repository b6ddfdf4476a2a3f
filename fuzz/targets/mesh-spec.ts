/** The mesh spec (YAML or JSON): returns, or a ConfigError with JSON paths. */
import { parseMeshSpec } from '../../mesh/validate';
import type { FuzzTarget } from '../target';
import { JSON_PATH, expectConfigOutcome } from './config-outcome';
import { CIDR_TOKENS, YAML_TOKENS } from './tokens';

export const meshSpec: FuzzTarget = {
  name: 'mesh-spec',
  modules: ['mesh/validate.js'],
  dictionary: [
    'name: ',
    'topology:',
    'type: ',
    'full-mesh',
    'hub-and-spoke',
    'hubs: ',
    'defaults:',
    'listenPort: ',
    'mtu: ',
    'sites:',
    'provider: ',
    'local',
    'aws',
    'gcp',
    'cidrs: ',
    'region: ',
    'presharedKeys: ',
    'tunnel:',
    ...YAML_TOKENS,
    ...CIDR_TOKENS,
  ],
  maxLength: 8192,
  run(input) {
    expectConfigOutcome(input.toString('utf8'), parseMeshSpec, JSON_PATH);
  },
};
