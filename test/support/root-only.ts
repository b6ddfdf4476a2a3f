/**
 * Network tests need root and real tools. Locally they skip (saying why) when either is missing;
 * under CI (CI=true) a missing requirement fails the run instead, so CI never passes by skipping.
 */
import { hasCommand, isRoot } from '../../lab/netns';

export function describeWithRoot(what: string, commands: string[]): jest.Describe {
  const missing = [...(isRoot() ? [] : ['root']), ...commands.filter((command) => !hasCommand(command))];
  if (missing.length === 0) return describe;
  if (process.env.CI === 'true') throw new Error(`CI must run the ${what}: missing ${missing.join(', ')}`);
  return describe.skip;
}
