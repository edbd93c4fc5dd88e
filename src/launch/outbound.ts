// "network": "outbound": egress for an instance whose network namespace holds only `lo`, attached after its start
// or restore by slirp4netns (a user-mode TCP/IP stack: the instance's packets become the helper's own sockets
// on the host). Chosen over a veth pair with NAT because it needs no host-wide change (no ip_forward, no
// nftables rules), and over Debian 12's pasta, which cannot open the namespace or /dev/net/tun here
// (docs/SANDBOX.md, "Network"). Host root opens /proc/PID/ns/net and the tun device inside it; the helper then
// confines itself (--enable-sandbox: an empty root, no capabilities; --enable-seccomp).
// The helper runs in the instance's cgroup: ending the instance ends it, and the tap device goes with its fd.
import { closeSync, existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import { execa } from 'execa';
import { PrebakeError } from '../errors.ts';
import { createPipe } from './pipes.ts';
import { SpawnedProcess } from './spawn.ts';

export const OUTBOUND_HELPER = 'slirp4netns';
// The helper's ready byte: under load on 2 cores it came after 17-200 ms (docs/SANDBOX.md).
const READY_TIMEOUT_MS = 10_000;

/** An instance's link to the outside: its helper, and how to take it away (before a dump). */
export interface OutboundLink {
  helper: SpawnedProcess;
  /** Ends the helper and waits for it: the tap device and its routes leave the namespace with it. */
  detach(): Promise<void>;
}

export const TUN_DEVICE = '/dev/net/tun';
let tunMade: Promise<void> | undefined;

// A container has no /dev/net/tun unless it is given one, and a Swarm service cannot be (no --device). Docker
// 20.10's device cgroup allows the tun device to every container all the same (c 10:200 rwm): made once with
// mknod, it opens. Where the device cgroup refuses it (newer runtimes), the helper fails, and the hint says why.
function ensureTunDevice(functionName: string): Promise<void> {
  if (existsSync(TUN_DEVICE)) return Promise.resolve();
  tunMade ??= (async () => {
    await mkdir('/dev/net', { recursive: true, mode: 0o755 });
    const made = await execa('mknod', ['-m', '0666', TUN_DEVICE, 'c', '10', '200'], { reject: false });
    if (made.exitCode !== 0 && !existsSync(TUN_DEVICE)) {
      tunMade = undefined;
      throw new PrebakeError(
        'PREBAKE_ERR_NETWORK',
        `function "${functionName}": there is no ${TUN_DEVICE}, and mknod could not make one: ${made.stderr.trim()}`,
        {
          functionName,
          hint: 'in a container, give it the device (docker run --device /dev/net/tun), or set "network": "none" or "host" in function.json',
        },
      );
    }
  })();
  return tunMade;
}

/**
 * Gives the network namespace of `pid` a tap device with a default route through slirp4netns: 10.0.2.100/24,
 * gateway 10.0.2.2 (which does not lead to the host's loopback: --disable-host-loopback), DNS 10.0.2.3.
 * `cgroupProcs`: the instance's cgroup, which the helper joins. Resolves once the route is up.
 */
export async function attachOutbound(pid: number, cgroupProcs: string[], functionName: string): Promise<OutboundLink> {
  await ensureTunDevice(functionName);
  const ready = createPipe();
  let helper: SpawnedProcess;
  try {
    helper = new SpawnedProcess(
      OUTBOUND_HELPER,
      [
        '--configure',
        '--mtu=65520',
        '--disable-host-loopback',
        '--enable-sandbox',
        '--enable-seccomp',
        '--ready-fd=3',
        String(pid),
        'tap0',
      ],
      [null, null, null, ready.write],
      { cgroupProcs, env: {} },
    );
  } catch (error) {
    closeSync(ready.read);
    throw new PrebakeError(
      'PREBAKE_ERR_NETWORK',
      `function "${functionName}": cannot start ${OUTBOUND_HELPER} for its "outbound" network: ${(error as Error).message}`,
      {
        cause: error,
        functionName,
        hint: `install ${OUTBOUND_HELPER} (scripts/setup.sh does), or set "network": "none" or "host" in function.json`,
      },
    );
  } finally {
    closeSync(ready.write);
  }
  const detach = async () => {
    helper.kill('SIGKILL');
    await helper;
  };
  const answered = await readyByte(ready.read, helper);
  if (!answered) {
    await detach();
    const exit = helper.signalCode ? `signal ${helper.signalCode}` : `exit code ${helper.exitCode}`;
    throw new PrebakeError(
      'PREBAKE_ERR_NETWORK',
      `function "${functionName}": ${OUTBOUND_HELPER} could not attach the "outbound" network to instance ${pid} (${exit})`,
      {
        functionName,
        hint: `run \`${OUTBOUND_HELPER} --configure ${pid} tap0\` by hand to see why, or set "network": "none" or "host" in function.json`,
      },
    );
  }
  return { helper, detach };
}

// True on the helper's "1"; false when it exits, closes the fd or says nothing in time.
function readyByte(fd: number, helper: SpawnedProcess): Promise<boolean> {
  const socket = new net.Socket({ fd, readable: true, writable: false });
  let timer: NodeJS.Timeout | undefined;
  return new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), READY_TIMEOUT_MS);
    socket.once('data', (data) => resolve(data[0] === 0x31));
    socket.once('end', () => resolve(false));
    socket.once('error', () => resolve(false));
    void helper.then(() => resolve(false));
  }).finally(() => {
    clearTimeout(timer);
    socket.destroy();
  });
}
