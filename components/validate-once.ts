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

export function validatedOnce<P extends unknown[], A extends object, V>(
  check: (...params: [...P, A]) => V,
): OnceValidator<P, A, V> {
  // Per arguments object: the result, and who it was checked for (undefined: handed on by a parent).
  const done = new WeakMap<A, { who: unknown[] | undefined; checked: V }>();
  const isObject = (args: A): boolean => typeof args === 'object' && args !== null;
  const validator = ((...params: [...P, A]): V => {
    const args = params[params.length - 1] as A;
    const who = params.slice(0, -1);
    const entry = isObject(args) ? done.get(args) : undefined;
    // The same object checked for another name (a default derived from it may differ): check again.
    if (entry !== undefined && (entry.who === undefined || sameParams(entry.who, who))) return entry.checked;
    const checked = check(...params);
    if (isObject(args)) done.set(args, { who, checked });
    return checked;
  }) as OnceValidator<P, A, V>;
  validator.seed = (args, checked) => {
    done.set(args, { who: undefined, checked });
    return args;
  };
  validator.carry = (from, to) => {
    const entry = done.get(from);
    if (entry !== undefined) done.set(to, entry);
    return to;
  };
  return validator;
}

function sameParams(a: unknown[], b: unknown[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}
