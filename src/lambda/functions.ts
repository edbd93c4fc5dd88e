// Functions managed over the Lambda API: a deployment package becomes a function directory under
// <home>/lambda/<name>/<code sha>, with a function.json made from Lambda's fields and a lambda.json that keeps
// those fields as given; the Host builds it (prebakes it) in the background, and Lambda's State and
// LastUpdateStatus say where that stands (Pending, Active, Failed; InProgress, Successful, Failed).
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { cp, mkdir, open, readFile, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { isPrebakeError, PrebakeError } from '../errors.ts';
import { isInside } from '../files/inside.ts';
import type { Host } from '../host/host.ts';
import { functionArn } from '../instance/lambda-context.ts';
import { MANIFEST_FILE } from '../manifest/load.ts';
import type { FunctionSpec } from '../manifest/schema.ts';
import type { ImageMeta } from '../store/store.ts';
import { invalidParameter, type LambdaConfig, type LambdaConfigInput, lambdaConfig, manifestOf, prebakeName } from './function-config.ts';
import { unpackZip } from './zip.ts';

export const LAMBDA_FILE = 'lambda.json';

/** lambda.json: Lambda's fields as given, and what Lambda reports of the code. */
interface LambdaRecord extends LambdaConfig {
  codeSha256: string;
  codeSize: number;
  lastModified: string;
}

type State = 'Pending' | 'Active' | 'Failed';
type UpdateStatus = 'InProgress' | 'Successful' | 'Failed';

/** A build under way or failed, which the store does not show yet (or shows its previous version of). */
interface Progress {
  dir: string;
  record: LambdaRecord;
  state: State;
  lastUpdateStatus: UpdateStatus;
  reason?: string;
}

export interface CreateInput extends LambdaConfigInput {
  FunctionName?: unknown;
  Code?: unknown;
  PackageType?: unknown;
}

function conflict(name: string, message: string): PrebakeError {
  return new PrebakeError('PREBAKE_ERR_LOCKED', message, { functionName: name, details: { lambdaType: 'ResourceConflictException' } });
}

function notFound(name: string): PrebakeError {
  return new PrebakeError('PREBAKE_ERR_UNKNOWN_FUNCTION', `Function not found: ${name}`, {
    functionName: name,
    details: { lambdaType: 'ResourceNotFoundException' },
  });
}

export class LambdaFunctions {
  private readonly host: Host;
  private readonly root: string;
  private readonly progress = new Map<string, Progress>();
  /** Background builds, so that a shutdown (and a test) can wait for them. */
  private readonly builds = new Set<Promise<void>>();

  constructor(host: Host) {
    this.host = host;
    this.root = path.join(host.store.home, 'lambda');
  }

  /** Resolves once no build started here is under way. */
  async settled(): Promise<void> {
    while (this.builds.size > 0) await Promise.allSettled([...this.builds]);
  }

  /** CreateFunction: unpacks the package, answers Pending, and builds in the background. */
  async create(input: CreateInput, region: string): Promise<Record<string, unknown>> {
    const name = prebakeName(input.FunctionName);
    if (input.PackageType !== undefined && input.PackageType !== 'Zip') {
      throw invalidParameter(`PackageType ${JSON.stringify(input.PackageType)}: prebake takes .zip deployment packages (Code.ZipFile)`);
    }
    const config = lambdaConfig(input);
    if (this.progress.has(name) || (await this.host.store.get(name))) {
      throw new PrebakeError('PREBAKE_ERR_NAME_TAKEN', `Function already exist: ${name}`, {
        functionName: name,
        details: { lambdaType: 'ResourceConflictException' },
      });
    }
    this.assertRootAllowed();
    const zip = zipFileOf(input.Code);
    const { dir, record } = await this.deploy(name, config, zip);
    this.startBuild(name, { dir, record, state: 'Pending', lastUpdateStatus: 'InProgress' }, undefined);
    return this.configuration(name, region);
  }

  /** UpdateFunctionCode: the new package beside the old, built in the background; the old serves meanwhile. */
  async updateCode(name: string, input: { ZipFile?: unknown }, region: string): Promise<Record<string, unknown>> {
    const current = await this.current(name);
    this.assertIdle(name);
    const zip = zipFileOf(input);
    const { dir, record } = await this.deploy(name, current.record, zip);
    this.startBuild(name, { dir, record, state: current.state, lastUpdateStatus: 'InProgress' }, current.dir);
    return this.configuration(name, region);
  }

  /** UpdateFunctionConfiguration: the same code with new fields, in a directory of its own, built in the background. */
  async updateConfiguration(name: string, input: LambdaConfigInput, region: string): Promise<Record<string, unknown>> {
    const current = await this.current(name);
    this.assertIdle(name);
    const config = lambdaConfig(input, current.record);
    const dir = path.join(path.dirname(current.dir), `${path.basename(current.dir).split('-')[0]}-${Date.now()}`);
    await copyDirectory(current.dir, dir);
    const record: LambdaRecord = { ...current.record, ...config, lastModified: lambdaDate() };
    await this.writeManifests(dir, name, record);
    this.startBuild(name, { dir, record, state: current.state, lastUpdateStatus: 'InProgress' }, current.dir);
    return this.configuration(name, region);
  }

  /** Lambda's answer to an invocation of a function that is not Active: ResourceConflictException, naming the state. */
  async assertInvokable(name: string): Promise<void> {
    const progress = this.progress.get(name);
    if (!progress || progress.state === 'Active') return;
    if (await this.host.store.get(name)) return;
    throw conflict(
      name,
      `The operation cannot be performed at this time. The function is currently in the following state: ${progress.state}${progress.reason ? ` (${progress.reason})` : ''}`,
    );
  }

  async delete(name: string): Promise<void> {
    const image = await this.host.store.get(name);
    const progress = this.progress.get(name);
    if (!image && !progress) throw notFound(name);
    if (progress?.lastUpdateStatus === 'InProgress') throw conflict(name, `The function ${name} is being built; delete it once that ends`);
    if (image) await this.host.remove(name);
    this.progress.delete(name);
    await rm(path.join(this.root, name), { recursive: true, force: true });
  }

  /** FunctionConfiguration, as GetFunction, ListFunctions and the writes answer it. */
  async configuration(name: string, region: string): Promise<Record<string, unknown>> {
    const progress = this.progress.get(name);
    const image = await this.host.store.get(name);
    if (!progress && !image) throw notFound(name);
    const record = progress?.record ?? (await this.recordOf(image!.meta));
    const state: State = progress?.state ?? 'Active';
    return {
      FunctionName: name,
      FunctionArn: functionArn(name, region),
      Runtime: record.runtime,
      Role: 'arn:aws:iam::000000000000:role/prebake',
      Handler: record.handler,
      CodeSize: record.codeSize,
      Description: record.description,
      Timeout: record.timeoutS,
      MemorySize: record.memoryMb,
      LastModified: record.lastModified,
      CodeSha256: record.codeSha256,
      Version: '$LATEST',
      Environment: { Variables: record.environment },
      State: state,
      ...(progress?.reason && { StateReason: progress.reason, LastUpdateStatusReason: progress.reason }),
      LastUpdateStatus: progress?.lastUpdateStatus ?? 'Successful',
      PackageType: 'Zip',
      Architectures: [process.arch === 'arm64' ? 'arm64' : 'x86_64'],
    };
  }

  /** Every function of the host, Lambda-made or not, by name; `marker` is the last name of the previous page. */
  async list(region: string, maxItems = 50, marker?: string): Promise<{ Functions: Record<string, unknown>[]; NextMarker?: string }> {
    const names = [...new Set([...(await this.host.store.list()).map((meta) => meta.name), ...this.progress.keys()])].sort();
    const page = names.filter((name) => marker === undefined || name > marker).slice(0, maxItems);
    const Functions = await Promise.all(page.map((name) => this.configuration(name, region)));
    const last = page.at(-1);
    return last !== undefined && last !== names.at(-1) ? { Functions, NextMarker: last } : { Functions };
  }

  // -- the parts ------------------------------------------------------------------------------------------------

  private startBuild(name: string, progress: Progress, previousDir: string | undefined): void {
    this.progress.set(name, progress);
    const build = (async () => {
      try {
        await this.host.register(progress.dir, { replace: true });
        this.progress.delete(name);
        if (previousDir !== undefined && previousDir !== progress.dir) await rm(previousDir, { recursive: true, force: true });
      } catch (error) {
        const reason = isPrebakeError(error) ? `${error.code}: ${error.message}` : String(error);
        // A first build that failed leaves a Failed function; a failed update leaves the previous build serving.
        if ((await this.host.store.get(name).catch(() => undefined)) && previousDir !== undefined) {
          this.progress.set(name, {
            ...progress,
            dir: previousDir,
            record: await this.readRecord(previousDir),
            state: 'Active',
            lastUpdateStatus: 'Failed',
            reason,
          });
          await rm(progress.dir, { recursive: true, force: true });
        } else {
          this.progress.set(name, { ...progress, state: 'Failed', lastUpdateStatus: 'Failed', reason });
        }
      }
    })();
    this.builds.add(build);
    void build.finally(() => this.builds.delete(build));
  }

  /** The function's directory and Lambda fields, for an update: only Lambda-made functions are updated here. */
  private async current(name: string): Promise<{ dir: string; record: LambdaRecord; state: State }> {
    const progress = this.progress.get(name);
    if (progress) return { dir: progress.dir, record: progress.record, state: progress.state };
    const image = await this.host.store.get(name);
    if (!image) throw notFound(name);
    const dir = image.meta.spec.dir;
    if (!this.isLambdaDir(dir)) {
      throw conflict(name, `${name} was not created over the Lambda API (its code is at ${dir}): update it with prebake build there`);
    }
    return { dir, record: await this.readRecord(dir), state: 'Active' };
  }

  private assertIdle(name: string): void {
    if (this.progress.get(name)?.lastUpdateStatus === 'InProgress') {
      throw conflict(name, `The operation cannot be performed at this time. An update is in progress for resource: ${name}`);
    }
  }

  /** With functionsRoots set, <home>/lambda must be among them (the Host refuses to build elsewhere). */
  private assertRootAllowed(): void {
    const roots = this.host.config.functionsRoots;
    if (roots.length > 0 && !roots.some((root) => isInside(this.root, path.resolve(root)))) {
      throw new PrebakeError(
        'PREBAKE_ERR_PATH_NOT_ALLOWED',
        `functions created over the Lambda API live in ${this.root}, outside functionsRoots`,
        {
          hint: `add ${this.root} to functionsRoots in the daemon config`,
          details: { lambdaType: 'AccessDeniedException' },
        },
      );
    }
  }

  private async deploy(name: string, config: LambdaConfig, zip: Buffer): Promise<{ dir: string; record: LambdaRecord }> {
    const sha = createHash('sha256').update(zip).digest();
    const dir = path.join(this.root, name, `${sha.toString('hex').slice(0, 16)}-${Date.now()}`);
    await mkdir(path.dirname(dir), { recursive: true, mode: 0o755 });
    await unpackZip(zip, dir).catch(async (error: unknown) => {
      // The function's own directory goes too when this was its first package.
      await rmdir(path.dirname(dir)).catch(() => {});
      throw error;
    });
    const record: LambdaRecord = { ...config, codeSha256: sha.toString('base64'), codeSize: zip.length, lastModified: lambdaDate() };
    try {
      await this.writeManifests(dir, name, record);
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
    return { dir, record };
  }

  /** function.json and lambda.json, in place of any the package carried (removed first: never written through a link). */
  private async writeManifests(dir: string, name: string, record: LambdaRecord): Promise<void> {
    for (const [file, value] of [
      [MANIFEST_FILE, manifestOf(name, record)],
      [LAMBDA_FILE, record],
    ] as const) {
      const at = path.join(dir, file);
      await rm(at, { force: true, recursive: true });
      const handle = await open(at, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
      try {
        await handle.writeFile(`${JSON.stringify(value, null, 2)}\n`);
      } finally {
        await handle.close();
      }
    }
  }

  private async readRecord(dir: string): Promise<LambdaRecord> {
    return JSON.parse(await readFile(path.join(dir, LAMBDA_FILE), 'utf8')) as LambdaRecord;
  }

  /** Lambda's fields of a stored function: lambda.json for a Lambda-made one, else made up from its spec. */
  private async recordOf(meta: ImageMeta): Promise<LambdaRecord> {
    if (this.isLambdaDir(meta.spec.dir)) {
      const record = await this.readRecord(meta.spec.dir).catch(() => undefined);
      if (record) return record;
    }
    return {
      runtime: lambdaRuntimeOf(meta.spec, meta.runtimeVersion),
      handler: meta.spec.handler,
      memoryMb: meta.spec.memoryMb,
      timeoutS: Math.ceil(meta.spec.timeoutMs / 1000),
      environment: meta.spec.env,
      description: '',
      codeSha256: '',
      codeSize: 0,
      lastModified: lambdaDate(new Date(meta.builtAt)),
    };
  }

  private isLambdaDir(dir: string): boolean {
    return dir.startsWith(`${this.root}/`);
  }
}

/** Code.ZipFile: base64 in the JSON body (the SDKs encode the bytes they are given). */
function zipFileOf(code: unknown): Buffer {
  const zipFile = (code as { ZipFile?: unknown } | null | undefined)?.ZipFile;
  if (typeof zipFile !== 'string' || zipFile.length === 0) {
    throw invalidParameter('Code.ZipFile is required: prebake takes the deployment package inline (no S3Bucket, no ImageUri)');
  }
  return Buffer.from(zipFile, 'base64');
}

/** Lambda's LastModified: 2026-12-06T23:45:00.000+0000. */
function lambdaDate(date = new Date()): string {
  return date.toISOString().replace('Z', '+0000');
}

/** A Lambda runtime identifier for a function prebake was given directly: its family and the host's version. */
function lambdaRuntimeOf(spec: FunctionSpec, runtimeVersion: string): string {
  const [major, minor] = (/(\d+)(?:\.(\d+))?/.exec(runtimeVersion) ?? []).slice(1);
  if (spec.runtime === 'node') return `nodejs${major ?? '22'}.x`;
  if (spec.runtime === 'python') return `python3.${minor ?? '12'}`;
  return `java${major ?? '21'}`;
}

/** A copy of a deployed function directory (links copied as links: unpackZip checked them). */
async function copyDirectory(from: string, to: string): Promise<void> {
  await cp(from, to, { recursive: true, verbatimSymlinks: true, errorOnExist: true, force: false });
}
