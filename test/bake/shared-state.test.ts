// The comparison behind the clone-uniqueness check: which result fields clones share although plain starts
// do not. Pure logic; the real check (restores and plain starts) is in clone-check.test.ts.
import { describe, expect, it } from 'vitest';
import { leaves, sharedStatePaths } from '../../src/bake/shared-state.ts';

const nowMs = Date.parse('2026-11-28T12:00:00Z');
const compare = (plain: [unknown, unknown], clones: [unknown, unknown]) => sharedStatePaths(plain, clones, { nowMs });

describe('sharedStatePaths', () => {
  it('names a field that differs between plain starts but is equal in both clones', () => {
    const paths = compare(
      [
        { id: 'V1StGXR8_Z5jdHi6B-myT', n: 0.8444218515250481 },
        { id: 'Uakgb_J5m9g-0JDMbcJqL', n: 0.7579544029403025 },
      ],
      [
        { id: 'x9d3ZpQ0aLr8kT2vB6nYc', n: 0.4205715808308452 },
        { id: 'x9d3ZpQ0aLr8kT2vB6nYc', n: 0.2589167503454527 },
      ],
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
      {
        flag: false,
        count: 4,
        ms: 118.9,
        short: 'abd',
        at: '2026-11-28T11:59:59.310Z',
        epochMs: nowMs - 1_000,
        epochS: nowMs / 1000 - 1.25,
      },
    ];
    const same = {
      flag: true,
      count: 5,
      ms: 120.2,
      short: 'xyz',
      at: '2026-11-28T11:00:00.000Z',
      epochMs: nowMs - 60_000,
      epochS: nowMs / 1000 - 60.5,
    };
    expect(compare(plain, [same, same])).toEqual([]);
    // A large integer has room for entropy: a seeded 32-bit generator's output is compared.
    expect(compare([{ seed: 1_834_567_291 }, { seed: 402_918_337 }], [{ seed: 977_104_528 }, { seed: 977_104_528 }])).toEqual(['$.seed']);
  });

  it("names the per-process parts of ids that differ as a whole: a v1 UUID's node and clock sequence, an ObjectId's process part", () => {
    // uuid@9's v1(): time low, time mid, version 1 + time high, variant + clock sequence, node.
    const plain: [unknown, unknown] = [
      { id: '1b4e28ba-2fa1-11d2-883f-0016d3cca427', oid: '65f1a2b3c4d5e6f708091a2b' },
      { id: '1c0e54aa-2fa1-11d2-9a1c-b2f9a1e4c301', oid: '65f1a2b4aa55bb66cc77dd01' },
    ];
    const clones: [unknown, unknown] = [
      { id: '1d2f7e10-2fa1-11d2-a5b7-6e1f0c9d8a77', oid: '65f1a2b5c4d5e6f708091a2c' },
      { id: '1d2f9a32-2fa1-11d2-a5b7-6e1f0c9d8a77', oid: '65f1a2b6c4d5e6f708091a2d' },
    ];
    expect(compare(plain, clones)).toEqual(['$.id (uuid clock sequence)', '$.id (uuid node)', '$.oid (objectid process part)']);
    // The variant bits are not the clock sequence: clones that differ in the sequence are not flagged.
    const otherSeq: [unknown, unknown] = [
      clones[0],
      { ...(clones[1] as object), id: '1d2f9a32-2fa1-11d2-a5b8-6e1f0c9d8a78', oid: '65f1a2b6ffffffffff091a2d' },
    ];
    expect(compare(plain, otherSeq)).toEqual([]);
    // Random (v4) UUIDs have no such parts; a v1 UUID shared whole is named once, without its parts.
    expect(
      compare(
        [{ id: '2b6c5a3e-9d1f-4c4e-8f2a-1a2b3c4d5e6f' }, { id: '7e1d2c3b-4a5f-4e6d-9c8b-7a6f5e4d3c2b' }],
        [{ id: '0f1e2d3c-4b5a-4968-8776-655443322110' }, { id: '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d' }],
      ),
    ).toEqual([]);
    expect(compare(plain, [clones[0], clones[0]])).toEqual(['$.id', '$.oid']);
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
