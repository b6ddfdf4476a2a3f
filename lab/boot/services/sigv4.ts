/**
 * Server side of AWS Signature Version 4 (header form), as the AWS SDK signs a JSON 1.1 call and
 * as S3 checks a GetObject (the SDK's, or `curl --aws-sigv4`'s):
 * rebuild the canonical request from what arrived, derive the signing key from the secret access
 * key, compare signatures in constant time. Source: the SigV4 documentation
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface SignedRequest {
  method: string;
  /** Path and query, as received. */
  path: string;
  /** Lower-case header names. */
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export type SigV4Result =
  | { ok: true; accessKeyId: string; region: string; service: string }
  | { ok: false; reason: string; accessKeyId?: string };

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/;
const MAX_SKEW_MS = 5 * 60_000;

const sha256 = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

function header(headers: SignedRequest['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** RFC 3986 encoding of one path segment or query component, as SigV4 wants it. */
function encode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function canonicalQuery(query: string): string {
  if (query === '') return '';
  return query
    .split('&')
    .map((pair) => pair.split('=').map((part) => encode(decodeURIComponent(part ?? ''))))
    .map(([k = '', v = '']) => [k, v] as const)
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/**
 * Verifies `request` against `secretFor(accessKeyId)` (undefined: unknown key). `payloadHash` is
 * what the canonical request ends with: the body's sha256 for JSON services; S3 signs the value of
 * its `x-amz-content-sha256` header instead (which may be `UNSIGNED-PAYLOAD`).
 */
export function verifySigV4(
  request: SignedRequest,
  secretFor: (accessKeyId: string) => string | undefined,
  now = Date.now(),
  payloadHash = sha256(request.body),
): SigV4Result {
  const match = AUTHORIZATION.exec(header(request.headers, 'authorization') ?? '');
  if (!match) return { ok: false, reason: 'missing or malformed SigV4 Authorization header' };
  const [, accessKeyId = '', date = '', region = '', service = '', signedHeaders = '', signature = ''] = match;
  const secret = secretFor(accessKeyId);
  if (secret === undefined) return { ok: false, reason: 'unknown access key', accessKeyId };
  const amzDate = header(request.headers, 'x-amz-date') ?? '';
  const stamp = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!stamp || !amzDate.startsWith(date)) return { ok: false, reason: 'bad X-Amz-Date', accessKeyId };
  const signedAt = Date.UTC(+stamp[1]!, +stamp[2]! - 1, +stamp[3]!, +stamp[4]!, +stamp[5]!, +stamp[6]!);
  if (Math.abs(now - signedAt) > MAX_SKEW_MS)
    return { ok: false, reason: 'signature expired (clock skew)', accessKeyId };
  const names = signedHeaders.split(';');
  if (!names.includes('host')) return { ok: false, reason: 'host is not signed', accessKeyId };
  const canonicalHeaders = names
    .map((name) => `${name}:${(header(request.headers, name) ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const [path = '/', query = ''] = request.path.split('?', 2) as [string, string?];
  const canonicalRequest = [
    request.method,
    path,
    canonicalQuery(query),
    canonicalHeaders,
    signedHeaders,
    payloadHash,
  ].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
  const expected = createHmac('sha256', key).update(stringToSign, 'utf8').digest();
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex')))
    return { ok: false, reason: 'signature does not match', accessKeyId };
  return { ok: true, accessKeyId, region, service };
}
