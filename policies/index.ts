/**
 * The wiremesh CrossGuard policy pack's entry point: the only module that constructs the
 * `PolicyPack`, which starts the analyzer's gRPC server and prints its port (see README.md).
 * Never import it from a program or a test; use ./policies (the list) or ./run (the offline runner).
 */
import { PolicyPack } from '@pulumi/policy';
import { policies, POLICY_PACK_NAME } from './policies';

new PolicyPack(POLICY_PACK_NAME, { policies });
