/**
 * The ajv settings every wiremesh schema is compiled with: every error collected, no unknown
 * keywords. Its own module so that loading common/validation.ts does not load ajv's compiler (the
 * agent validates with a validator compiled ahead of time, see scripts/write-schemas.ts).
 */
import Ajv, { type AnySchema, type ValidateFunction } from 'ajv';

export const SCHEMA_COMPILER_OPTIONS = { allErrors: true, strict: true, allowUnionTypes: true } as const;

export function compileSchema(schema: AnySchema): ValidateFunction {
  return new Ajv(SCHEMA_COMPILER_OPTIONS).compile(schema);
}
