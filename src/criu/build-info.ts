// Which criu build prebake runs: scripts/setup.sh writes build.json next to the lean criu it builds (see
// there); any other criu (a distribution's package, PREBAKE_CRIU) is "packaged". Two things follow from it:
// where the build keeps its kernel-probe cache (kdat.ts), and what an image records about the criu that
// dumped it (its build and the sha256 of the binary, which names the build exactly).
import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { execa } from 'execa';
import { sha256 as sha256Hex } from '../files/sha256.ts';

/** criu 4.x compiles its cache path in (RUNDIR); packaged builds use this one. */
export const DEFAULT_KDAT_FILE = '/run/criu.kdat';

const BuildJson = Type.Object({
  build: Type.Literal('lean'),
  version: Type.String(),
  source: Type.String(),
  linked: Type.String(),
  kdatFile: Type.String({ pattern: '^/' }),
  /** prebake's patches (native/criu/), by name without .patch; absent in builds from before them. */
  patches: Type.Optional(Type.Array(Type.String())),
});

export interface CriuBuild {
  /** "lean" (built by setup.sh) or "packaged" (anything else). */
  kind: 'lean' | 'packaged';
  /** The executable file (symlinks resolved). */
  file: string;
  /** "static" or "dynamic" (lean: from build.json; otherwise read from the ELF header by `file`-like means). */
  linked: string;
  /** Where it came from, for doctor: "Debian 13 source package criu 4.1.1-1", or the file. */
  source: string;
  /** Its kernel-probe cache. */
  kdatFile: string;
  /** prebake's patches it was built with (native/criu/); none for any other build. */
  patches: string[];
  /** sha256 of the executable, first 16 hex digits. */
  sha256: string;
}

/** The line an image records and doctor shows: "lean static, sha256 0123456789abcdef". */
export const describeBuild = (build: CriuBuild) => `${build.kind} ${build.linked}, sha256 ${build.sha256}`;

/** Reads the build of the criu at `binary` (a path or a name on PATH). */
export async function readCriuBuild(binary: string): Promise<CriuBuild> {
  const file = await realpath(binary.includes('/') ? binary : await which(binary));
  const bytes = await readFile(file);
  const sha256 = sha256Hex(bytes).slice(0, 16);
  const json = await readFile(path.join(path.dirname(file), 'build.json'), 'utf8').then(JSON.parse, () => undefined);
  if (Value.Check(BuildJson, json)) {
    const lean: Static<typeof BuildJson> = json;
    return { kind: 'lean', file, linked: lean.linked, source: lean.source, kdatFile: lean.kdatFile, patches: lean.patches ?? [], sha256 };
  }
  return {
    kind: 'packaged',
    file,
    linked: hasInterpreter(bytes) ? 'dynamic' : 'static',
    source: file,
    kdatFile: DEFAULT_KDAT_FILE,
    patches: [],
    sha256,
  };
}

async function which(name: string): Promise<string> {
  const found = await execa('sh', ['-c', 'command -v "$0"', name], { reject: false });
  return found.stdout.trim() || name;
}

// An ELF executable is dynamically linked when it has a PT_INTERP program header. A script (Debian 12's
// wrapper around the unpacked package) runs a dynamic criu through its loader.
function hasInterpreter(bytes: Buffer): boolean {
  if (bytes.length < 64 || bytes.readUInt32BE(0) !== 0x7f454c46) return true;
  const phoff = Number(bytes.readBigUInt64LE(32));
  const phentsize = bytes.readUInt16LE(54);
  const phnum = bytes.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 <= bytes.length && bytes.readUInt32LE(at) === 3) return true;
  }
  return false;
}
