// What an image is made of, and proof that it is still that: the sha256 and size of every file criu wrote,
// recorded in the image's meta.json at build (`files`: file name -> {sha256, size}), and checked before the
// image is restored. A restore of a corrupt image can do anything (a patched page runs patched code), so a
// mismatch is never restored.
//
// Hashing is not on the hot path: a process verifies an image in full before its first restore, then
// remembers each file's device, inode, size, modification and change time as it verified them (the change time
// cannot be set back, unlike the modification time); a later restore stats the files (and the images directory,
// which changes when a file is added, removed or renamed) and verifies in full again only when one differs.
import { type BigIntStats, statSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { PrebakeError } from '../errors.ts';
import { sha256OfFile } from '../files/sha256.ts';

export interface ImageFileDigest {
  /** Hex sha256 of the file's content. */
  sha256: string;
  size: number;
}

/** An image's files by name (criu writes a flat directory). */
export type ImageFiles = Record<string, ImageFileDigest>;

/** What an image to verify needs to say: where it is and what it should hold. */
export interface VerifiableImage {
  imageDir: string;
  meta: { name: string; buildId: string; files?: ImageFiles; spec: { dir: string } };
}

/** Hashes every file of a freshly dumped image directory. */
export async function digestImageFiles(imageDir: string): Promise<ImageFiles> {
  const files: ImageFiles = {};
  for (const name of (await readdir(imageDir)).sort()) {
    const { sha256, size } = await sha256OfFile(path.join(imageDir, name));
    files[name] = { sha256, size };
  }
  return files;
}

// Equal signatures: the same file, unchanged as far as the filesystem says.
function signature(stats: BigIntStats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
}

export class ImageVerifier {
  /**
   * Per function (so one entry each, however often it is rebuilt): the image dir last verified in full, with the
   * signature of the directory and of each file as they were then.
   */
  private readonly verified = new Map<string, { imageDir: string; signatures: Map<string, string> }>();
  private readonly running = new Map<string, Promise<void>>();

  /**
   * Throws PREBAKE_ERR_IMAGE_CORRUPT unless the image's files are the ones its build recorded: in full the first
   * time and whenever a stat shows a change, else by stat alone.
   */
  async assertIntact(image: VerifiableImage): Promise<void> {
    const known = this.verified.get(image.meta.name);
    if (known?.imageDir === image.imageDir && this.unchanged(image, known.signatures)) return;
    let pending = this.running.get(image.imageDir);
    if (!pending) {
      pending = this.verifyInFull(image).finally(() => this.running.delete(image.imageDir));
      this.running.set(image.imageDir, pending);
    }
    await pending;
  }

  /** Hashes every file of the image and compares with the record, whatever was verified before. */
  async verifyInFull(image: VerifiableImage): Promise<void> {
    const { name } = image.meta;
    this.verified.delete(name);
    const corrupt = (problem: string) =>
      new PrebakeError('PREBAKE_ERR_IMAGE_CORRUPT', `function "${name}": its image is corrupt: ${problem}; it will not be restored`, {
        functionName: name,
        hint: 'rebuild it',
        details: { imageDir: image.imageDir, buildId: image.meta.buildId, dir: image.meta.spec.dir },
      });
    const recorded = image.meta.files;
    if (!recorded) throw corrupt('it has no recorded file digests (built by an older prebake)');
    const dirBefore = await stat(image.imageDir, { bigint: true }).catch(() => undefined);
    if (!dirBefore) throw corrupt(`its directory ${image.imageDir} is missing`);
    const present = await readdir(image.imageDir);
    const extra = present.filter((file) => !Object.hasOwn(recorded, file));
    if (extra.length > 0) throw corrupt(`${extra.join(', ')} ${extra.length === 1 ? 'is' : 'are'} not part of it`);
    const signatures = new Map<string, string>();
    for (const [file, expected] of Object.entries(recorded)) {
      let hashed: Awaited<ReturnType<typeof sha256OfFile>>;
      try {
        hashed = await sha256OfFile(path.join(image.imageDir, file));
      } catch (error) {
        throw corrupt(`${file}: ${(error as Error).message}`);
      }
      if (hashed.size !== expected.size) throw corrupt(`${file} has ${hashed.size} bytes, not ${expected.size}`);
      if (hashed.sha256 !== expected.sha256) throw corrupt(`${file} does not match its sha256`);
      signatures.set(file, signature(hashed.stats));
    }
    signatures.set('.', signature(dirBefore));
    this.verified.set(name, { imageDir: image.imageDir, signatures });
  }

  // Synchronous on purpose: this runs before every restore, and 20 stats of a local root-only directory cost
  // microseconds each, against a threadpool round trip each (about 1 ms for an image's files, measured).
  private unchanged(image: VerifiableImage, known: Map<string, string>): boolean {
    for (const [file, expected] of known) {
      const stats = statSync(path.join(image.imageDir, file), { bigint: true, throwIfNoEntry: false });
      if (stats === undefined || signature(stats) !== expected) return false;
    }
    return true;
  }
}
