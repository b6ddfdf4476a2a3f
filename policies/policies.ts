/**
 * The wiremesh policies, the package's `wiremesh/policies` export: a list for `new PolicyPack(...)`
 * (policy-pack/index.js, or a pack of your own) and for the offline runner (policies/run.ts).
 * Importing this module starts nothing: constructing a pack serves it over gRPC, and no module
 * here does that.
 */
import type { Policies } from '@pulumi/policy';
import { gatewayAttachedIngress } from './attached-ingress';
import { gatewayImdsv2, gatewayIngress, forwardingOnlyOnGateways, noPublicAdminPorts } from './exposure';
import { wireguardHygiene } from './hygiene';
import { keySecretAccess } from './key-access';
import { keyMaterial, keySecretKms, noKeysInOutputs } from './key-handling';
import { keyRotation } from './key-rotation';
import { externalKeyExpiry, revokedKeys, rotationWindow } from './key-schedule';

export { gatewayAttachedIngress } from './attached-ingress';
export { gatewayImdsv2, gatewayIngress, forwardingOnlyOnGateways, noPublicAdminPorts } from './exposure';
export { wireguardHygiene } from './hygiene';
export { keySecretAccess } from './key-access';
export { keyMaterial, keySecretKms, noKeysInOutputs } from './key-handling';
export { keyRotation } from './key-rotation';
export { externalKeyExpiry, revokedKeys, rotationWindow } from './key-schedule';

/** The policy pack's name. */
export const POLICY_PACK_NAME = 'wiremesh';

/** Every policy of the pack, in the order the analyzer runs them. */
export const policies: Policies = [
  keyRotation,
  rotationWindow,
  revokedKeys,
  externalKeyExpiry,
  keyMaterial,
  noKeysInOutputs,
  keySecretKms,
  keySecretAccess,
  gatewayIngress,
  gatewayAttachedIngress,
  noPublicAdminPorts,
  gatewayImdsv2,
  forwardingOnlyOnGateways,
  wireguardHygiene,
];
