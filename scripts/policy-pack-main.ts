/**
 * The policy pack's entry point, bundled with the rules into policy-pack/index.js by
 * scripts/bundle-policy-pack.ts (so the pack folder needs no wiremesh package). Constructing the
 * PolicyPack starts the analyzer's gRPC server and prints its port for the engine: nothing imports
 * this module, tests launch the built pack. It lives in scripts/, which the package does not ship:
 * no module of the `wiremesh/policies` library constructs a pack.
 */
import { PolicyPack } from '@pulumi/policy';
import { POLICY_PACK_NAME, policies } from '../policies/policies';

new PolicyPack(POLICY_PACK_NAME, { policies });
