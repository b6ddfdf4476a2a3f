/** What an AWS SDK call's failure says, without the raw response: shared by the secret store and the EC2 route calls. */

const THROTTLING_ERRORS = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'Throttling',
]);

/**
 * Names the failure from the error's class, HTTP status or errno only: SDK errors keep the raw
 * response in hidden fields, so neither the error nor its message is passed on.
 */
export function classifyAwsError(error: unknown): { failure: string; retryable: boolean } {
  const details = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: unknown;
    code?: unknown;
    $metadata?: { httpStatusCode?: number };
  };
  const name = typeof details.name === 'string' ? details.name : 'unknown error';
  const status = details.$metadata?.httpStatusCode;
  if (name === 'CredentialsProviderError')
    return { failure: 'no AWS credentials could be obtained (CredentialsProviderError)', retryable: true };
  if (status !== undefined) {
    const retryable = status >= 500 || status === 429 || THROTTLING_ERRORS.has(name);
    return { failure: `${name} (HTTP ${status})`, retryable };
  }
  // No HTTP answer at all: refused, reset, timed out. The store may come back.
  const cause = [
    name === 'Error' ? undefined : name,
    typeof details.code === 'string' ? details.code : undefined,
  ].filter(Boolean);
  return { failure: `no answer from the service${cause.length > 0 ? ` (${cause.join(' ')})` : ''}`, retryable: true };
}
