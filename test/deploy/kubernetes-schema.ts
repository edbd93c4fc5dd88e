// Validates Kubernetes objects two ways, both from kubernetes-models (generated from Kubernetes' OpenAPI spec,
// v1.36.0 in kubernetes-models 5.x): its JSON-schema validators check types, enums and required fields, and
// TypeScript's excess-property check against its interfaces refuses unknown fields, which the published schema
// allows (it has no additionalProperties: false) but `kubectl apply` refuses (strict field validation).
import path from 'node:path';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import ts from 'typescript';

export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [field: string]: unknown;
}

interface Kind {
  model: new (data: never) => { validate(): void };
  /** The module and interface TypeScript checks the object against. */
  module: string;
  type: string;
}

const KINDS: Record<string, Kind> = {
  'v1/Namespace': { model: Namespace, module: 'kubernetes-models/v1/Namespace', type: 'INamespace' },
  'v1/ConfigMap': { model: ConfigMap, module: 'kubernetes-models/v1/ConfigMap', type: 'IConfigMap' },
  'v1/Secret': { model: Secret, module: 'kubernetes-models/v1/Secret', type: 'ISecret' },
  'v1/Service': { model: Service, module: 'kubernetes-models/v1/Service', type: 'IService' },
  'apps/v1/DaemonSet': { model: DaemonSet, module: 'kubernetes-models/apps/v1/DaemonSet', type: 'IDaemonSet' },
  'policy/v1/PodDisruptionBudget': {
    model: PodDisruptionBudget,
    module: 'kubernetes-models/policy/v1/PodDisruptionBudget',
    type: 'IPodDisruptionBudget',
  },
};

function kindOf(object: KubernetesObject): Kind {
  const kind = KINDS[`${object.apiVersion}/${object.kind}`];
  if (!kind) throw new Error(`no schema here for ${object.apiVersion} ${object.kind}: add it to KINDS`);
  return kind;
}

/** The schema's complaints about `object` (types, enums, required fields), or none. */
export function schemaErrors(object: KubernetesObject): string[] {
  const { model: KindModel } = kindOf(object);
  try {
    new KindModel(object as never).validate();
    return [];
  } catch (error) {
    return [(error as Error).message];
  }
}

// Under the repository, so that the module resolution finds node_modules; never written to disk.
const CHECK_FILE = path.resolve(import.meta.dirname, '__kubernetes-objects__.ts');

/** TypeScript's complaints about each object as its kind's interface (unknown fields among them), or none. */
export function fieldErrors(objects: readonly KubernetesObject[]): string[] {
  const kinds = objects.map(kindOf);
  const source = [
    ...kinds.map(({ module, type }, i) => `import type { ${type} as T${i} } from '${module}';`),
    ...objects.map((object, i) => `export const object${i}: T${i} = ${JSON.stringify(object)};`),
  ].join('\n');
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2023,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (file) => (file === CHECK_FILE ? source : readFile(file));
  host.fileExists = (file) => file === CHECK_FILE || fileExists(file);
  host.getSourceFile = (file, language, ...rest) =>
    file === CHECK_FILE ? ts.createSourceFile(file, source, language) : getSourceFile(file, language, ...rest);
  const program = ts.createProgram([CHECK_FILE], options, host);
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    if (diagnostic.file?.fileName !== CHECK_FILE || diagnostic.start === undefined) return text;
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    const index = line - kinds.length;
    const object = objects[index];
    return object ? `${object.kind} ${object.metadata.name}: ${text}` : text;
  });
}
