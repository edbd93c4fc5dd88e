// Option parsers shared by the commands: commander calls them on the flag's text (argParser), so a bad value
// is refused by commander with the flag's name before the command runs (exit 2).
import { InvalidArgumentError } from 'commander';

/** A whole number in [min, max]. */
export function wholeNumber(min = 0, max = Number.MAX_SAFE_INTEGER): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (text.trim() === '' || !Number.isInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}`);
    }
    return value;
  };
}
