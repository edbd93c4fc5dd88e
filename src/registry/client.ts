// The few calls of the OCI distribution API that push and pull need (blobs by digest, manifests by tag or
// digest), over fetch. Bodies stream both ways. A 401 is answered as its challenge asks (auth.ts) and the
// request sent again, once; a streamed body cannot be sent again, so the upload's PUT goes with the
// authorization its session's POST needed.
import { Readable } from 'node:stream';
import { PrebakeError } from '../errors.ts';
import { sha256 } from '../files/sha256.ts';
import { ANSWER_TIMEOUT_MS, RegistryAuth } from './auth.ts';
import type { RegistryCredentials } from './credentials.ts';
import type { RegistryReference } from './reference.ts';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface OciManifest {
  schemaVersion: 2;
  mediaType: typeof OCI_MANIFEST;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** What a request does to the repository, as a token's scope names it. */
type Access = 'pull' | 'pull,push';

export class RegistryClient {
  readonly ref: RegistryReference;
  private readonly auth: RegistryAuth;

  constructor(ref: RegistryReference, credentials?: RegistryCredentials) {
    this.ref = ref;
    this.auth = new RegistryAuth(ref, credentials);
  }

  private url(path: string): string {
    return `${this.ref.baseUrl}/v2/${this.ref.repository}/${path}`;
  }

  private async request(
    what: string,
    url: string,
    init: RequestInit & { duplex?: 'half' },
    ok: number[],
    access: Access = 'pull',
  ): Promise<Response> {
    const scope = `repository:${this.ref.repository}:${access}`;
    const replayable = !(init.body instanceof ReadableStream);
    for (let answered = false; ; answered = true) {
      const authorization = await this.auth.header(url, scope);
      const headers = new Headers(init.headers);
      if (authorization) headers.set('authorization', authorization);
      const response = await this.send(what, url, { ...init, headers });
      if (response.status !== 401) return this.expect(what, url, response, ok, access);
      await response.body?.cancel();
      if (answered || !replayable) throw this.auth.refused(what, scope);
      await this.auth.answer(response, scope, what);
    }
  }

  private async send(what: string, url: string, init: RequestInit): Promise<Response> {
    // A registry that takes the connection and never answers would hold a pull, and the daemon's shutdown behind
    // it, for ever. Bounded until the answer's headers only: a blob's body may take longer, and an upload's
    // headers come only after its whole (streamed) body.
    const controller = new AbortController();
    const timer =
      init.body instanceof ReadableStream
        ? undefined
        : setTimeout(() => controller.abort(new Error(`no answer within ${ANSWER_TIMEOUT_MS / 1000} s`)), ANSWER_TIMEOUT_MS);
    try {
      return await fetch(url, { ...init, signal: controller.signal });
    } catch (error) {
      throw new PrebakeError(
        'PREBAKE_ERR_REGISTRY',
        `cannot reach the registry ${this.ref.registry} (${what}): ${(error as Error).message}`,
        {
          cause: error,
          hint: 'check the registry address and that it listens (http for localhost and 127.0.0.1, https otherwise)',
        },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  private async expect(what: string, url: string, response: Response, ok: number[], access: Access): Promise<Response> {
    if (ok.includes(response.status)) return response;
    const body = await response.text().catch(() => '');
    const reason = (() => {
      try {
        const errors = (JSON.parse(body) as { errors?: { code: string; message: string }[] }).errors ?? [];
        return errors.map((e) => `${e.code}: ${e.message}`).join('; ');
      } catch {
        return body.slice(0, 200);
      }
    })();
    throw new PrebakeError(
      'PREBAKE_ERR_REGISTRY',
      `the registry ${this.ref.registry} answered ${what} with ${response.status}${reason ? `: ${reason}` : ''}`,
      {
        hint:
          response.status === 403
            ? `check that the user may ${access === 'pull' ? 'pull from' : 'push to'} ${this.ref.repository}`
            : undefined,
        details: { status: response.status, url },
      },
    );
  }

  async hasBlob(digest: string): Promise<boolean> {
    const response = await this.request(`HEAD blob ${digest}`, this.url(`blobs/${digest}`), { method: 'HEAD' }, [200, 404]);
    return response.status === 200;
  }

  /** A monolithic upload: POST for a session, then PUT the content with its digest, streamed. */
  async uploadBlob(digest: string, size: number, content: Readable): Promise<void> {
    const session = await this.request('a blob upload', this.url('blobs/uploads/'), { method: 'POST' }, [202], 'pull,push');
    const location = session.headers.get('location');
    if (!location) throw new PrebakeError('PREBAKE_ERR_REGISTRY', `the registry ${this.ref.registry} started an upload without a Location`);
    const target = new URL(location, this.ref.baseUrl);
    target.searchParams.set('digest', digest);
    await this.request(
      `the upload of ${digest}`,
      target.toString(),
      {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
        body: Readable.toWeb(content) as ReadableStream,
        duplex: 'half',
      },
      [201],
      'pull,push',
    );
  }

  async getBlob(digest: string): Promise<Readable> {
    const response = await this.request(`GET blob ${digest}`, this.url(`blobs/${digest}`), {}, [200]);
    return Readable.fromWeb(response.body as import('node:stream/web').ReadableStream);
  }

  async putManifest(manifest: OciManifest): Promise<string> {
    const response = await this.request(
      `the manifest ${this.ref.reference}`,
      this.url(`manifests/${this.ref.reference}`),
      {
        method: 'PUT',
        headers: { 'content-type': OCI_MANIFEST },
        body: JSON.stringify(manifest),
      },
      [201],
      'pull,push',
    );
    return response.headers.get('docker-content-digest') ?? '';
  }

  async getManifest(): Promise<OciManifest> {
    return (await this.getManifestAndDigest()).manifest;
  }

  /** The manifest and its digest (a tag's current one): the sha256 of the bytes the registry sent. */
  async getManifestAndDigest(): Promise<{ manifest: OciManifest; digest: string }> {
    const response = await this.request(
      `GET manifest ${this.ref.reference}`,
      this.url(`manifests/${this.ref.reference}`),
      { headers: { accept: OCI_MANIFEST } },
      [200],
    );
    const body = await response.text();
    if (this.ref.reference.startsWith('sha256:') && `sha256:${sha256(body)}` !== this.ref.reference) {
      throw new PrebakeError(
        'PREBAKE_ERR_REGISTRY',
        `the registry ${this.ref.registry} sent a manifest that does not match ${this.ref.reference}`,
      );
    }
    try {
      return { manifest: JSON.parse(body) as OciManifest, digest: `sha256:${sha256(body)}` };
    } catch (error) {
      throw new PrebakeError('PREBAKE_ERR_REGISTRY', `the registry ${this.ref.registry} sent a manifest that is not JSON`, {
        cause: error,
      });
    }
  }
}
