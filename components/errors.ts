/**
 * The one error type of the components and the helpers every argument check uses. The Pulumi mocks
 * accept anything and the cloud APIs reject late (or, worse, accept something that routes wrongly),
 * so every component checks what it can while the program runs and throws a
 * {@link ComponentArgumentError} whose message names the component, its name and the argument path
 * (`AwsGateway "site-a": agent.config.interface.listenPort is 51821 but ...`).
 *
 * Values that are still `Output`s when the constructor runs are checked once they resolve, through
 * {@link checkedInput}: the failure then surfaces as the deployment error of the resource they feed.
 */
import * as pulumi from '@pulumi/pulumi';

/** Thrown for an invalid component argument; the message says which component, which argument, why. */
export class ComponentArgumentError extends Error {
  override readonly name = 'ComponentArgumentError';
}

/** `AwsGateway "site-a"`: the prefix of every message, so a stack with many components stays readable. */
export function componentLabel(kind: string, name: string): string {
  return `${kind} "${name}"`;
}

/** Throws `<component> "<name>": <message>` as a {@link ComponentArgumentError}. */
export function fail(component: string, name: string, message: string): never {
  throw new ComponentArgumentError(`${componentLabel(component, name)}: ${message}`);
}

/** A short description of a value for a message; never the value of a string longer than 64. */
export function describe(value: unknown): string {
  if (typeof value === 'string')
    return value.length > 64 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (value === undefined || value === null || typeof value === 'number' || typeof value === 'boolean')
    return String(value);
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/**
 * Checks a late value when it resolves: `check` runs on the value (and throws a
 * ComponentArgumentError), a plain value is checked at once. The result carries the value on, so
 * the resource it feeds fails to register with the check's message instead of being sent to the cloud.
 */
export function checkedInput<T>(
  value: pulumi.Input<T>,
  check: (resolved: pulumi.Unwrap<T>) => void,
): pulumi.Output<pulumi.Unwrap<T>> {
  if (!pulumi.Output.isInstance(value) && !isPromiseLike(value)) check(value as pulumi.Unwrap<T>);
  return pulumi.output(value).apply((resolved) => {
    check(resolved);
    return resolved;
  });
}

/** True when a value holds no Output or Promise anywhere (it can be checked now). */
export function isPlain(value: unknown): boolean {
  if (pulumi.Output.isInstance(value) || value instanceof Promise) return false;
  if (Array.isArray(value)) return value.every(isPlain);
  if (typeof value === 'object' && value !== null && !Buffer.isBuffer(value))
    return Object.values(value).every(isPlain);
  return true;
}

/**
 * A secret argument (a private key): refused at once when plain (a plain value is stored
 * unencrypted in the stack state), and when it resolves if the Output was not a secret.
 */
export function requireSecretOutput(
  label: string,
  what: string,
  value: pulumi.Input<string> | undefined,
): pulumi.Output<string> {
  if (value === undefined || value === null) throw new ComponentArgumentError(`${label}: ${what} is required`);
  if (!pulumi.Output.isInstance(value)) {
    throw new ComponentArgumentError(
      `${label}: ${what} must be a secret Output (WireGuardKey.privateKey or pulumi.secret(...)), not a plain ${typeof value}: ` +
        'a plain value is stored unencrypted in the stack state',
    );
  }
  const output = value as pulumi.Output<string>;
  // One failing Output at the top (secret, since one of its inputs is): nothing else rejects.
  return pulumi.all([pulumi.secret(output), pulumi.output(pulumi.isSecret(output))]).apply(([key, secret]) => {
    if (!secret)
      throw new ComponentArgumentError(
        `${label}: ${what} must be a secret Output (wrap it with pulumi.secret(...)); it was a plain Output`,
      );
    return key;
  });
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
