// The environment a bundle's image needs: a restore reads back the kernel's and CPU's view of the process, the
// criu that wrote the image, and the runtime binary whose memory the image holds. Recorded at export, compared
// with the importing host part by part, so a refusal can say which part differs.
import { access, readFile, realpath, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Criu } from '../criu/criu.ts';
import { sha256OfFile } from '../files/sha256.ts';
import type { FunctionSpec } from '../manifest/schema.ts';
import { runtimeFor } from '../runtimes/index.ts';

export interface Fingerprint {
  arch: string;
  kernel: string;
  criu: string;
  /**
   * Instruction-set extensions the image may rely on: runtimes (V8, HotSpot, glibc's ifuncs) pick code paths
   * for them at start-up, before the snapshot, and a restored process keeps using them. Other cpuinfo flags
   * (hypervisor, tsc details, bugs) do not change what code runs and would refuse good bundles.
   */
  cpuFeatures: string[];
  runtime: { name: string; version: string; binary: string; sha256: string };
}

const ISA_FLAG =
  /^(sse\d?(_\d)?|ssse3|avx.*|fma.*|f16c|bmi\d|adx|abm|popcnt|lzcnt|movbe|aes|vaes|pclmulqdq|vpclmulqdq|sha_ni|gfni|rdrand|rdseed|xsave.*|erms|fsrm|cx16|amx.*|asimd.*|sve.*|atomics|crc32|sha\d|pmull)$/;

/** The ISA flags of this host's first CPU (x86 "flags", arm64 "Features"). */
export async function cpuFeatures(): Promise<string[]> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8');
  const line = /^(?:flags|Features)\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? '';
  return [
    ...new Set(
      line
        .trim()
        .split(/\s+/)
        .filter((flag) => ISA_FLAG.test(flag)),
    ),
  ].sort();
}

// Hashing the node binary (130 MB) takes a few hundred ms: a daemon does it once per binary version.
const binaryHashes = new Map<string, string>();

async function sha256File(file: string): Promise<string> {
  const info = await stat(file);
  const key = `${file}\0${info.ino}\0${info.size}\0${info.mtimeMs}`;
  const known = binaryHashes.get(key);
  if (known) return known;
  const { sha256 } = await sha256OfFile(file);
  binaryHashes.set(key, sha256);
  return sha256;
}

/** The runtime binary an instance of `spec` runs (the first word of its command line), resolved on PATH. */
async function runtimeBinary(spec: FunctionSpec, preparedDir: string): Promise<string> {
  const program = runtimeFor(spec.runtime).command(spec, preparedDir).argv[0]!;
  if (program.includes('/')) return realpath(program);
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    const candidate = path.join(dir, program);
    if (
      await access(candidate).then(
        () => true,
        () => false,
      )
    )
      return realpath(candidate);
  }
  return program;
}

/** This host's fingerprint for running `spec`. */
export async function hostFingerprint(spec: FunctionSpec, preparedDir: string, criu: Criu): Promise<Fingerprint> {
  const runtime = runtimeFor(spec.runtime);
  const binary = await runtimeBinary(spec, preparedDir);
  const [criuVersion, features, version, sha256] = await Promise.all([
    criu.version(),
    cpuFeatures(),
    runtime.interpreter(spec).then((interpreter) => interpreter.version),
    sha256File(binary).catch(() => 'missing'),
  ]);
  return {
    arch: process.arch,
    kernel: os.release(),
    criu: criuVersion,
    cpuFeatures: features,
    runtime: { name: spec.runtime, version, binary, sha256 },
  };
}

/** What differs between the bundle's host and this one, one phrase per part; empty when compatible. */
export function fingerprintDifferences(bundle: Fingerprint, host: Fingerprint): string[] {
  const differences: string[] = [];
  const compare = (part: string, there: string, here: string) => {
    if (there !== here) differences.push(`${part} ${there} there, ${here} here`);
  };
  compare('architecture', bundle.arch, host.arch);
  compare('kernel', bundle.kernel, host.kernel);
  compare('criu', bundle.criu, host.criu);
  compare('runtime', bundle.runtime.version, host.runtime.version);
  compare('runtime binary', bundle.runtime.binary, host.runtime.binary);
  if (bundle.runtime.version === host.runtime.version && bundle.runtime.binary === host.runtime.binary) {
    compare('runtime binary sha256', bundle.runtime.sha256.slice(0, 12), host.runtime.sha256.slice(0, 12));
  }
  const missing = bundle.cpuFeatures.filter((flag) => !host.cpuFeatures.includes(flag));
  if (missing.length > 0) differences.push(`CPU features missing here: ${missing.join(' ')}`);
  return differences;
}
