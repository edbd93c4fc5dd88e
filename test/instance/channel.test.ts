// The control channel queues nothing without bound: frames nobody asked for and replies over their limit fail it
// at once, whether or not anyone is waiting.
import { writeSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ChannelError, type ChannelFailure, ControlChannel } from '../../src/instance/channel.ts';
import { encodeFrame } from '../../src/instance/frames.ts';
import { closeInstanceEnds, createInstancePipes, type InstancePipes, instanceEnds } from '../../src/launch/pipes.ts';
import { instanceHostId } from '../../src/launch/sandbox-plan.ts';

let pipes: InstancePipes | undefined;
afterEach(() => {
  if (pipes) closeInstanceEnds(pipes);
  pipes = undefined;
});

/** A channel over real pipes, and the instance's end of its frames-out pipe. */
function channel(announcesReady: boolean): {
  channel: ControlChannel;
  instanceWrite: (bytes: Buffer) => void;
  violations: ChannelFailure[];
} {
  pipes = createInstancePipes(instanceHostId({}));
  const created = new ControlChannel(pipes.controlOut.read, pipes.controlIn.write, announcesReady);
  const violations: ChannelFailure[] = [];
  created.onViolation = (failure) => violations.push(failure);
  const fd = instanceEnds(pipes).controlOut;
  return { channel: created, instanceWrite: (bytes) => writeSync(fd, bytes), violations };
}

async function rejection(promise: Promise<unknown>): Promise<ChannelFailure> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ChannelError) return error.failure;
    throw error;
  }
  throw new Error('expected a rejection');
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
};

describe('the control channel', () => {
  it('takes ready unasked, then fails on a frame nobody asked for, with no one waiting', async () => {
    const { channel: ch, instanceWrite, violations } = channel(true);
    try {
      for (let i = 0; i < 50; i++) instanceWrite(encodeFrame({ type: i === 0 ? 'ready' : 'result', id: 'spoofed', ok: true }));
      await until(() => violations.length > 0);
      expect(violations).toEqual([{ kind: 'unsolicited', message: 'the instance sent a "result" frame that nothing asked for' }]);
      expect((await ch.next(1_000)).header.type).toBe('ready');
      expect((await rejection(ch.next(1_000))).kind).toBe('unsolicited');
    } finally {
      ch.close();
    }
  });

  it('takes one reply per request, and nothing from a restored clone before it is spoken to', async () => {
    const { channel: ch, instanceWrite, violations } = channel(false);
    try {
      ch.send({ type: 'resume', seed: 'x' });
      instanceWrite(encodeFrame({ type: 'resumed' }));
      expect((await ch.next(1_000)).header.type).toBe('resumed');
      instanceWrite(encodeFrame({ type: 'resumed' }));
      await until(() => violations.length > 0);
      expect(violations.map((v) => v.kind)).toEqual(['unsolicited']);
    } finally {
      ch.close();
    }
  });

  it('refuses a reply over the limit its request set, from the length prefix alone', async () => {
    const { channel: ch, instanceWrite, violations } = channel(false);
    try {
      ch.send({ type: 'invoke', id: 'r1' }, '{}', 1_000);
      const header = Buffer.from(JSON.stringify({ type: 'result', id: 'r1', ok: true }));
      const prefix = Buffer.alloc(8 + header.length);
      prefix.writeUInt32BE(header.length, 0);
      header.copy(prefix, 4);
      // Claims a body of 5 MB but sends none of it: the channel must not wait to buffer it.
      prefix.writeUInt32BE(5_000_000, 4 + header.length);
      instanceWrite(prefix);
      expect(await rejection(ch.next(5_000))).toEqual({ kind: 'too-large', bytes: 5_000_000, limit: 1_000 });
      expect(violations).toHaveLength(1);
    } finally {
      ch.close();
    }
  });
});
