import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Command, Option } from 'commander';
import type { FastifyListenOptions } from 'fastify';
import { PrebakeError } from '../../errors.ts';
import { type TaskHome, takeTaskHome } from '../../host/task-homes.ts';
import type { InstanceRegistry } from '../../instance/registry.ts';
import { type DaemonConfigInput, resolveDaemonConfig } from '../../manager/config.ts';
import { readConfigFile } from '../../manager/config-file.ts';
import { START_MODES } from '../../manifest/schema.ts';
import { resolveHome } from '../../paths.ts';
import { resolveApiToken } from '../../server/token.ts';
import type { GlobalOptions } from '../context.ts';
import { wholeNumber } from '../options.ts';
import { takeOverSignals } from '../signals.ts';

interface ServeOptions {
  host: string;
  port: number;
  config?: string;
  startMode?: DaemonConfigInput['startMode'];
  maxConcurrent?: number;
  maxQueued?: number;
  queueTimeout?: number;
  fallback: boolean;
  bodyLimit?: number;
  resultLimit?: number;
  shutdownTimeout?: number;
  maxBuilds?: number;
  functionsRoot?: string[];
  tokenFile?: string;
  taskHomes?: string;
  reusePort: boolean;
  readyFile?: string;
  metricsPublic: boolean;
  logLevel: string;
}

/** `--task-homes` (PREBAKE_HOME is then not read): refused with `--home`, and without a token that outlives the home (a new one each start). */
async function takeHome(options: ServeOptions, command: Command): Promise<TaskHome> {
  if (command.optsWithGlobals<GlobalOptions>().home) {
    throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', '--task-homes makes the home: --home cannot be given too', {
      hint: 'drop one of them',
    });
  }
  if (!options.tokenFile && !process.env.PREBAKE_API_TOKEN) {
    throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', '--task-homes needs --token-file or PREBAKE_API_TOKEN', {
      hint: 'a token kept in the home would change with every start: give it as a secret (docs/DEPLOY.md)',
    });
  }
  return takeTaskHome(path.resolve(options.taskHomes!), (error) => {
    console.error(`prebake: the lock on this daemon's home could not be renewed: ${error.message}`);
  });
}

// Past the shutdown timeout, instances are ended; this much more and the daemon exits regardless.
export const SHUTDOWN_GRACE_MS = 15_000;

/** The config file, then the flags given on the command line over it. */
async function daemonConfig(options: ServeOptions, command: Command): Promise<DaemonConfigInput> {
  const config: DaemonConfigInput = options.config ? await readConfigFile(options.config) : {};
  const given = (name: string) => command.getOptionValueSource(name) === 'cli';
  if (options.startMode) config.startMode = options.startMode;
  if (options.maxConcurrent !== undefined) config.maxConcurrent = options.maxConcurrent;
  if (options.maxQueued !== undefined) config.maxQueued = options.maxQueued;
  if (options.queueTimeout !== undefined) config.queueTimeoutMs = options.queueTimeout;
  if (given('fallback')) config.fallback = options.fallback;
  if (options.bodyLimit !== undefined) config.bodyLimitBytes = options.bodyLimit;
  if (options.resultLimit !== undefined) config.resultLimitBytes = options.resultLimit;
  if (options.shutdownTimeout !== undefined) config.shutdownTimeoutMs = options.shutdownTimeout;
  if (options.maxBuilds !== undefined) config.builds = { ...config.builds, maxConcurrent: options.maxBuilds };
  if (options.functionsRoot) config.functionsRoots = [...(config.functionsRoots ?? []), ...options.functionsRoot];
  return config;
}

