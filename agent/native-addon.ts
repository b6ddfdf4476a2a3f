/** Where node-gyp puts the native addon (agent/native), for the modules that load it. */
import { join } from 'node:path';
import { packageRoot } from './package-root';

export function nativeAddonPath(): string {
  return join(packageRoot(), 'build', 'Release', 'wiremesh_io.node');
}
