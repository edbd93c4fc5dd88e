// What the host gives every view, read once per process: the planner (sandbox-plan.ts) takes it as an input and
// stays free of effects. The device probe is the one write, in a temp dir of its own.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, open, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { isInside } from '../files/inside.ts';
import { readableByOthers } from '../files/readable-by-others.ts';
import { NATIVE_BUILD_DIR, PACKAGE_ROOT } from '../paths.ts';
import { VIEW } from './view-places.ts';

const run = promisify(execFile);

// The host's top-level directories that merged-/usr distributions make symlinks into /usr.
export const USR_LINKS = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];

/**
 * What the view holds of the host's /etc, copied into the skeleton (a copy costs nothing at restore, a bind costs
 * every start), without what others cannot read (/etc/ssl/private). Names relative to /etc; `*` ends a prefix.
 * Found by tracing each runtime's imports (strace of python3 with numpy, ssl, mimetypes, locale, zoneinfo; java
 * with TimeZone, SSLContext, probeContentType; node with tls, Intl, dns): docs/SANDBOX.md.
 */
export const ETC_COPIES = [
  // Names and addresses (glibc's resolver, getservbyname).
  'hosts',
  'resolv.conf',
  'host.conf',
  'nsswitch.conf',
  'gai.conf',
  'services',
  'protocols',
  // Time zone and locale (the zone files are under /usr/share/zoneinfo).
  'localtime',
  'timezone',
  'locale.alias',
  'default/locale',
  // The dynamic loader, and Debian's alternatives: /usr/lib/x86_64-linux-gnu/libblas.so.3 links through them.
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'alternatives',
  // CA certificates (certs/ links into /usr/share/ca-certificates; Java's cacerts is under it), MIME types,
  // the distribution's name (a link into /usr/lib).
  'ssl',
  'mime.types',
  'os-release',
  // The runtimes' own configuration: the JVM reads it through links from its prefix, Debian's python3 its
  // sitecustomize.py.
  'java-*',
  'python3*',
];

/** A host tree (or file, or link) the view's root holds a copy of. */
export interface HostCopy {
  source: string;
  /** Absolute path inside the view. */
  target: string;
}

export interface HostFacts {
  /**
   * Whether a device node made in the store's sandbox dir works (host root with CAP_MKNOD, a filesystem not
   * mounted nodev): then the root holds /dev/null and the others itself, four mounts fewer per start.
   */
  devicesInRoot: boolean;
  /** The merged-/usr links the root recreates: `/bin` -> `usr/bin`. */
  usrLinks: Record<string, string>;
  /** Those of USR_LINKS that are real directories here (no merged /usr): bound. */
  usrDirs: string[];
  /** prebake's shims and native helpers, then the host's /etc as ETC_COPIES says, that others can read. */
  copies: HostCopy[];
  /** treeStamp of each copy's source: the root's name covers them. */
  stamps: Record<string, string>;
}

/** Whether others may read `file` as a copy takes it: links are copied as links. */
function copyable(file: string): boolean {
  const info = lstatSync(file, { throwIfNoEntry: false });
  return info !== undefined && (info.isSymbolicLink() || readableByOthers(info.mode, info.isDirectory()));
}

// A link into /usr (localtime, os-release) is copied as a link: the view has /usr. One elsewhere (resolv.conf
// into /run on systemd-resolved hosts) is copied as what it leads to.
function copySource(file: string): string {
  if (!lstatSync(file).isSymbolicLink()) return file;
  try {
    const real = realpathSync(file);
    return isInside(real, '/usr') ? file : real;
  } catch {
    return file; // a dangling link stays one
  }
}

/**
 * ETC_COPIES as copies of what `etc` (the host's /etc) has and others may read, in order: a file root alone can
 * read (a resolv.conf of mode 0600, or one it links to) is left out of the plan, as a copy leaves it out of a tree.
 */
