import { createHash } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { PrebakeError } from '../../errors.ts';
import { handlerProblem } from '../../manifest/handler.ts';
import type { FunctionSpec } from '../../manifest/schema.ts';
import { assertMinimumVersion, findExecutable, interpreterMissing, namedInterpreter } from '../interpreter.ts';
import { heapLimitMb, type RuntimeAdapter } from '../runtime.ts';

const SHIM_SOURCES = path.join(import.meta.dirname, 'prebake');
const SHIM_MAIN_CLASS = 'prebake.Shim';
const JAVAC_OUTPUT_LINES = 20;

// What prepare() leaves in the work directory. Nothing in it names the work directory itself: it is prepared
// under a temporary name and renamed into place (ImageStore.prepared in src/store/store.ts).
const shimClassesDir = (workDir: string): string => path.join(workDir, 'shim-classes');
const functionClassesDir = (workDir: string): string => path.join(workDir, 'classes');
const jarsFile = (workDir: string): string => path.join(workDir, 'jars.json');

/** The default java, for functions whose function.json names none: PREBAKE_JAVA, else java on PATH. */
export function javaBinary(): string {
  return process.env.PREBAKE_JAVA ?? 'java';
}

export function javacBinary(): string {
  return process.env.PREBAKE_JAVAC ?? 'javac';
}

// The javac that compiles for `fn`: for a java named in function.json, its JDK's own (beside it once links
// are followed: /usr/bin/java -> /usr/lib/jvm/<jdk>/bin/java), so that classes match the JVM that runs them.
export function javacFor(fn?: Pick<FunctionSpec, 'interpreter'>): string {
  if (!fn?.interpreter) return javacBinary();
  const java = findExecutable(fn.interpreter);
  const sibling = java && findExecutable(path.join(path.dirname(realpathSync(java)), 'javac'));
  return sibling ?? javacBinary();
}

/** The JVM flags of every instance. Exported for tests and `prebake doctor`. */
export function jvmFlags(memoryMb: number): string[] {
  return [
    // hsperfdata is a file (/tmp/hsperfdata_<user>/<pid>) that the JVM maps shared and deletes when it
    // exits: a restore would need that file back, and every clone would share the one mapping.
    '-XX:-UsePerfData',
    // Class data sharing stays on (the JDK's default): its archive is a read-only file mapping, which criu
    // restores like any other, and it makes plain starts about 15 ms faster.
    // An attach request (jcmd, jstack) would make the JVM open a listening unix socket that CRIU cannot dump.
    '-XX:+DisableAttachMechanism',
    // One GC thread instead of a pool: fewer threads to dump and restore.
    '-XX:+UseSerialGC',
    `-Xmx${heapLimitMb(memoryMb)}m`,
    // The reseeding in a restored clone (prebake/Reseed.java) sets private fields of the JDK's generators.
    '--add-opens=java.base/java.lang=ALL-UNNAMED',
    '--add-opens=java.base/java.util=ALL-UNNAMED',
    '--add-opens=java.base/java.util.concurrent=ALL-UNNAMED',
    // Closing HttpClient's idle connections before the snapshot (prebake/HttpConnections.java).
    '--add-opens=java.net.http/jdk.internal.net.http=ALL-UNNAMED',
  ];
}

export const javaRuntime: RuntimeAdapter = {
  name: 'java',
  checkHandler: (handler) => handlerProblem('java', handler),
  async prepare(fn, workDir) {
    await mkdir(workDir, { recursive: true });
    await compileShim(fn, workDir);
    const { sources, jars } = await listFunctionFiles(fn.dir);
    const classesDir = functionClassesDir(workDir);
    // From scratch: a class whose source was deleted must not linger in the image.
    await rm(classesDir, { recursive: true, force: true });
    await mkdir(classesDir, { recursive: true });
    if (sources.length > 0) {
      const classpath = [shimClassesDir(workDir), ...jars.map((jar) => path.join(fn.dir, jar))].join(path.delimiter);
      await javac(fn, workDir, 'function', ['-encoding', 'UTF-8', '-d', classesDir, '-cp', classpath, ...sources], classpath);
    }
    // Relative to the function's directory: the same prepared classes serve its source and a build's copy.
    await writeFile(jarsFile(workDir), JSON.stringify(jars));
  },
  async prepareKey(fn) {
    return `${await shimSourcesDigest()}\0${javacFor(fn)}`;
  },
  command(fn, workDir) {
    let jars: string[];
    try {
      jars = JSON.parse(readFileSync(jarsFile(workDir), 'utf8')) as string[];
    } catch (error) {
      throw new PrebakeError('PREBAKE_ERR_INTERNAL', `${fn.name}: the java runtime was not prepared in ${workDir}`, {
        cause: error,
        functionName: fn.name,
        hint: 'this is a bug in prebake: prepare() must run before command()',
      });
    }
    // The function's directory is on the classpath too: for its resources and any .class files it ships.
    const classpath = [shimClassesDir(workDir), functionClassesDir(workDir), fn.dir, ...jars.map((jar) => path.resolve(fn.dir, jar))].join(
      path.delimiter,
    );
    return {
      argv: [namedInterpreter(fn, javaBinary()), ...jvmFlags(fn.memoryMb), '-cp', classpath, SHIM_MAIN_CLASS, fn.dir, fn.handler],
      env: {},
    };
  },
  async interpreter(fn) {
    const binary = namedInterpreter(fn, javaBinary());
    const found = findExecutable(binary);
    if (!found) throw interpreterMissing('java', fn, binary, 'is not an executable file');
    const java = await execa(found, ['-version'], { reject: false });
    const javaVersion = /version "([^"]+)"/.exec(java.stderr)?.[1];
    if (java.exitCode !== 0 || !javaVersion) throw interpreterMissing('java', fn, binary, 'does not run as a JVM', { stderr: java.stderr });
    assertMinimumVersion('java', fn, binary, javaVersion);
    const javacBinaryFound = javacFor(fn);
    const javac = await execa(javacBinaryFound, ['-version'], { reject: false });
    const javacVersion = /javac (\S+)/.exec(`${javac.stdout}\n${javac.stderr}`)?.[1];
    if (javac.exitCode !== 0 || !javacVersion) {
      throw interpreterMissing(
        'java',
        fn,
        binary,
        `has no javac beside it, and ${javacBinaryFound} does not run (a JDK 17 or later is needed: apt-get install openjdk-17-jdk-headless)`,
      );
    }
    return { path: found, version: `java ${javaVersion} (javac ${javacVersion})` };
  },
};

