/**
 * The native addon (agent/native), loaded once through node-gyp-build: a local build (build/Release,
 * a development checkout) or the package's prebuild for this platform (prebuilds/<platform>-<arch>/).
 */
import { packageRoot } from './package-root';

let loaded: { addon: unknown } | { error: Error } | undefined;

/** The addon's exports; throws node-gyp-build's error when there is none for this platform. */
export function loadNativeAddon(): unknown {
  if (!loaded) {
    try {
      loaded = { addon: (require('node-gyp-build') as (directory: string) => unknown)(packageRoot()) };
    } catch (error) {
      loaded = { error: error as Error };
    }
  }
  if ('error' in loaded) throw loaded.error;
  return loaded.addon;
}

export function nativeAddonAvailable(): boolean {
  try {
    loadNativeAddon();
    return true;
  } catch {
    return false;
  }
}
