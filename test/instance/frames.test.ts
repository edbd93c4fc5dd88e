import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder, FrameError, MAX_HEADER_BYTES } from '../../src/instance/frames.ts';

describe('frames', () => {
  it('round-trips header and body', () => {
    const decoder = new FrameDecoder();
    const frames = decoder.push(encodeFrame({ type: 'invoke', id: 'r1', deadline: 5 }, '{"a":"é"}'));
    expect(frames).toHaveLength(1);
    expect(frames[0]!.header).toEqual({ type: 'invoke', id: 'r1', deadline: 5 });
    expect(frames[0]!.body.toString('utf8')).toBe('{"a":"é"}');
  });

  it('reassembles frames split at every byte and several frames in one chunk', () => {
    const bytes = Buffer.concat([encodeFrame({ n: 1 }, '[1]'), encodeFrame({ n: 2 }), encodeFrame({ n: 3 }, '"three"')]);
    const decoder = new FrameDecoder();
    const seen = [];
    for (let i = 0; i < bytes.length; i++) seen.push(...decoder.push(bytes.subarray(i, i + 1)));
    expect(seen.map((f) => f.header.n)).toEqual([1, 2, 3]);
    expect(seen.map((f) => f.body.toString())).toEqual(['[1]', '', '"three"']);
    expect(decoder.pendingBytes).toBe(0);
    expect(new FrameDecoder().push(bytes).map((f) => f.header.n)).toEqual([1, 2, 3]);
  });

  it('carries a large body in many chunks', () => {
    const body = Buffer.alloc(5_000_000, 0x61);
    const bytes = encodeFrame({ type: 'result' }, body);
    const decoder = new FrameDecoder();
    const frames = [];
    for (let i = 0; i < bytes.length; i += 65_536) frames.push(...decoder.push(bytes.subarray(i, i + 65_536)));
    expect(frames).toHaveLength(1);
    expect(frames[0]!.body.equals(body)).toBe(true);
  });

  it('refuses an oversized or malformed header', () => {
    const huge = Buffer.alloc(8);
    huge.writeUInt32BE(MAX_HEADER_BYTES + 1, 0);
    expect(() => new FrameDecoder().push(huge)).toThrow(FrameError);
    const notJson = Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from('{x}'), Buffer.from([0, 0, 0, 0])]);
    expect(() => new FrameDecoder().push(notJson)).toThrow(/not JSON/);
    const notObject = Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from('[]'), Buffer.from([0, 0, 0, 0])]);
    expect(() => new FrameDecoder().push(notObject)).toThrow(/not a JSON object/);
  });
});
