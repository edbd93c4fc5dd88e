// deploy/kubernetes/: no cluster runs here, so the manifests are checked against Kubernetes' schema
// (kubernetes-schema.ts) and against what prebake itself reads: its flags, its config schema, its token rules,
// its drain, the capabilities criu needs and the image's port and store.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { SHUTDOWN_GRACE_MS } from '../../src/cli/commands/serve.ts';
import { REQUIRED_CAPS } from '../../src/criu/privileges.ts';
import { type DaemonConfigInput, DEFAULTS, resolveDaemonConfig } from '../../src/manager/config.ts';
import { parseReference } from '../../src/registry/reference.ts';
import { resolveApiToken } from '../../src/server/token.ts';
import { fieldErrors, type KubernetesObject, schemaErrors } from './kubernetes-schema.ts';

const REPO = path.resolve(import.meta.dirname, '../..');
const DIR = path.join(REPO, 'deploy/kubernetes');

const manifestFiles = readdirSync(DIR).filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml');
const objects: KubernetesObject[] = manifestFiles.flatMap((file) =>
  parseAllDocuments(readFileSync(path.join(DIR, file), 'utf8')).map((document) => {
    if (document.errors.length) throw new Error(`${file}: ${document.errors[0]?.message}`);
    return document.toJS() as KubernetesObject;
  }),
);

function only(kind: string): KubernetesObject {
  const found = objects.filter((object) => object.kind === kind);
  expect(found, `one ${kind} in deploy/kubernetes`).toHaveLength(1);
  return found[0] as KubernetesObject;
}

// Just the fields read below; the schema checks hold the rest.
interface Probe {
  httpGet?: { path: string; port: number | string };
}
interface Container {
  args: string[];
  ports: { name?: string; containerPort: number }[];
  securityContext: { runAsUser?: number; capabilities?: { add?: string[] } };
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { sleep?: { seconds: number } } };
  volumeMounts: { name: string; mountPath: string; subPath?: string }[];
}
interface Volume {
  name: string;
  secret?: { secretName: string; items?: unknown[] };
  configMap?: { name: string; items?: unknown[] };
  hostPath?: { path: string; type?: string };
  emptyDir?: { medium?: string };
}
interface PodSpec {
  hostNetwork?: boolean;
  hostPID?: boolean;
  terminationGracePeriodSeconds?: number;
  containers: Container[];
  volumes: Volume[];
}
interface DaemonSetSpec {
  selector: { matchLabels: Record<string, string> };
  updateStrategy: { type: string; rollingUpdate?: { maxUnavailable?: number | string } };
  template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
}

const daemonSet = only('DaemonSet') as KubernetesObject & { spec: DaemonSetSpec };
const pod = daemonSet.spec.template.spec;
const container = pod.containers[0] as Container;

/** The value after `flag` in the container's args. */
function argValue(flag: string): string {
  const at = container.args.indexOf(flag);
  expect(at, `${flag} in the DaemonSet's args`).toBeGreaterThanOrEqual(0);
  return container.args[at + 1] as string;
}

/** The volume mounted at `dir` (a whole directory: a subPath mount never sees its source's updates). */
function volumeAt(dir: string): Volume {
  const mount = container.volumeMounts.find((m) => m.mountPath === dir);
  expect(mount, `a volume mounted at ${dir}`).toBeDefined();
  expect(mount?.subPath).toBeUndefined();
  const volume = pod.volumes.find((v) => v.name === mount?.name);
  expect(volume).toBeDefined();
  return volume as Volume;
}

const configMap = only('ConfigMap') as KubernetesObject & { data: Record<string, string> };
const configFile = argValue('--config');
const daemonConfig = JSON.parse(configMap.data[path.basename(configFile)] ?? 'null') as Record<string, unknown>;

