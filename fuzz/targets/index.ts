import type { FuzzTarget } from '../target';
import { agentConfig, meshSpec, uapi, wgQuick } from './text';
import { wire } from './wire';

export const TARGETS: readonly FuzzTarget[] = [wire, uapi, agentConfig, wgQuick, meshSpec];

export function targetNamed(name: string): FuzzTarget {
  const target = TARGETS.find((t) => t.name === name);
  if (!target) throw new Error(`no fuzz target "${name}" (targets: ${TARGETS.map((t) => t.name).join(', ')})`);
  return target;
}
