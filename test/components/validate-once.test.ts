/** components/validate-once.ts: one check per arguments object, handed on to what a parent builds. */
import { validatedOnce } from '../../components/validate-once';

describe('validatedOnce', () => {
  test('runs the check once per arguments object, and again for another object', () => {
    const seen: string[] = [];
    const validate = validatedOnce((label: string, args: { n: number }) => {
      seen.push(label);
      if (args.n < 0) throw new Error(`${label}: n must not be negative`);
      return { doubled: args.n * 2 };
    });
    const args = { n: 2 };
    expect(validate('A', args)).toEqual({ doubled: 4 });
    expect(validate('A', args)).toEqual({ doubled: 4 });
    expect(seen).toEqual(['A']);
    expect(validate('A', { n: 2 })).toEqual({ doubled: 4 });
    expect(seen).toEqual(['A', 'A']);
    expect(() => validate('D', { n: -1 })).toThrow('D: n must not be negative');
  });

  test('the same object checked for another name is checked again (defaults may derive from the name)', () => {
    const validate = validatedOnce((_component: string, name: string, _args: object) => `sa-${name}`);
    const args = {};
    expect(validate('GcpGateway', 'a', args)).toBe('sa-a');
    expect(validate('GcpGateway', 'b', args)).toBe('sa-b');
    expect(validate('GcpGateway', 'b', args)).toBe('sa-b');
  });

  test('a refused object is checked again (and refused again)', () => {
    let runs = 0;
    const validate = validatedOnce((_label: string, _args: object) => {
      runs++;
      throw new Error('no');
    });
    const args = {};
    expect(() => validate('x', args)).toThrow('no');
    expect(() => validate('x', args)).toThrow('no');
    expect(runs).toBe(2);
  });

  test('seed and carry hand a result on without checking (seeded: for whoever builds from it)', () => {
    let runs = 0;
    const validate = validatedOnce((_component: string, _name: string, args: { n: number }) => {
      runs++;
      return args.n;
    });
    const built = validate.seed({ n: 1 }, 42);
    expect(validate('GcpGateway', 'gw', built)).toBe(42);
    const from = { n: 5 };
    validate('GcpGateway', 'gw', from);
    expect(validate('GcpGateway', 'gw', validate.carry(from, { ...from }))).toBe(5);
    expect(runs).toBe(1);
  });
});
