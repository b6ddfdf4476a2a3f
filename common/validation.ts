/**
 * How wiremesh reports bad input, for the agent configuration and the mesh spec alike: every
 * problem at once, each with the JSON path of its field; ajv's schema errors turned into one
 * readable line per field; the YAML/JSON parse step; the port range check of host:port fields.
 */
import type { ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { splitHostPort } from './hostport';
import { withoutKeys } from './keys';

export interface ConfigProblem {
  /** JSON path of the offending field, e.g. $.peers[1].allowedIps[0]. */
  path: string;
  message: string;
}

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];

  /** Keys in paths and messages are replaced: both quote input, which may hold one where it should not. */
  constructor(problems: ConfigProblem[], what = 'configuration') {
    const redacted = problems.map((p) => ({ path: withoutKeys(p.path), message: withoutKeys(p.message) }));
    super(`invalid ${what}:\n${redacted.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`);
    this.problems = redacted;
  }
}

/** One step of a JSON path: `[3]`, `.name`, or `["any other name"]` (quoted, so the path stays one readable line). */
export function pathStep(name: string): string {
  if (/^\d+$/.test(name)) return `[${name}]`;
  if (/^[A-Za-z_$][\w$-]*$/.test(name)) return `.${name}`;
  return `[${JSON.stringify(name)}]`;
}

/** `/peers/0/allowedIps/1` -> `$.peers[0].allowedIps[1]`. */
export function jsonPath(pointer: string): string {
  if (pointer === '') return '$';
  return `$${pointer
    .split('/')
    .slice(1)
    .map((part) => pathStep(part.replace(/~1/g, '/').replace(/~0/g, '~')))
    .join('')}`;
}

/** What a document's schema failures mean in words, beyond ajv's defaults. */
export interface SchemaMessages {
  /** A `oneOf` whose branches are told apart by one field: the field and its value per branch. */
  oneOf?: { field: string; values: readonly string[] };
  /** The message for a `pattern` failure at this path, or undefined for a generic one. */
  pattern?(path: string): string | undefined;
}

function valueAt(document: unknown, pointer: string): unknown {
  let value = document;
  for (const part of pointer.split('/').slice(1)) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/**
 * Narrows ajv's errors under a failed `oneOf` to the branch the document chose by its
 * discriminator field, or to one line saying which values exist.
 */
function narrowOneOf(errors: ErrorObject[], document: unknown, oneOf: SchemaMessages['oneOf']): ErrorObject[] {
  if (!oneOf) return errors;
  let kept = errors;
  for (const failed of errors.filter((e) => e.keyword === 'oneOf')) {
    const chosen = (valueAt(document, failed.instancePath) as Record<string, unknown> | undefined)?.[oneOf.field];
    const branch = oneOf.values.indexOf(chosen as string);
    const inside = (e: ErrorObject): boolean => e.schemaPath.startsWith(failed.schemaPath.replace(/oneOf$/, 'oneOf/'));
    kept = kept.filter((e) => {
      if (e === failed) return branch === -1;
      if (!inside(e)) return true;
      return branch !== -1 && e.schemaPath.startsWith(`${failed.schemaPath}/${branch}/`);
    });
  }
  return kept;
}

/** One readable line per schema problem. */
export function schemaProblems(
  errors: ErrorObject[] | null | undefined,
  document: unknown,
  messages: SchemaMessages = {},
): ConfigProblem[] {
  const problems = new Map<string, ConfigProblem>();
  for (const error of narrowOneOf(errors ?? [], document, messages.oneOf)) {
    const path = jsonPath(error.instancePath);
    let message: string;
    switch (error.keyword) {
      case 'required': {
        const field = `${path}${pathStep(error.params.missingProperty as string)}`;
        problems.set(field, { path: field, message: 'is required' });
        continue;
      }
      case 'additionalProperties': {
        const field = `${path}${pathStep(error.params.additionalProperty as string)}`;
        problems.set(field, { path: field, message: 'is not a known field' });
        continue;
      }
      case 'oneOf':
        message = messages.oneOf
          ? `needs "${messages.oneOf.field}": one of ${messages.oneOf.values.join(', ')}`
          : (error.message ?? 'is invalid');
        break;
      case 'enum':
        message = `must be one of: ${(error.params.allowedValues as unknown[]).join(', ')}`;
        break;
      case 'pattern':
        message = messages.pattern?.(path) ?? 'has the wrong format';
        break;
      default:
        message = error.message ?? 'is invalid';
    }
    if (!problems.has(path)) problems.set(path, { path, message });
  }
  return [...problems.values()];
}

/**
 * Parses YAML (a superset of JSON). A syntax error or an empty document is a ConfigError at `$`;
 * `expected` says what the document should hold.
 */
export function parseDocument(text: string, what: string, expected: string): unknown {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    // The first line names the problem and its line and column; the rest is a code frame.
    throw new ConfigError(
      [
        {
          path: '$',
          message: `is not valid YAML or JSON: ${(error as Error).message.split('\n')[0]!.replace(/:$/, '')}`,
        },
      ],
      what,
    );
  }
  if (document === null || document === undefined)
    throw new ConfigError([{ path: '$', message: `is empty: expected ${expected}` }], what);
  return document;
}

/** Schemas allow five digits after the colon of host:port; the port must also fit in 16 bits. */
export function portProblem(hostPort: string | undefined, path: string, problems: ConfigProblem[], min = 1): void {
  if (hostPort === undefined) return;
  const { port } = splitHostPort(hostPort);
  if (port < min || port > 65535) problems.push({ path, message: `port ${port} is out of range (${min} to 65535)` });
}
