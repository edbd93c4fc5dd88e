// A bundle as an OCI artifact: the bundle's header is the config blob, every file of the bundle one layer
// (by its sha256, so a file already in the registry is never sent again), and the manifest lists them in
// bundle order with their names. Pull turns the artifact back into the bundle's tar stream and imports it,
// so the registry's blobs go through the same checksums as a bundle file.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { type BundleFile, bundleFiles, bundleHeader } from '../bundle/export.ts';
import { addEntry, BUNDLE_FORMAT, corrupt, formatSums, HEADER_NAME, SUMS_NAME } from '../bundle/format.ts';
import { type ImportOptions, type ImportResult, importBundle } from '../bundle/import.ts';
import type { Criu } from '../criu/criu.ts';
import { PrebakeError } from '../errors.ts';
import { sha256, sha256OfStream } from '../files/sha256.ts';
import type { ImageStore } from '../store/store.ts';
import { type Descriptor, OCI_MANIFEST, type OciManifest, RegistryClient } from './client.ts';
import type { RegistryCredentials } from './credentials.ts';
import type { RegistryReference } from './reference.ts';

export const ARTIFACT_TYPE = `application/vnd.prebake.bundle.v${BUNDLE_FORMAT}`;
const CONFIG_TYPE = `application/vnd.prebake.bundle.config.v${BUNDLE_FORMAT}+json`;
const FILE_TYPE = 'application/vnd.prebake.file.v1';
const DIRECTORY_TYPE = 'application/vnd.prebake.directory.v1';
const TITLE = 'org.opencontainers.image.title';
const MODE = 'dev.prebake.mode';

export interface PushResult {
  digest: string;
  uploaded: { blobs: number; bytes: number };
  present: { blobs: number; bytes: number };
}

/** A file's layer content. */
async function layerSource(file: BundleFile): Promise<{ size: number; mode: number; mediaType: string; open: () => Readable }> {
  const info = await stat(file.file);
  const mode = info.mode & 0o777;
  // A directory is an empty blob, for its mode.
  if (file.kind === 'dir') return { size: 0, mode, mediaType: DIRECTORY_TYPE, open: () => Readable.from([]) };
  return { size: info.size, mode, mediaType: FILE_TYPE, open: () => createReadStream(file.file) };
}

/** Pushes the function's bundle to `ref`, uploading only the blobs the registry lacks. Holds the function's lock. */
export async function pushBundle(
  store: ImageStore,
  criu: Criu,
  name: string,
  ref: RegistryReference,
  credentials?: RegistryCredentials,
): Promise<PushResult> {
  await store.require(name);
  const client = new RegistryClient(ref, credentials);
  const release = await store.lock(name);
  try {
    const image = await store.require(name);
    const [header, files] = await Promise.all([bundleHeader(image, criu), bundleFiles(image)]);
    const result: PushResult = { digest: '', uploaded: { blobs: 0, bytes: 0 }, present: { blobs: 0, bytes: 0 } };
    const send = async (descriptor: Descriptor, open: () => Readable) => {
      const counter = (await client.hasBlob(descriptor.digest)) ? result.present : result.uploaded;
      if (counter === result.uploaded) await client.uploadBlob(descriptor.digest, descriptor.size, open());
      counter.blobs++;
      counter.bytes += descriptor.size;
    };
    const configBytes = Buffer.from(`${JSON.stringify(header, null, 2)}\n`);
    const config: Descriptor = { mediaType: CONFIG_TYPE, digest: `sha256:${sha256(configBytes)}`, size: configBytes.length };
    await send(config, () => Readable.from([configBytes]));
    const layers: Descriptor[] = [];
    for (const file of files) {
      const source = await layerSource(file);
      const layer: Descriptor = {
        mediaType: source.mediaType,
        digest: `sha256:${await sha256OfStream(source.open())}`,
        size: source.size,
        annotations: { [TITLE]: file.name, [MODE]: source.mode.toString(8) },
      };
      await send(layer, source.open);
      layers.push(layer);
    }
    const manifest: OciManifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: ARTIFACT_TYPE,
      config,
      layers,
      annotations: { 'dev.prebake.function': header.name, 'dev.prebake.build': header.buildId },
    };
    result.digest = await client.putManifest(manifest);
    return result;
  } finally {
    await release();
  }
}

/** The artifact at `ref` as a bundle stream (header, files, SHA256SUMS), each blob fetched when its turn comes. */
function bundleStream(client: RegistryClient, manifest: OciManifest): Readable {
  const pack = tar.pack();
  const write = async () => {
    const sums = new Map<string, string>();
    const config = await buffer(await client.getBlob(manifest.config.digest));
    await addEntry(pack, { name: HEADER_NAME, mode: 0o644 }, config);
    sums.set(HEADER_NAME, manifest.config.digest.replace(/^sha256:/, ''));
    for (const layer of manifest.layers) {
      const name = layer.annotations?.[TITLE] ?? '';
      const mode = Number.parseInt(layer.annotations?.[MODE] ?? '644', 8);
      if (layer.mediaType === DIRECTORY_TYPE) {
        await addEntry(pack, { name, type: 'directory', mode });
        continue;
      }
      // A bundle holds files and directories only (a symbolic link's layer, of older prebakes, included).
      if (layer.mediaType !== FILE_TYPE)
        throw corrupt(`layer ${JSON.stringify(name)} is a ${layer.mediaType}: a bundle holds regular files and directories only`);
      sums.set(name, layer.digest.replace(/^sha256:/, ''));
      const sink = pack.entry({ name, size: layer.size, mode });
      await pipeline(await client.getBlob(layer.digest), sink);
    }
    await addEntry(pack, { name: SUMS_NAME, mode: 0o644 }, Buffer.from(formatSums(sums)));
    pack.finalize();
  };
  write().catch((error: unknown) => pack.destroy(error as Error));
  // A Node stream (tar-stream's are streamx streams): importBundle may unpipe it, the caller destroys it.
  return Readable.from(pack);
}

/** The manifest digest `ref` names now: a digest reference is its own, a tag's is asked of the registry. */
export async function bundleDigest(ref: RegistryReference, credentials?: RegistryCredentials): Promise<string> {
  if (ref.reference.startsWith('sha256:')) return ref.reference;
  return (await new RegistryClient(ref, credentials).getManifestAndDigest()).digest;
}

/** Pulls the artifact at `ref` and imports it (verified as any bundle). */
export async function pullBundle(
  store: ImageStore,
  criu: Criu,
  ref: RegistryReference,
  options: ImportOptions = {},
  credentials?: RegistryCredentials,
): Promise<ImportResult> {
  const client = new RegistryClient(ref, credentials);
  const manifest = await client.getManifest();
  if (manifest.artifactType !== ARTIFACT_TYPE && manifest.config?.mediaType !== CONFIG_TYPE) {
    throw new PrebakeError(
      'PREBAKE_ERR_INVALID_INPUT',
      `${ref.registry}/${ref.repository}:${ref.reference} is not a prebake bundle (artifact type ${manifest.artifactType ?? manifest.config?.mediaType})`,
    );
  }
  const stream = bundleStream(client, manifest);
  try {
    return await importBundle(store, criu, stream, options);
  } finally {
    // A refused import stops reading: no blob download is left hanging.
    stream.destroy();
  }
}
