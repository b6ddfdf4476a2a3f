// @ts-check
/**
 * The wiremesh CrossGuard policy pack: the policies are the `wiremesh/policies` library; this file
 * only serves them (constructing the PolicyPack starts the analyzer's gRPC server and prints its
 * port for the engine). Installed (`npm install` here, or the engine installing a published pack)
 * the rules come from the `wiremesh` dependency; in a built wiremesh checkout, from its build.
 */
'use strict';
const { PolicyPack } = require('@pulumi/policy');

function rules() {
  try {
    return require('wiremesh/policies');
  } catch (error) {
    const notInstalled =
      /** @type {NodeJS.ErrnoException} */ (error).code === 'MODULE_NOT_FOUND' &&
      /'wiremesh\/policies'/.test(String(/** @type {Error} */ (error).message));
    if (!notInstalled) throw error;
    return require('../dist/policies/policies');
  }
}

const { policies, POLICY_PACK_NAME } = rules();
new PolicyPack(POLICY_PACK_NAME, { policies });
