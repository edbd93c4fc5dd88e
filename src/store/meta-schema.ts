// The shape of a build's meta.json, checked when the store reads it rather than cast: a file cut short, edited
// by hand or written by another prebake is a typed error naming the file, not a crash somewhere down the line.
// The fields prebake reads are checked; more are allowed (a later format may add some).
import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { RUNTIMES, STORED_NETWORK_MODES } from '../manifest/schema.ts';

const Runtime = Type.Union(RUNTIMES.map((runtime) => Type.Literal(runtime)));
const Network = Type.Union(STORED_NETWORK_MODES.map((mode) => Type.Literal(mode)));

const SpecSchema = Type.Object({
  name: Type.String(),
  dir: Type.String(),
  runtime: Runtime,
  handler: Type.String(),
  warmup: Type.Object({ invocations: Type.Integer({ minimum: 0 }), event: Type.Optional(Type.Unknown()) }),
  timeoutMs: Type.Integer({ minimum: 1 }),
  memoryMb: Type.Integer({ minimum: 1 }),
  maxProcesses: Type.Integer({ minimum: 1 }),
  cpus: Type.Optional(Type.Number()),
  env: Type.Record(Type.String(), Type.String()),
  tmpMb: Type.Integer({ minimum: 1 }),
  network: Network,
  allowUserNamespaces: Type.Optional(Type.Boolean()),
  readOnlyPaths: Type.Optional(Type.Array(Type.String())),
  interpreter: Type.Optional(Type.String()),
});

const SandboxSchema = Type.Object({
  root: Type.String(),
  mounts: Type.Array(
    Type.Object({
      kind: Type.Union([Type.Literal('ro-bind'), Type.Literal('dev-bind')]),
      source: Type.String(),
      target: Type.String(),
      file: Type.Boolean(),
    }),
  ),
  rootEntries: Type.Optional(
    Type.Array(
      Type.Object({ kind: Type.Union([Type.Literal('copy'), Type.Literal('device')]), source: Type.String(), target: Type.String() }),
    ),
  ),
  tmpMb: Type.Integer({ minimum: 1 }),
  network: Network,
  hostIdBase: Type.Optional(Type.Integer({ minimum: 1 })),
  userNamespaces: Type.Optional(Type.Union([Type.Literal('deny'), Type.Literal('fork'), Type.Literal('allow')])),
  cwd: Type.String(),
});

const PipeInode = Type.Integer({ minimum: 0 });

export const ImageMetaSchema = Type.Object({
  format: Type.Integer(),
  buildId: Type.String({ minLength: 1 }),
  name: Type.String({ minLength: 1 }),
  runtime: Runtime,
  spec: SpecSchema,
  sourceDigest: Type.String(),
  sourceFingerprint: Type.String(),
  preparedDir: Type.String(),
  builtAt: Type.String(),
  buildMs: Type.Number(),
  initMs: Type.Number(),
  warmupInvocations: Type.Integer({ minimum: 0 }),
  imageBytes: Type.Number({ minimum: 0 }),
  criuVersion: Type.String(),
  criuBuild: Type.Optional(Type.String()),
  runtimeVersion: Type.String(),
  interpreter: Type.Object({ path: Type.String(), version: Type.String() }),
  pipeInodes: Type.Object({ controlIn: PipeInode, controlOut: PipeInode, stdout: PipeInode, stderr: PipeInode }),
  cloneCheck: Type.Optional(Type.Object({ sharedPaths: Type.Array(Type.String()) })),
  // Absent in images built before digests were recorded: such an image is stale (invoke/resolve.ts).
  files: Type.Optional(Type.Record(Type.String(), Type.Object({ sha256: Type.String(), size: Type.Integer({ minimum: 0 }) }))),
  rebuildReason: Type.Optional(Type.String()),
  importedAt: Type.Optional(Type.String()),
  sandbox: SandboxSchema,
});

export const imageMetaCheck = TypeCompiler.Compile(ImageMetaSchema);
