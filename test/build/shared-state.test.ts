// The comparison behind the clone-uniqueness check: which result fields clones share although plain starts
// do not. Pure logic; the real check (restores and plain starts) is in clone-check.test.ts.
import { describe, expect, it } from 'vitest';
import { leaves, sharedStatePaths } from '../../src/build/shared-state.ts';

const nowMs = Date.parse('2026-11-28T12:00:00Z');
const compare = (plain: [unknown, unknown], clones: [unknown, unknown]) => sharedStatePaths(plain, clones, { nowMs });

describe('sharedStatePaths', () => {
  it('names a field that differs between plain starts but is equal in both clones', () => {
    const paths = compare(
      [{ id: 'V1StGXR8_Z5jdHi6B-myT', n: 0.8444218515250481 }, { id: 'Uakgb_J5m9g-0JDMbcJqL', n: 0.7579544029403025 }],
      [{ id: 'x9d3ZpQ0aLr8kT2vB6nYc', n: 0.4205715808308452 }, { id: 'x9d3ZpQ0aLr8kT2vB6nYc', n: 0.2589167503454527 }],
    );
    expect(paths).toEqual(['$.id']);
  });

  it('finds fields in nested objects, arrays and odd keys, and a bare result', () => {
    const plain: [unknown, unknown] = [{ a: [{ 'b c': 'aaaaaaaa1' }] }, { a: [{ 'b c': 'aaaaaaaa2' }] }];
    expect(compare(plain, [{ a: [{ 'b c': 'zzzzzzzzz' }] }, { a: [{ 'b c': 'zzzzzzzzz' }] }])).toEqual(['$.a[0]["b c"]']);
    expect(compare(['token-one-1', 'token-two-2'], ['token-same', 'token-same'])).toEqual(['$']);
  });

  it('is quiet when clones differ, when plain starts agree, or when a field is missing somewhere', () => {
    expect(compare([{ id: 'aaaaaaaaaa' }, { id: 'bbbbbbbbbb' }], [{ id: 'cccccccccc' }, { id: 'dddddddddd' }])).toEqual([]);
    expect(compare([{ v: 'constant-value' }, { v: 'constant-value' }], [{ v: 'constant-value' }, { v: 'constant-value' }])).toEqual([]);
    expect(compare([{ id: 'aaaaaaaaaa' }, { id: 'bbbbbbbbbb' }], [{ other: 'cccccccccc' }, { other: 'cccccccccc' }])).toEqual([]);
  });

  it('does not compare values two processes can give alike by chance, nor times', () => {
    const plain: [unknown, unknown] = [
      { flag: true, count: 3, ms: 123.4, short: 'abc', at: '2026-11-28T11:59:58.120Z', epochMs: nowMs - 2_000, epochS: nowMs / 1000 - 2.5 },
      { flag: false, count: 4, ms: 118.9, short: 'abd', at: '2026-11-28T11:59:59.310Z', epochMs: nowMs - 1_000, epochS: nowMs / 1000 - 1.25 },
    ];
    const same = { flag: true, count: 5, ms: 120.2, short: 'xyz', at: '2026-11-28T11:00:00.000Z', epochMs: nowMs - 60_000, epochS: nowMs / 1000 - 60.5 };
    expect(compare(plain, [same, same])).toEqual([]);
    // A large integer has room for entropy: a seeded 32-bit generator's output is compared.
    expect(compare([{ seed: 1_834_567_291 }, { seed: 402_918_337 }], [{ seed: 977_104_528 }, { seed: 977_104_528 }])).toEqual(['$.seed']);
  });

  it('lists every leaf of a JSON value by path', () => {
    expect([...leaves({ a: 1, b: [true, null], c: { d: 'x' } })]).toEqual([
      ['$.a', 1],
      ['$.b[0]', true],
      ['$.b[1]', null],
      ['$.c.d', 'x'],
    ]);
  });
});
