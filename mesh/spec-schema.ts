/**
 * JSON Schema (draft-07, validated with ajv 8) of the mesh spec (mesh/spec.ts). The schema says
 * the shape; mesh/validate.ts adds what a schema cannot (prefixes that parse and do not overlap
 * between sites, hub names that exist, NAT and endpoint rules, ...). Meant to be published as
 * schemas/mesh-spec.schema.json.
 */
import { DEFAULT_MTU, WIREGUARD_PORT } from '../common/defaults';
import { WIREGUARD_KEY_SCHEMA_PATTERN } from '../common/keys';

/** Site and mesh names: they name namespaces, cloud resources and agent peers. */
export const SITE_NAME_PATTERN = '^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$';
export const SITE_NAME_MESSAGE =
  'must be 1 to 32 letters, digits or dashes, starting and ending with a letter or digit';

const name = { type: 'string', pattern: SITE_NAME_PATTERN } as const;

const base64Key = { type: 'string', pattern: WIREGUARD_KEY_SCHEMA_PATTERN } as const;

export const meshSpecSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://wiremesh.dev/schemas/mesh-spec.schema.json',
  title: 'wiremesh mesh spec',
  description: 'The sites of a WireGuard site-to-site mesh and who talks to whom.',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'topology', 'sites'],
  properties: {
    name: { ...name, description: 'Name of the mesh.' },
    topology: {
      description:
        'hub-and-spoke (with "hubs", site names, the first being every spoke\'s primary hub) or full-mesh (no "hubs").',
      type: 'object',
      additionalProperties: false,
      required: ['type'],
      properties: {
        type: { enum: ['hub-and-spoke', 'full-mesh'] },
        hubs: { type: 'array', items: { type: 'string' } },
      },
    },
    defaults: {
      type: 'object',
      additionalProperties: false,
      properties: {
        listenPort: {
          type: 'integer',
          minimum: 1,
          maximum: 65535,
          description: `UDP port of every gateway (default ${WIREGUARD_PORT}).`,
        },
        mtu: { type: 'integer', minimum: 1280, maximum: 65535, description: `Inner MTU (default ${DEFAULT_MTU}).` },
        persistentKeepalive: {
          type: 'integer',
          minimum: 1,
          maximum: 65535,
          description: 'Keepalive, in seconds, set by a site behind NAT on its tunnels (default 25).',
        },
      },
    },
    sites: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'provider', 'cidrs'],
        properties: {
          name: { ...name, description: 'Unique; letters, digits and dashes.' },
          provider: { enum: ['aws', 'gcp', 'local', 'external'] },
          cidrs: {
            type: 'array',
            minItems: 1,
            items: { type: 'string' },
            description:
              "The site's own address ranges; never overlapping another site's. The first holds the gateways' tunnel addresses.",
          },
          gateways: { type: 'integer', minimum: 1, description: 'Gateways at the site (default 1).' },
          endpoint: {
            type: 'string',
            pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[^:\\s\\[\\]]+):\\d{1,5}$',
            description:
              'host:port or [IPv6]:port; absent when the site is behind NAT (and for local sites, which get one from the local target).',
          },
          behindNat: { type: 'boolean' },
          publicKey: { ...base64Key, description: 'Only for external sites: their WireGuard public key.' },
          fullTunnel: { type: 'boolean', description: 'Only for a hub: spokes send it everything (0.0.0.0/0, ::/0).' },
          cloud: { type: 'object', description: 'Provider-specific settings, read by the components.' },
        },
      },
    },
    presharedKeys: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['sites'],
        properties: { sites: { type: 'array', minItems: 2, maxItems: 2, items: { type: 'string' } } },
      },
    },
  },
} as const;
