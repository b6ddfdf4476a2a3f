/**
 * gaxios (under google-auth-library) loads node-fetch with import(), which Jest's VM refuses unless
 * node runs with --experimental-vm-modules. Tests that run the real GCP client give gaxios Node's
 * built-in fetch instead; every other layer (gax REST transport, google-auth-library, gcp-metadata)
 * stays the real one. Use: `jest.mock('gaxios', () => require('../support/gaxios-fetch').builtInFetchGaxios());`
 */
import type { GaxiosOptions } from 'gaxios';

export function builtInFetchGaxios(): typeof import('gaxios') {
  const gaxios = jest.requireActual<typeof import('gaxios')>('gaxios');
  gaxios.instance.defaults.fetchImplementation = fetch;
  class BuiltInFetchGaxios extends gaxios.Gaxios {
    constructor(defaults?: GaxiosOptions) {
      super({ fetchImplementation: fetch, ...defaults });
    }
  }
  return { ...gaxios, Gaxios: BuiltInFetchGaxios };
}
