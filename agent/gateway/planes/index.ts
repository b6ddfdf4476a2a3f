/** Building a data plane by name, and what `auto` means on this host. */
import type { CommandRunner, DataPlane, DataPlaneName } from '../plane';
import { KernelPlane, kernelModuleAvailable } from './kernel';
import { WireguardGoPlane } from './wireguard-go';

/** The kernel module when the host has it; otherwise the userspace engine. */
export function autoDataPlane(): DataPlaneName {
  return kernelModuleAvailable() ? 'kernel' : 'userspace';
}

export function createDataPlane(kind: Exclude<DataPlaneName, 'userspace'>, runner: CommandRunner): DataPlane {
  return kind === 'kernel' ? new KernelPlane({ runner }) : new WireguardGoPlane({ runner });
}