describe('deploy/kubernetes against Kubernetes v1.36 schema', () => {
  it('lists every manifest in its kustomization, and nothing else', () => {
    const kustomization = parse(readFileSync(path.join(DIR, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect([...kustomization.resources].sort()).toEqual([...manifestFiles].sort());
  });

  it.each(objects.map((object) => [`${object.kind} ${object.metadata.name}`, object] as const))('%s validates', (_, object) => {
    expect(schemaErrors(object)).toEqual([]);
  });

  it('has no field Kubernetes does not know (kubectl apply refuses them)', () => {
    expect(fieldErrors(objects)).toEqual([]);
  });

  it('refuses a typo in a field name, and a value outside an enum', () => {
    const typo = structuredClone(daemonSet);
    Object.assign(typo.spec.template.spec, { terminationGracePeriodSecond: 50 });
    const errors = fieldErrors([typo]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^DaemonSet prebake: .*terminationGracePeriodSecond.* does not exist in type 'IPodSpec'/);

    const badEnum = structuredClone(daemonSet);
    const tun = badEnum.spec.template.spec.volumes.find((v) => v.name === 'tun') as Volume;
    tun.hostPath = { path: '/dev/net/tun', type: 'CharDev' };
    expect(schemaErrors(badEnum).join()).toMatch(/hostPath\/type must be equal to one of the allowed values/);
  });

  it('keeps every object in the namespace it creates, and selects the DaemonSet pods by their labels', () => {
    const namespace = only('Namespace').metadata.name;
    for (const object of objects.filter((o) => o.kind !== 'Namespace')) expect(object.metadata.namespace).toBe(namespace);
    const labels = daemonSet.spec.template.metadata.labels;
    expect(labels).toMatchObject(daemonSet.spec.selector.matchLabels);
    for (const kind of ['Service', 'PodDisruptionBudget']) {
      const spec = only(kind).spec as { selector: Record<string, string> & { matchLabels?: Record<string, string> } };
      expect(labels).toMatchObject(spec.selector.matchLabels ?? spec.selector);
    }
  });
});

describe('deploy/kubernetes against prebake', () => {
  const dockerfile = readFileSync(path.join(REPO, 'Dockerfile'), 'utf8');
  const imagePort = Number(/"--port", "(\d+)"/.exec(dockerfile)?.[1]);
  const portNumber = (port: number | string) =>
    typeof port === 'number' ? port : container.ports.find((p) => p.name === port)?.containerPort;

  it('serves on the port the image listens on, and the Service and the probes reach it', () => {
    expect(dockerfile).toContain(`EXPOSE ${imagePort}`);
    expect(container.ports.map((p) => p.containerPort)).toEqual([imagePort]);
    const service = only('Service').spec as { ports: { targetPort: number | string }[] };
    expect(service.ports.map((p) => portNumber(p.targetPort))).toEqual([imagePort]);
    // Liveness asks whether the daemon runs; readiness whether it brought in what its config declares.
    expect([container.startupProbe, container.readinessProbe, container.livenessProbe].map((p) => p?.httpGet?.path)).toEqual([
      '/healthz',
      '/readyz',
      '/healthz',
    ]);
    for (const probe of [container.startupProbe, container.readinessProbe, container.livenessProbe]) {
      expect(portNumber(probe?.httpGet?.port ?? 0)).toBe(imagePort);
    }
  });

  it('mounts the token Secret where --token-file reads it, with a placeholder the daemon refuses', async () => {
    const tokenFile = argValue('--token-file');
    const secret = only('Secret') as KubernetesObject & { stringData: Record<string, string> };
    const volume = volumeAt(path.dirname(tokenFile));
    expect(volume.secret?.secretName).toBe(secret.metadata.name);
    expect(volume.secret?.items).toBeUndefined();
    const placeholder = secret.stringData[path.basename(tokenFile)];
    expect(placeholder).toBeDefined();
    // Applied unedited, a working placeholder would be a public root token: it must stop the daemon instead.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'prebake-k8s-token-'));
    try {
      writeFileSync(path.join(dir, 'token'), `${placeholder}\n`);
      await expect(resolveApiToken({ home: dir, tokenFile: path.join(dir, 'token') })).rejects.toMatchObject({
        code: 'PREBAKE_ERR_INVALID_INPUT',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('mounts the ConfigMap where --config reads it, and its config validates against the daemon schema', () => {
    const volume = volumeAt(path.dirname(configFile));
    expect(volume.configMap?.name).toBe(configMap.metadata.name);
    expect(volume.configMap?.items).toBeUndefined();
    const resolved = resolveDaemonConfig(daemonConfig as DaemonConfigInput);
    // Declared by reference, each a reference the daemon can pull.
    expect(resolved.declared.length).toBeGreaterThan(0);
    for (const { bundle } of resolved.declared) expect(() => parseReference(bundle, resolved.insecureRegistries)).not.toThrow();
  });

  it('gives the daemon its whole drain before the kubelet kills it', () => {
    const shutdownTimeoutMs = (daemonConfig.shutdownTimeoutMs as number | undefined) ?? DEFAULTS.shutdownTimeoutMs;
    const preStopSeconds = container.lifecycle?.preStop?.sleep?.seconds ?? 0;
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(preStopSeconds + (shutdownTimeoutMs + SHUTDOWN_GRACE_MS) / 1000);
  });

  it('adds exactly the capabilities criu needs, runs as root, and shares neither host network nor host PIDs', () => {
    const needed = REQUIRED_CAPS.map(([name]) => name.replace(/^CAP_/, ''));
    expect([...(container.securityContext.capabilities?.add ?? [])].sort()).toEqual([...needed].sort());
    expect(container.securityContext.runAsUser).toBe(0);
    expect(pod.hostNetwork).not.toBe(true);
    expect(pod.hostPID).not.toBe(true);
  });

  it('keeps the store on the node at PREBAKE_HOME, /run on a tmpfs, and the host cgroups and tun device mounted', () => {
    const home = /PREBAKE_HOME=(\S+)/.exec(dockerfile)?.[1] as string;
    expect(volumeAt(home).hostPath).toMatchObject({ path: home });
    expect(volumeAt('/run').emptyDir).toMatchObject({ medium: 'Memory' });
    expect(volumeAt('/sys/fs/cgroup').hostPath).toMatchObject({ path: '/sys/fs/cgroup' });
    expect(volumeAt('/dev/net/tun').hostPath).toMatchObject({ path: '/dev/net/tun', type: 'CharDevice' });
  });

  it('rolls one node at a time', () => {
    expect(daemonSet.spec.updateStrategy).toMatchObject({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
  });
});
