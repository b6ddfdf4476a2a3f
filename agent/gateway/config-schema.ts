/**
 * JSON Schema (draft-07, validated with ajv 8) of the agent configuration. Published as
 * schemas/agent-config.schema.json by `npm run schemas`; a test keeps the two identical.
 */
import { WIREGUARD_KEY_SCHEMA_PATTERN } from '../../common/keys';
import { MAX_THREADS } from '../wg/send-share';
const secretSource = {
  oneOf: [
    {
      type: 'object',
      additionalProperties: false,
      required: ['source', 'path'],
      properties: { source: { const: 'file' }, path: { type: 'string', minLength: 1 } },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['source', 'secretId'],
      properties: {
        source: { const: 'aws-secrets-manager' },
        secretId: { type: 'string', minLength: 1 },
        region: { type: 'string', minLength: 1 },
        endpoint: { type: 'string', minLength: 1 },
        versionStage: { type: 'string', minLength: 1 },
        versionId: { type: 'string', minLength: 1 },
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['source', 'name'],
      properties: {
        source: { const: 'gcp-secret-manager' },
        name: { type: 'string', pattern: '^projects/[^/]+/secrets/[^/]+(/versions/[^/]+)?$' },
        endpoint: { type: 'string', minLength: 1 },
      },
    },
  ],
} as const;

/** A configuration document: the same stores as keys (a file, or a secret polled by version). */
const configSource = {
  oneOf: secretSource.oneOf.map((form) =>
    form.properties.source.const === 'file'
      ? form
      : { ...form, properties: { ...form.properties, pollSeconds: { type: 'integer', minimum: 1 } } },
  ),
} as const;

const listen = {
  type: 'object',
  additionalProperties: false,
  required: ['listen'],
  properties: { listen: { type: 'string', pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[^:\\s]+):\\d{1,5}$' } },
} as const;

const base64Key = { type: 'string', pattern: WIREGUARD_KEY_SCHEMA_PATTERN } as const;

/** An instant in UTC, as toISOString() writes it (seconds, optional fraction). */
export const INSTANT_PATTERN = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?Z$';
const instant = { type: 'string', pattern: INSTANT_PATTERN } as const;

export const agentConfigSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://wiremesh.dev/schemas/agent-config.schema.json',
  title: 'wiremesh-agent configuration',
  type: 'object',
  additionalProperties: false,
  required: ['interface', 'privateKey', 'peers'],
  properties: {
    interface: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'addresses'],
      properties: {
        name: { type: 'string', pattern: '^[A-Za-z0-9_=+.-]{1,15}$' },
        addresses: { type: 'array', items: { type: 'string' } },
        listenPort: { type: 'integer', minimum: 0, maximum: 65535 },
        mtu: { type: 'integer', minimum: 1280, maximum: 65535 },
        fwmark: { type: 'integer', minimum: 0, maximum: 4294967295 },
      },
    },
    privateKey: secretSource,
    nextPrivateKey: secretSource,
    switchAt: instant,
    peers: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'publicKey', 'allowedIps'],
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,63}$' },
          publicKey: base64Key,
          nextPublicKey: base64Key,
          switchAt: instant,
          presharedKey: secretSource,
          endpoint: { type: 'string', pattern: '^(\\[[0-9A-Fa-f:.]+(%[^\\]]+)?\\]|[^:\\s\\[\\]]+):\\d{1,5}$' },
          allowedIps: { type: 'array', items: { type: 'string' } },
          persistentKeepalive: { type: 'integer', minimum: 0, maximum: 65535 },
          fullTunnel: { type: 'boolean' },
        },
      },
    },
    routes: { type: 'array', items: { type: 'string' } },
    dataPlane: { enum: ['auto', 'userspace', 'kernel', 'wireguard-go'] },
    threads: { type: 'integer', minimum: 1, maximum: MAX_THREADS },
    forwarding: { type: 'boolean' },
    metrics: {
      type: 'object',
      additionalProperties: false,
      properties: { listen: listen.properties.listen, allowedIpsLabel: { type: 'boolean' } },
    },
    health: {
      type: 'object',
      additionalProperties: false,
      required: ['listen'],
      properties: {
        listen: listen.properties.listen,
        requiredPeers: { type: 'array', items: { type: 'string' } },
        maxHandshakeAgeSeconds: { type: 'integer', minimum: 1 },
      },
    },
    configSource: configSource,
    statusFile: { type: 'string', minLength: 1 },
    failover: {
      type: 'object',
      additionalProperties: false,
      required: ['provider', 'members', 'routeTableIds', 'destinations'],
      properties: {
        provider: { const: 'aws-ec2' },
        region: { type: 'string', minLength: 1 },
        endpoint: { type: 'string', minLength: 1 },
        members: {
          type: 'array',
          minItems: 2,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['networkInterfaceId', 'address'],
            properties: {
              networkInterfaceId: { type: 'string', pattern: '^eni-[0-9A-Za-z]+$' },
              address: { type: 'string', minLength: 1 },
            },
          },
        },
        routeTableIds: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^rtb-[0-9A-Za-z]+$' } },
        destinations: { type: 'array', minItems: 1, items: { type: 'string' } },
        probeIntervalSeconds: { type: 'integer', minimum: 1, maximum: 60 },
        failedProbes: { type: 'integer', minimum: 1, maximum: 20 },
        probeTimeoutMs: { type: 'integer', minimum: 100, maximum: 10000 },
        routeCheckSeconds: { type: 'integer', minimum: 1, maximum: 3600 },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      properties: {
        level: { enum: ['debug', 'info', 'warn', 'error'] },
        file: { type: 'string', minLength: 1 },
      },
    },
  },
} as const;
