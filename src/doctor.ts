// prebake doctor: what prebake depends on, checked one by one, each with what to do when it fails.
import { execFile } from 'node:child_process';
import { access, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { CGROUP_ROOT, homeTag, hostCgroups, instanceCgroupName, migrationState } from './cgroup/host.ts';
import { sortComplaints } from './criu/check-verdict.ts';
import { Criu } from './criu/criu.ts';
import { kdatState } from './criu/kdat.ts';
import { measurePageFaultCost } from './criu/page-fault-cost.ts';
import { dumpBlocker, judgePrivileges } from './criu/privileges.ts';
import { OUTBOUND_HELPER } from './launch/outbound.ts';
import { RUNTIMES } from './manifest/schema.ts';
import { NATIVE_BUILD_DIR, resolveHome } from './paths.ts';
import { runtimeFor } from './runtimes/index.ts';
import type { ImageStore } from './store/store.ts';

const run = promisify(execFile);

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** A failed check that prebake can live with (only one runtime missing, say). */
  optional?: boolean;
}

/** `store`: the home whose functions are looked at (which ones share the host's network). */
export async function runDoctor(criu = new Criu(), store?: ImageStore): Promise<Check[]> {
  const checks: Check[] = [];
  const add = async (name: string, probe: () => Promise<string>, optional = false) => {
    try {
      checks.push({ name, ok: true, detail: await probe(), optional });
    } catch (error) {
      checks.push({ name, ok: false, detail: error instanceof Error ? error.message : String(error), optional });
    }
  };

  await add('criu', async () => {
    const [version, build] = await Promise.all([criu.version(), criu.build()]);
    const patches = build.patches.length > 0 ? `; patches ${build.patches.join(', ')}` : '';
    return `${version} at ${criu.binary}: ${build.kind} build, ${build.linked === 'static' ? 'statically' : 'dynamically'} linked (${build.source}; sha256 ${build.sha256}${patches})`;
  });
  await add(
    'huge page fill',
    async () => {
      const fill = await criu.hugePageFill();
      if (!fill.on) throw new Error(`${fill.detail}: restores fill memory 4 KiB at a time (slower for large images)`);
      return `on: restores fill memory with ${fill.detail}`;
    },
    true,
  );
  // Information, not a failure: where breakpoints do not work criu runs without them (criu/breakpoints.ts).
  await add('hardware breakpoints', async () => (await criu.breakpoints()).detail);
  await add(
    'page faults',
    async () => {
      const cost = await measurePageFaultCost();
      if (cost.slow) throw new Error(cost.detail);
      return cost.detail;
    },
    true,
  );
  await add('criu check', async () => {
    const result = await criu.check();
    if (result.ok) return 'Looks good.';
    const complaints = sortComplaints(result.output, { clone3SetTid: await criu.hasFeature('clone3_set_tid') });
    const serious = complaints.filter((c) => !c.harmless).map((c) => c.what);
    if (serious.length || !complaints.length) {
      throw new Error(`criu check failed: ${(serious.length ? serious : result.output.split('\n').slice(-3)).join(' | ')}`);
    }
    // As in a container: criu's own verdict is "Does not look good", for things prebake does not use.
    return `good enough for prebake (${complaints.map((c) => `${c.what}: ${c.harmless}`).join('; ')})`;
  });
  await add('privileges', async () => {
    const report = judgePrivileges(await readFile('/proc/self/status', 'utf8'), process.getuid?.());
    if (!report.ok) throw new Error(report.detail);
    return report.detail;
  });
  // Optional: a daemon under a filter it cannot lift (a Swarm service) still restores what was built elsewhere.
  await add(
    'checkpoint',
    async () => {
      const blocker = dumpBlocker(await readFile('/proc/self/status', 'utf8'));
      if (blocker) throw new Error(blocker);
      return 'no seccomp filter on prebake: criu can dump';
    },
    true,
  );
  await add('kernel', async () => {
    const release = (await readFile('/proc/sys/kernel/osrelease', 'utf8')).trim();
    await access('/proc/sys/kernel/ns_last_pid').catch(() => {
      throw new Error(`${release}: no /proc/sys/kernel/ns_last_pid (CONFIG_CHECKPOINT_RESTORE is off)`);
    });
    await access('/proc/self/ns/pid').catch(() => {
      throw new Error(`${release}: no PID namespaces`);
    });
    return `${release}: checkpoint/restore and PID namespaces available`;
  });
  await add('cgroups', async () => {
    const hierarchy = hostCgroups();
    if (!hierarchy)
      throw new Error(
        `no cgroup2 and no v1 memory, pids and freezer under ${CGROUP_ROOT}: instances cannot start (their limits could not be enforced)`,
      );
    const can = hierarchy.enforceable();
    const where = `cgroup v${hierarchy.version} at ${hierarchy.root}`;
    if (!can.memory || !can.pids)
      throw new Error(`${where}: the ${!can.memory ? 'memory' : 'pids'} controller is not available to prebake`);
    // A real cgroup made and ended, as for an instance: proves the hierarchy is writable.
    await hierarchy
      .create(instanceCgroupName(store?.homeTag ?? homeTag(resolveHome())), { memoryBytes: 64 * 1024 * 1024, maxProcesses: 16 })
      .end();
    return `${where}: enforces memoryMb (${can.swap ? 'swap included' : 'swap not accounted: set vm.swappiness or swapaccount=1'}), maxProcesses${can.cpu ? ', cpus' : '; not cpus (no cpu controller)'}`;
  });
  await add(
    'cgroup migrations',
    async () => {
      const state = migrationState();
      if (!state) throw new Error('no cgroups (see above)');
      if (state.mode === 'slow') throw new Error(`slow: each instance start waits ~10 ms for an RCU grace period: ${state.detail}`);
      return `fast: ${state.detail}`;
    },
    true,
  );
  await add('native helpers', async () => {
    for (const file of [
      'prebake-exec',
      'prebake-restore',
      'breakpoint-probe',
      'page-fault-probe',
      'pipe.node',
      'reseed.node',
      'spawn.node',
      'trim.node',
    ]) {
      await stat(path.join(NATIVE_BUILD_DIR, file)).catch(() => {
        throw new Error(`${file} is not built: run scripts/setup.sh (or bash native/build.sh)`);
      });
    }
    return NATIVE_BUILD_DIR;
  });
  await add(
    'criu kernel-probe cache',
    async () => {
      const { kdatFile } = await criu.build();
      const state = await kdatState(kdatFile);
      if (state === 'criu-managed') return `/run is a tmpfs: criu keeps its kernel probe in ${kdatFile}`;
      if (state === 'present') return `${kdatFile} is there for this boot (prebake wrote it: /run is not a tmpfs)`;
      return `${kdatFile} is not there yet: prebake writes it at its first build or restore (/run is not a tmpfs)`;
    },
    true,
  );
  await add('outbound network', async () => {
    const { stdout: output } = await run(OUTBOUND_HELPER, ['--version']).catch((error: unknown) => {
      throw new Error(
        `${OUTBOUND_HELPER} is not usable (${(error as Error).message}): functions with "network": "outbound" (the default) cannot start; run scripts/setup.sh`,
      );
    });
    return `${output.split('\n')[0]}: gives "outbound" instances egress, not the host's loopback`;
  });
  if (store) {
    // Information: "host" is an opt-in each function makes, and one an administrator should know of.
    await add(
      'functions on the host network',
      async () => {
        const host = (await store.list()).filter((meta) => meta.sandbox.network === 'host').map((meta) => meta.name);
        if (host.length > 0)
          throw new Error(`${host.join(', ')}: "network": "host", they reach every listener on the host (loopback, abstract sockets)`);
        return 'none';
      },
      true,
    );
  }
  for (const name of RUNTIMES) {
    await add(
      `runtime ${name}`,
      async () => {
        // The default interpreter; a function may name another in function.json (prebake ls shows which ran).
        const interpreter = await runtimeFor(name).interpreter();
        return `${interpreter.version} at ${interpreter.path}`;
      },
      true,
    );
  }
  return checks;
}