async function shimSources(): Promise<string[]> {
  const names = (await readdir(SHIM_SOURCES)).filter((name) => name.endsWith('.java')).sort();
  return names.map((name) => path.join(SHIM_SOURCES, name));
}

// A digest of the shim's sources: prepared directories are keyed by it (and the stamp below checks it).
async function shimSourcesDigest(): Promise<string> {
  const digest = createHash('sha256');
  for (const source of await shimSources()) digest.update(source).update(await readFile(source));
  return digest.digest('hex');
}

// The shim's classes, compiled once per work directory (again when its sources change).
async function compileShim(fn: FunctionSpec, workDir: string): Promise<void> {
  const sources = await shimSources();
  const stamp = await shimSourcesDigest();
  const outDir = shimClassesDir(workDir);
  const stampFile = path.join(outDir, '.sources-sha256');
  if ((await readFile(stampFile, 'utf8').catch(() => '')) === stamp) return;
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  await javac(fn, workDir, "prebake's shim", ['-encoding', 'UTF-8', '-d', outDir, ...sources], '');
  await writeFile(stampFile, stamp);
}

async function javac(fn: FunctionSpec, workDir: string, what: string, args: string[], classpath: string): Promise<void> {
  const binary = javacFor(fn);
  // An argument file: a function may have more sources than a command line holds.
  const argFile = path.join(workDir, 'javac.args');
  await writeFile(argFile, args.map(quoteArgument).join('\n'));
  const result = await execa(binary, [`@${argFile}`], { reject: false, all: true });
  await rm(argFile, { force: true });
  if (result.exitCode === 0) return;
  if ((result as { code?: string }).code === 'ENOENT') {
    throw new PrebakeError('PREBAKE_ERR_RUNTIME_MISSING', `${fn.name}: cannot run ${binary}`, {
      functionName: fn.name,
      hint: 'install a JDK 17 or later (apt-get install openjdk-17-jdk-headless), or set "interpreter" in function.json to the java of a JDK',
    });
  }
  const output = (result.all ?? '').split('\n').slice(0, JAVAC_OUTPUT_LINES).join('\n').trim();
  const subject = what === 'function' ? '' : ` on ${what}`;
  // The classpath is what a missing import most often comes down to: a jar that is not there.
  const listed = classpath ? `\nclasspath: ${classpath}` : '';
  throw new PrebakeError('PREBAKE_ERR_INIT_FAILED', `${fn.name}: javac failed${subject}: ${output}${listed}`, {
    functionName: fn.name,
    details: { command: `${binary} @${argFile}`, exitCode: result.exitCode, classpath },
    hint: `fix the compile errors: prebake compiles every .java file under ${fn.dir} with javac, against the .jar files there (symbolic links included)`,
  });
}

// javac argument files: quote each argument, escaping backslashes and quotes.
function quoteArgument(argument: string): string {
  return `"${argument.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

// Sources by absolute path; jars relative to `dir`. A jar may be a symbolic link (to /usr/share/java, say).
async function listFunctionFiles(dir: string): Promise<{ sources: string[]; jars: string[] }> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const sources: string[] = [];
  const jars: string[] = [];
  for (const entry of entries) {
    const file = path.join(entry.parentPath, entry.name);
    if (entry.isFile() && entry.name.endsWith('.java')) sources.push(file);
    if (!entry.name.endsWith('.jar')) continue;
    if (
      entry.isSymbolicLink() &&
      !(await stat(file).then(
        (info) => info.isFile(),
        () => false,
      ))
    ) {
      throw new PrebakeError(
        'PREBAKE_ERR_INIT_FAILED',
        `${path.relative(dir, file)} is a symbolic link to ${await readlink(file)}, which is not a file`,
        {
          hint: 'point the link at an existing .jar, or remove it',
        },
      );
    }
    if (entry.isFile() || entry.isSymbolicLink()) jars.push(path.relative(dir, file));
  }
  return { sources: sources.sort(), jars: jars.sort() };
}
