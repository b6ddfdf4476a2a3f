/** The directory of wiremesh's package.json, found from any compiled or source location. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

let cached: string | undefined;

export function packageRoot(): string {
  if (cached) return cached;
  let dir = __dirname;
  while (!existsSync(join(dir, 'binding.gyp'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('wiremesh: cannot find the package root (binding.gyp)');
    dir = parent;
  }
  cached = dir;
  return dir;
}
