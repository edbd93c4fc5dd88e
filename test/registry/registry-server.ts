// A real OCI registry for the tests: Debian's docker-registry (the reference implementation, installed by
// scripts/setup.sh), on a free loopback port, with its storage in the test's sandbox.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';

export const REGISTRY_BINARY = '/usr/bin/docker-registry';

export interface TestRegistry {
  /** host:port */
  address: string;
  storageDir: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startRegistry(root: string): Promise<TestRegistry> {
  if (!existsSync(REGISTRY_BINARY)) throw new Error(`${REGISTRY_BINARY} is missing: run scripts/setup.sh (it installs docker-registry)`);
  const port = await freePort();
  const storageDir = path.join(root, 'registry');
  const config = path.join(root, 'registry.yml');
  await writeFile(
    config,
    `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${storageDir}\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const child: ResultPromise = execa(REGISTRY_BINARY, ['serve', config], { reject: false });
  const address = `127.0.0.1:${port}`;
  const stop = async () => {
    child.kill('SIGTERM');
    await child;
  };
  for (const deadline = Date.now() + 20_000; ; ) {
    const up = await fetch(`http://${address}/v2/`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not start on ${address}: ${(await child).stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { address, storageDir, stop };
}
