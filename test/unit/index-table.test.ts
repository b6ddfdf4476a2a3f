import { IndexTable } from '../../agent/core/index-table';

describe('IndexTable', () => {
  it('names each entry by a fresh index and forgets it on delete', () => {
    const table = new IndexTable<string>();
    const a = table.allocate('a');
    const b = table.allocate('b');
    expect(a).not.toBe(b);
    expect(table.get(a)).toBe('a');
    expect(table.get(b)).toBe('b');
    table.delete(a);
    expect(table.get(a)).toBeUndefined();
    expect(table.size).toBe(1);
  });

  it('never hands out an index in use, however the random source collides', () => {
    const draws = [7, 7, 7, 9];
    const table = new IndexTable<string>(() => draws.shift()!);
    expect(table.allocate('first')).toBe(7);
    expect(table.allocate('second')).toBe(9);
    expect(table.get(7)).toBe('first');
  });

  it('allocates 32-bit unsigned indices by default', () => {
    const table = new IndexTable<number>();
    for (let i = 0; i < 100; i++) {
      const index = table.allocate(i);
      expect(Number.isInteger(index) && index >= 0 && index <= 0xffffffff).toBe(true);
    }
    expect(table.size).toBe(100);
  });
});
