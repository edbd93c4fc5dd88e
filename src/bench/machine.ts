// What a bench ran on: numbers from a 2-core shared VM and from a 64-core bare-metal server are different
// facts, and a results file must say which it holds.
import { readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import { execa } from 'execa';
import { DEFAULT_KDAT_FILE, describeBuild } from '../criu/build-info.ts';
import type { Criu } from '../criu/criu.ts';
import { measurePageFaultCost } from '../criu/page-fault-cost.ts';
import { mountsOf } from '../files/mountinfo.ts';
import { RUNTIMES } from '../manifest/schema.ts';
import { nodeBinary } from '../paths.ts';
import { runtimeFor } from '../runtimes/index.ts';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryMb: number;
  kernel: string;
  distro: string;
  virtualization: string;
  /** The Node that runs prebake, and the one function instances run. */
  node: string;
  instanceNode: string;
  criu: string;
  /**
   * criu's kernel-probe cache (/run/criu.kdat): "tmpfs" (criu manages it), "present", or "absent". Without it
   * every restore probes the kernel again (about 20 ms here).
   */
  criuKdatCache: string;
  /** Which criu build ("lean static, sha256 …", with prebake's patches) and whether it fills with huge pages. */
  criuBuild: string;
  hugePageFill: string;
  /** Whether criu stops tasks with hardware breakpoints here (criu/breakpoints.ts): "working", "not working: ...". */
  hardwareBreakpoints: string;
  /** Microseconds per fresh 4 KiB page, plain and MADV_HUGEPAGE (criu/page-fault-cost.ts); null: not measured. */
  pageFault4kUs: number | null;
  pageFaultHugeUs: number | null;
  /** The same as a sentence, with which start modes pay off here. */
  pageFaults: string;
  /** Installed runtimes by name: a version, or "not available: <why>". */
  runtimes: Record<string, string>;
}

async function firstMatch(file: string, pattern: RegExp): Promise<string | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return pattern.exec(text)?.[1]?.trim();
}

async function tryRun(command: string, args: string[]): Promise<string | undefined> {
  const result = await execa(command, args, { reject: false, timeout: 5_000 });
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}

export async function describeMachine(criu: Criu): Promise<MachineInfo> {
  const runtimes: Record<string, string> = {};
  for (const name of RUNTIMES) {
    try {
      runtimes[name] = (await runtimeFor(name).interpreter()).version;
    } catch (error) {
      runtimes[name] = `not available: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  const faults = await measurePageFaultCost().catch((error: unknown) => (error instanceof Error ? error.message : String(error)));
  const runFs = (await mountsOf('self'))?.find((mount) => mount.mountPoint === '/run')?.fsType;
  return {
    cpuModel: (await firstMatch('/proc/cpuinfo', /^model name\s*:\s*(.+)$/m)) ?? os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryMb: Math.round(os.totalmem() / 1e6),
    kernel: `${os.type()} ${os.release()}`,
    distro: (await firstMatch('/etc/os-release', /^PRETTY_NAME="?([^"\n]+)"?$/m)) ?? 'unknown',
    virtualization: (await tryRun('systemd-detect-virt', [])) ?? 'unknown',
    node: process.version,
    instanceNode: (await tryRun(nodeBinary(), ['--version'])) ?? 'unknown',
    criu: await criu.version().catch((error: unknown) => `not available: ${String(error)}`),
    criuKdatCache:
      runFs === 'tmpfs'
        ? 'tmpfs'
        : await stat((await criu.build().catch(() => undefined))?.kdatFile ?? DEFAULT_KDAT_FILE).then(
            () => 'present',
            () => 'absent',
          ),
    criuBuild: await criu.build().then(
      (build) => `${describeBuild(build)}${build.patches.length > 0 ? `, patches ${build.patches.join(', ')}` : ''}`,
      (error: unknown) => `unknown: ${String(error)}`,
    ),
    hugePageFill: await criu.hugePageFill().then((fill) => (fill.on ? `on: ${fill.detail}` : fill.detail)),
    hardwareBreakpoints: (await criu.breakpoints()).detail,
    pageFault4kUs: typeof faults === 'string' ? null : faults.fourKUs,
    pageFaultHugeUs: typeof faults === 'string' ? null : faults.hugeUs,
    pageFaults: typeof faults === 'string' ? `not measured: ${faults}` : faults.detail,
    runtimes,
  };
}
