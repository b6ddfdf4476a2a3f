/**
 * wiremesh-wg's line logger, with wireguard-go's LOG_LEVEL values (verbose | error | silent; the
 * default logs errors and notable events). Never given key material.
 */
import { appendFileSync } from 'node:fs';
import type { DeviceLog } from './userspace-device';

export type LogLevel = 'verbose' | 'info' | 'error' | 'silent';

export function parseLogLevel(text: string | undefined): LogLevel {
  return text === 'verbose' || text === 'debug'
    ? 'verbose'
    : text === 'error'
      ? 'error'
      : text === 'silent'
        ? 'silent'
        : 'info';
}

export function lineLogger(interfaceName: string, level: LogLevel, logFile?: string): DeviceLog {
  const write = (tag: string, message: string): void => {
    const line = `${tag}: ${new Date().toISOString()} ${interfaceName}: ${message}\n`;
    if (logFile) appendFileSync(logFile, line);
    else process.stderr.write(line);
  };
  return {
    debug: (message) => level === 'verbose' && write('DEBUG', message),
    info: (message) => (level === 'verbose' || level === 'info') && write('INFO', message),
    error: (message) => level !== 'silent' && write('ERROR', message),
  };
}
