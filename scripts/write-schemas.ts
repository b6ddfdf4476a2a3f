/**
 * `npm run schemas`: writes the published JSON Schemas from their TypeScript definitions.
 * test/unit/agent-config.test.ts fails when a committed schema differs from its definition.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentConfigSchema } from '../agent/gateway/config-schema';
import { packageRoot } from '../agent/package-root';
import { meshSpecSchema } from '../mesh/spec-schema';

/** The file's exact text: two-space JSON and a trailing newline. */
export function schemaText(schema: unknown): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}

export const SCHEMAS: ReadonlyArray<{ file: string; schema: unknown }> = [
  { file: 'schemas/agent-config.schema.json', schema: agentConfigSchema },
  { file: 'schemas/mesh-spec.schema.json', schema: meshSpecSchema },
];

export function writeSchemas(root = packageRoot()): string[] {
  return SCHEMAS.map(({ file, schema }) => {
    const path = join(root, file);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, schemaText(schema));
    return file;
  });
}

if (require.main === module) {
  for (const file of writeSchemas()) process.stdout.write(`wrote ${file}\n`);
}
