/**
 * Suites that need the native addon: they run when it is built (build/Release), skip otherwise, and
 * under CI (CI=true) always run, so a missing build fails instead of passing by skipping.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../agent/package-root';

const built = existsSync(join(packageRoot(), 'build', 'Release', 'wiremesh_io.node'));

export const describeNative: jest.Describe = built || process.env.CI === 'true' ? describe : describe.skip;
