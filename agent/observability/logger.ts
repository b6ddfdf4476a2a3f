/**
 * The agent's structured JSON logger (pino) and the mapping from the core's DeviceEvents to log
 * lines with stable `event` names. Key material never reaches a log line: logEvents writes public
 * keys only in short form, and redaction censors secret-bearing field names in anything else.
 */
import pino, { type Level, type LevelWithSilent, type Logger } from 'pino';
import type { DeviceEvent } from '../core/device';
import type { Endpoint } from '../core/peer';
import { keyToBase64 } from '../crypto/keys';

export interface LoggerOptions {
  level: LevelWithSilent;
  /** File to append to; stderr when absent. */
  destination?: string;
  name: string;
}

/**
 * Field names whose values are censored. SecretString and SecretBinary (AWS GetSecretValue) and
 * payload (GCP AccessSecretVersion) cover a secret store response logged whole.
 */
export const REDACTED_FIELDS = [
  'privateKey',
  'presharedKey',
  'secret',
  'value',
  'SecretString',
  'SecretBinary',
  'payload',
] as const;

/**
 * pino's `*` matches exactly one level, so each field gets a path per depth: from the top level down
 * to this many objects or arrays deep.
 */
export const REDACTION_DEPTH = 6;

export const REDACTED_CENSOR = '[Redacted]';

export function createLogger(options: LoggerOptions): Logger {
  const paths = REDACTED_FIELDS.flatMap((field) =>
    Array.from({ length: REDACTION_DEPTH + 1 }, (_, depth) => `${'*.'.repeat(depth)}${field}`),
  );
  // Synchronous writes: the agent logs rarely, and a line written just before a crash must not be lost.
  const destination = pino.destination({
    dest: options.destination ?? 2,
    sync: true,
    mkdir: options.destination !== undefined,
  });
  return pino(
    {
      name: options.name,
      level: options.level,
      redact: { paths, censor: REDACTED_CENSOR },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

/** Stable values of the `event` field, one per kind of DeviceEvent (initiations split three ways). */
export type DeviceLogEvent =
  | 'handshake.initiated'
  | 'handshake.retry'
  | 'rekey.initiated'
  | 'handshake.complete'
  | 'handshake.gave_up'
  | 'keys.zeroed'
  | 'endpoint.changed'
  | 'cookie.sent';

/** wireguard-go's short form of a public key: the first and last four base64 characters. */
export function shortPublicKey(publicKeyBase64: string): string {
  const key = publicKeyBase64.replace(/=+$/, '');
  return `${key.slice(0, 4)}…${key.slice(-4)}`;
}

function formatEndpoint(endpoint: Endpoint): string {
  return endpoint.address.includes(':')
    ? `[${endpoint.address}]:${endpoint.port}`
    : `${endpoint.address}:${endpoint.port}`;
}

/**
 * A DeviceOutputs.event handler that logs each event. Routine handshake traffic (initiations every
 * two minutes per peer, cookies under load) is at debug; completions, key erasure and roaming at
 * info; a give-up, which means a peer is unreachable, at warn.
 */
export function logEvents(
  logger: Logger,
  resolvePeerName: (publicKeyBase64: string) => string | undefined,
): (event: DeviceEvent) => void {
  const write = (level: Level, event: DeviceLogEvent, fields: Record<string, unknown>, message: string): void => {
    logger[level]({ event, ...fields }, message);
  };
  const peerFields = (publicKey: Buffer): { peer?: string; publicKey: string } => {
    const base64 = keyToBase64(publicKey);
    const name = resolvePeerName(base64);
    return name === undefined
      ? { publicKey: shortPublicKey(base64) }
      : { peer: name, publicKey: shortPublicKey(base64) };
  };

  return (event) => {
    switch (event.type) {
      case 'handshake-initiated': {
        const fields = peerFields(event.peer.publicKey);
        if (event.retry)
          write(
            'debug',
            'handshake.retry',
            { ...fields, attempt: event.peer.handshakeAttempts },
            'handshake initiation retried',
          );
        else if (event.peer.current !== null) write('debug', 'rekey.initiated', fields, 'rekey initiated');
        else write('debug', 'handshake.initiated', fields, 'handshake initiated');
        return;
      }
      case 'handshake-complete':
        return write(
          'info',
          'handshake.complete',
          { ...peerFields(event.peer.publicKey), role: event.role },
          'handshake complete',
        );
      case 'handshake-gave-up':
        return write(
          'warn',
          'handshake.gave_up',
          peerFields(event.peer.publicKey),
          'handshake gave up; peer unreachable',
        );
      case 'keys-zeroed':
        return write('info', 'keys.zeroed', peerFields(event.peer.publicKey), 'session keys erased');
      case 'endpoint-changed':
        return write(
          'info',
          'endpoint.changed',
          { ...peerFields(event.peer.publicKey), endpoint: formatEndpoint(event.endpoint) },
          'peer endpoint changed',
        );
      case 'cookie-sent':
        return write(
          'debug',
          'cookie.sent',
          { endpoint: formatEndpoint(event.endpoint) },
          'under load: cookie reply sent',
        );
    }
  };
}