export function registerServe(program: Command, instances: InstanceRegistry): void {
  program
    .command('serve')
    .description('run the daemon: an HTTP API that registers, builds and invokes functions (docs/DAEMON.md)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', wholeNumber(0, 65_535), 8080)
    .option('--config <file>', 'the daemon config, JSON (docs/DAEMON.md); flags override it')
    .addOption(new Option('--start-mode <mode>', 'default start mode of functions').choices(START_MODES))
    .option('--max-concurrent <n>', 'invocations running at once', wholeNumber())
    .option('--max-queued <n>', 'invocations waiting for a slot; past that, 429', wholeNumber())
    .option('--queue-timeout <ms>', 'longest wait for a slot; then 429', wholeNumber())
    .option('--no-fallback', 'answer 502 when a restore fails, instead of starting plainly')
    .option('--body-limit <bytes>', 'largest event an invocation takes', wholeNumber())
    .option('--result-limit <bytes>', 'largest result a handler may return', wholeNumber())
    .option('--shutdown-timeout <ms>', 'how long SIGTERM waits for invocations in flight', wholeNumber())
    .option('--max-builds <n>', 'builds running at once (default: one per CPU core); more wait in a queue', wholeNumber())
    .option('--functions-root <dir>', 'register only directories inside DIR (repeatable)', (dir: string, dirs: string[] = []) => [
      ...dirs,
      dir,
    ])
    .option('--token-file <file>', 'read the API token from FILE (else PREBAKE_API_TOKEN, else <home>/api-token)')
    .option(
      '--task-homes <dir>',
      'under an orchestrator: a home of its own under DIR, removing homes no running daemon holds (docs/DEPLOY.md)',
    )
    .option(
      '--reuse-port',
      'listen with SO_REUSEPORT, so that a replacement daemon on the same host network can listen beside this one',
      false,
    )
    .option(
      '--ready-file <file>',
      'create FILE once the functions the config declares were brought in (GET /readyz), remove it at shutdown',
    )
    .option('--metrics-public', 'serve GET /metrics without the API token', false)
    .option('--log-level <level>', 'trace, debug, info, warn, error', 'info')
    .action(async (options: ServeOptions, command: Command) => {
      const taskHome = options.taskHomes ? await takeHome(options, command) : undefined;
      const home = taskHome?.home ?? resolveHome(command.optsWithGlobals<GlobalOptions>().home);
      const config = resolveDaemonConfig(await daemonConfig(options, command));
      // Loaded here, not at the top: every other command would pay for fastify and the Lambda API at start-up.
      const { buildServer } = await import('../../server/server.ts');
      const { closeGracefully } = await import('../../server/shutdown.ts');
      const apiToken = await resolveApiToken({ home, tokenFile: options.tokenFile, envToken: process.env.PREBAKE_API_TOKEN });
      // Nothing the daemon starts (criu, compilers, functions) needs to see it.
      delete process.env.PREBAKE_API_TOKEN;
      const app = await buildServer({
        home,
        instances,
        config,
        logger: { level: options.logLevel },
        auth: { token: apiToken.token, metricsPublic: options.metricsPublic },
        // The file is read again when it changes and on SIGHUP, the flags applied over it as at start.
        reload: { file: options.config, load: () => daemonConfig(options, command) },
      });
      if (taskHome) app.log.info({ home, removed: taskHome.removed }, 'took a home of its own; removed the homes of daemons gone');
      app.log.info(
        { tokenFrom: apiToken.from, created: apiToken.created },
        `API token ${apiToken.created ? 'created in' : 'read from'} ${apiToken.from}: send it as Authorization: Bearer <token>`,
      );

      takeOverSignals(['SIGINT', 'SIGTERM', 'SIGHUP']);
      app.declared.reloadOn('SIGHUP');
      let stopping = false;
      const stop = async (signal: NodeJS.Signals) => {
        if (stopping) {
          app.log.warn({ signal }, 'second signal: exiting now, ending every instance');
          process.exit(1);
        }
        stopping = true;
        if (options.readyFile) await rm(options.readyFile, { force: true });
        app.log.info({ signal, timeoutMs: config.shutdownTimeoutMs }, 'shutting down: finishing invocations in flight');
        setTimeout(() => {
          app.log.error('shutdown did not complete; exiting');
          process.exit(1);
        }, config.shutdownTimeoutMs + SHUTDOWN_GRACE_MS).unref();
        try {
          const { forced } = await closeGracefully(app, config.shutdownTimeoutMs);
          app.log.info({ forced }, 'stopped; every instance has ended');
          // Nothing restarts into a task home: it goes with its daemon.
          if (taskHome) await taskHome.release().then(() => rm(home, { recursive: true, force: true }));
          process.exit(0);
        } catch (error) {
          app.log.error({ err: error }, 'shutdown failed');
          process.exit(1);
        }
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);

      // Beside a daemon that already serves the port (a rolling update), join its SO_REUSEPORT group only once this
      // one can answer for every declared function: from its listen on, the kernel hands it a share of the requests.
      if (options.reusePort) await app.declared.whenReady;
      // fastify hands its options to Node's server.listen, which takes reusePort (Node 22.12+); its types lag.
      const listen: FastifyListenOptions & { reusePort?: boolean } = {
        host: options.host,
        port: options.port,
        reusePort: options.reusePort,
      };
      const url = await app.listen(listen);
      if (options.readyFile) {
        const readyFile = options.readyFile;
        void app.declared.whenReady
          .then(async () => {
            if (stopping) return;
            await mkdir(path.dirname(readyFile), { recursive: true });
            await writeFile(readyFile, `${process.pid}\n`);
          })
          // Not a reason to stop serving: the orchestrator's healthcheck reports the daemon unhealthy instead.
          .catch((error: unknown) => app.log.error({ err: error, readyFile }, 'could not write the ready file'));
      }
      app.log.info({ url, home }, `prebake daemon listening on ${url}`);
    });
}
