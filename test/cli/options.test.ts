import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { wholeNumber } from '../../src/cli/options.ts';

describe('wholeNumber', () => {
  it('takes whole numbers within its bounds', () => {
    expect(wholeNumber()('0')).toBe(0);
    expect(wholeNumber(1, 10)('10')).toBe(10);
  });

  it('refuses fractions, words, blanks and values out of bounds, naming the bounds', () => {
    for (const text of ['1.5', 'ten', '', ' ', '-1', '1e400']) expect(() => wholeNumber()(text)).toThrow(InvalidArgumentError);
    expect(() => wholeNumber(1, 100)('0')).toThrow('expected a whole number from 1 to 100');
    expect(() => wholeNumber(1, 100)('101')).toThrow('expected a whole number from 1 to 100');
  });
});
