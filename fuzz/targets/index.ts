/**
 * The fuzz targets by name, each loaded on demand: a worker loads only its own target, because
 * every function V8 has compiled makes each coverage take slower (all five loaded: about 5x).
 */
import type { FuzzTarget } from '../target';

const LOADERS: Record<string, () => FuzzTarget> = {
  wire: () => (require('./wire') as typeof import('./wire')).wire,
  uapi: () => (require('./uapi') as typeof import('./uapi')).uapi,
  'agent-config': () => (require('./agent-config') as typeof import('./agent-config')).agentConfig,
  'wg-quick': () => (require('./wg-quick') as typeof import('./wg-quick')).wgQuick,
  'mesh-spec': () => (require('./mesh-spec') as typeof import('./mesh-spec')).meshSpec,
};

export const TARGET_NAMES: readonly string[] = Object.keys(LOADERS);

export function loadTarget(name: string): FuzzTarget {
  const load = LOADERS[name];
  if (!load) throw new Error(`no fuzz target "${name}" (targets: ${TARGET_NAMES.join(', ')})`);
  return load();
}