export function etcCopies(etc = '/etc'): HostCopy[] {
  const names = readdirSync(etc);
  return ETC_COPIES.flatMap((entry) => (entry.endsWith('*') ? names.filter((name) => name.startsWith(entry.slice(0, -1))).sort() : [entry]))
    .filter((name) => lstatSync(path.join(etc, name), { throwIfNoEntry: false }) !== undefined)
    .map((name) => ({ source: copySource(path.join(etc, name)), target: `/etc/${name}` }))
    .filter((copy) => copyable(copy.source));
}

function readHostFacts(devicesInRoot: boolean): Omit<HostFacts, 'stamps'> {
  const usrLinks: Record<string, string> = {};
  const usrDirs: string[] = [];
  for (const name of USR_LINKS) {
    const host = `/${name}`;
    const info = lstatSync(host, { throwIfNoEntry: false });
    if (info?.isSymbolicLink()) usrLinks[host] = readlinkSync(host);
    else if (info?.isDirectory()) usrDirs.push(host);
  }
  const copies: HostCopy[] = [
    { source: path.join(PACKAGE_ROOT, 'src', 'runtimes'), target: path.join(VIEW.runtime, 'src', 'runtimes') },
    { source: NATIVE_BUILD_DIR, target: path.join(VIEW.runtime, 'native', 'build') },
    ...etcCopies(),
  ];
  return { devicesInRoot, usrLinks, usrDirs, copies };
}

/** `make()`'s promise for `key`, made once per process; a failure is forgotten, so that a later call tries again. */
export function once<T>(cache: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let value = cache.get(key);
  if (!value) {
    value = make();
    cache.set(key, value);
    value.catch(() => cache.delete(key));
  }
  return value;
}

const facts = new Map<string, Promise<HostFacts>>();

/** The host's facts for views whose roots are made under `sandboxDir`: once per process (a daemon reads /etc at its start). */
export function hostFacts(sandboxDir: string): Promise<HostFacts> {
  return once(facts, sandboxDir, async () => {
    const read = readHostFacts(await probeDevices(sandboxDir));
    return { ...read, stamps: await treeStamps(read.copies.map((copy) => copy.source)) };
  });
}

async function probeDevices(sandboxDir: string): Promise<boolean> {
  await mkdir(sandboxDir, { recursive: true });
  const dir = await mkdtemp(path.join(sandboxDir, `.probe-${process.pid}-`));
  try {
    const node = path.join(dir, 'null');
    await run('mknod', ['-m', '0666', node, 'c', '1', '3']);
    const file = await open(node, 'w');
    await file.write('x').finally(() => file.close());
    return true;
  } catch {
    return false;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const stamps = new Map<string, Promise<string>>();

/**
 * Path, type, size, mode and mtime of everything at and under `source` that a copy takes, as one hash: a changed
 * tree makes a new root. Once per process and source.
 */
export function treeStamp(source: string): Promise<string> {
  return once(stamps, source, async () => {
    const hash = createHash('sha256');
    const walk = async (relative: string): Promise<void> => {
      const info = await lstat(path.join(source, relative));
      if (!info.isSymbolicLink() && !readableByOthers(info.mode, info.isDirectory())) return;
      hash.update(`${relative}\0${info.mode}\0${info.size}\0${info.mtimeMs}\n`);
      if (info.isDirectory()) for (const name of (await readdir(path.join(source, relative))).sort()) await walk(path.join(relative, name));
    };
    await walk('.');
    return hash.digest('hex').slice(0, 16);
  });
}

/** treeStamp of each of `sources`. */
export async function treeStamps(sources: string[]): Promise<Record<string, string>> {
  return Object.fromEntries(await Promise.all(sources.map(async (source) => [source, await treeStamp(source)] as const)));
}

/** A device node's major and minor numbers, as mknod takes them. */
export function deviceNumbers(device: string): { major: number; minor: number } {
  const { rdev } = statSync(device);
  return { major: (rdev >> 8) & 0xfff, minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00) };
}
