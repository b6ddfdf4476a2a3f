/**
 * Each example program compiles and runs the way `pulumi up` runs it: Pulumi.yaml's `main` names
 * the program, and test/components/example-runner.cjs loads it through ts-node registered with
 * Pulumi's own options (type checking on), under the example's mocks, with both the project's
 * ts-node and the ts-node@7.0.1 @pulumi/pulumi falls back to.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';

const root = join(__dirname, '../..');
const examples = ['aws-gcp', 'hub-spoke-ha', 'existing-vpc'];

describe.each(examples)("examples/%s under Pulumi's TypeScript loader", (example) => {
  const dir = join(root, 'examples', example);

  test('Pulumi.yaml runs index.ts with TypeScript on', () => {
    const project = parseYaml(readFileSync(join(dir, 'Pulumi.yaml'), 'utf8')) as {
      main?: string;
      runtime: { name: string; options?: Record<string, unknown> };
    };
    expect(project.main).toBe('index.ts');
    expect(project.runtime).toEqual({ name: 'nodejs', options: { typescript: true } });
  });

  test.each(['project', 'vendored'])(
    'type-checks and registers its gateways (%s ts-node)',
    (loader) => {
      const stdout = execFileSync(process.execPath, [join(__dirname, 'example-runner.cjs'), dir, loader], {
        cwd: dir,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const types = JSON.parse(stdout.trim().split('\n').at(-1)!) as string[];
      expect(types.some((t) => t === 'aws:ec2/instance:Instance')).toBe(true);
    },
    120_000,
  );
});
