// deploy/swarm: what scripts/swarm-test.sh proves on a real engine (not part of the suite: minutes, a Docker
// engine), checked here against what prebake reads, so that a change on either side shows: the capabilities
// criu needs, the paths the flags name, the drain, the seccomp profile's one addition, and the variant without
// the routing mesh.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SHUTDOWN_GRACE_MS } from '../../src/cli/commands/serve.ts';
import { REQUIRED_CAPS } from '../../src/criu/privileges.ts';
import { DEFAULTS } from '../../src/manager/config.ts';

const REPO = path.resolve(import.meta.dirname, '../..');
const STACK = path.join(REPO, 'deploy/swarm/stack.yml');

interface Service {
  command: string[];
  cap_add: string[];
  configs: { source: string; target: string }[];
  secrets: { source: string; target: string }[];
  healthcheck: { test: string[] };
  stop_grace_period: string;
  ports?: unknown[];
  networks?: string[];
  deploy: { mode: string; update_config: { order: string } };
}
const load = (text: string) => parse(text) as { services: { prebake: Service }; networks?: Record<string, unknown> };
const stack = load(readFileSync(STACK, 'utf8'));
const prebake = stack.services.prebake;
const flag = (service: Service, name: string) => service.command.find((arg) => arg.startsWith(`${name}=`))?.slice(name.length + 1);

describe('deploy/swarm/stack.yml', () => {
  it("gives the daemon criu's capabilities, and nothing a service could not take", () => {
    expect(prebake.cap_add.sort()).toEqual(REQUIRED_CAPS.map(([name]) => name.replace(/^CAP_/, '')).sort());
    for (const key of ['privileged', 'security_opt', 'devices', 'cgroupns_mode']) expect(prebake).not.toHaveProperty(key);
  });

  it('reads its token, config and ready file where the stack puts them', () => {
    expect(flag(prebake, '--token-file')).toBe(prebake.secrets[0]!.target);
    expect(flag(prebake, '--config')).toBe(prebake.configs[0]!.target);
    expect(prebake.healthcheck.test).toEqual(['CMD', 'test', '-e', flag(prebake, '--ready-file')]);
    expect(flag(prebake, '--task-homes')).toBe('/var/lib/prebake');
  });

  it('rolls one daemon per node, the next started before the old stops, each given its whole drain', () => {
    expect(prebake.deploy.mode).toBe('global');
    expect(prebake.deploy.update_config.order).toBe('start-first');
    const grace = Number(/^(\d+)s$/.exec(prebake.stop_grace_period)?.[1]);
    expect(grace * 1000).toBeGreaterThanOrEqual(DEFAULTS.shutdownTimeoutMs + SHUTDOWN_GRACE_MS);
  });

  it('has a variant without the routing mesh: the host network, and a port the next daemon can share', async () => {
    const variant = load((await execa(process.execPath, [path.join(REPO, 'scripts/swarm-host-network.ts'), STACK])).stdout);
    const service = variant.services.prebake;
    expect(service.ports).toBeUndefined();
    expect(service.networks).toEqual(['hostnet']);
    expect(variant.networks).toEqual({ hostnet: { external: true, name: 'host' } });
    // biome-ignore lint/suspicious/noTemplateCurlyInString: compose's variable, substituted by docker stack deploy
    expect(service.command).toEqual([...prebake.command, '--reuse-port', '--port=${PREBAKE_PORT:-8080}']);
  });
});

describe('deploy/swarm/seccomp.json', () => {
  interface Rule {
    names: string[];
    action: string;
    includes?: { caps?: string[] };
    excludes?: { caps?: string[] };
  }
  const profile = JSON.parse(readFileSync(path.join(REPO, 'deploy/swarm/seccomp.json'), 'utf8')) as {
    defaultAction: string;
    syscalls: Rule[];
  };

  it('allows pivot_root only beside mount and unshare, to a process holding CAP_SYS_ADMIN, and refuses what it does not list', () => {
    expect(profile.defaultAction).toBe('SCMP_ACT_ERRNO');
    const allowing = profile.syscalls.filter((rule) => rule.names.includes('pivot_root'));
    expect(allowing).toHaveLength(1);
    expect(allowing[0]).toMatchObject({ action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } });
    expect(allowing[0]!.names).toEqual(expect.arrayContaining(['mount', 'umount2', 'unshare', 'setns']));
    // Docker's own refusals stay: no filter-free path to the kernel's keyring or to userfaultfd.
    const allowed = new Set(profile.syscalls.filter((rule) => rule.action === 'SCMP_ACT_ALLOW').flatMap((rule) => rule.names));
    for (const refused of ['keyctl', 'add_key', 'userfaultfd', 'kexec_load']) expect(allowed.has(refused), refused).toBe(false);
  });
});
