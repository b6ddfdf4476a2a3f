/**
 * A probe of another group member's /healthz. A member is up when it answers and its report says
 * the agent has started and its interface is up: the required peers' handshakes do not count, since
 * a standby holds no sessions and a takeover on a stale peer would only move the routes between
 * members that both lack it.
 */
import { request } from 'node:http';
import { joinHostPort } from '../../../common/hostport';

/** Whether a /healthz answer (status and body) says the member runs. */
export function memberIsUp(status: number, body: string): boolean {
  if (status !== 200 && status !== 503) return false;
  let report: { checks?: Array<{ name?: unknown; ok?: unknown }> };
  try {
    report = JSON.parse(body) as typeof report;
  } catch {
    return false;
  }
  const checks = Array.isArray(report.checks) ? report.checks : [];
  const failed = (name: string): boolean => checks.some((check) => check.name === name && check.ok !== true);
  return checks.some((check) => check.name === 'interface') && !failed('interface') && !failed('start');
}

/** GET http://address:port/healthz within `timeoutMs`; false on any error or timeout. */
export function probeMember(address: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      { method: 'GET', host: address, port, path: '/healthz', timeout: timeoutMs, agent: false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve(memberIsUp(response.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'))));
        response.on('error', () => resolve(false));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${joinHostPort(address, port)} in ${timeoutMs} ms`)));
    req.on('error', () => resolve(false));
    req.end();
  });
}
