/**
 * Validate once, at the edge: a component checks its arguments when it is constructed directly,
 * and skips the checks when whoever builds it (WireGuardMesh, a gateway group) has already run the
 * same check on the same arguments object. One validation path, run once, reported under the name
 * of the component the user wrote.
 */

/** A memoizing argument check `(...who, args) => checked` (keyed by `args`), with ways to hand the result on. */
export interface OnceValidator<P extends unknown[], A extends object, V> {
  (...params: [...P, A]): V;
  /** Records `checked` as the result for `args` (arguments a parent built from arguments it checked). */
  seed(args: A, checked: V): A;
  /** Gives `to` (a copy of `from` with fields the check does not read) the result of `from`. */
  carry(from: A, to: A): A;
}

export function validatedOnce<P extends unknown[], A extends object, V>(check: (...params: [...P, A]) => V): OnceValidator<P, A, V> {
  const done = new WeakMap<A, V>();
  const isObject = (args: A): boolean => typeof args === 'object' && args !== null;
  const validator = ((...params: [...P, A]): V => {
    const args = params[params.length - 1] as A;
    if (isObject(args) && done.has(args)) return done.get(args)!;
    const checked = check(...params);
    if (isObject(args)) done.set(args, checked);
    return checked;
  }) as OnceValidator<P, A, V>;
  validator.seed = (args, checked) => {
    done.set(args, checked);
    return args;
  };
  validator.carry = (from, to) => {
    if (done.has(from)) done.set(to, done.get(from)!);
    return to;
  };
  return validator;
}
