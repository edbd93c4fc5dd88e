// Registry credentials from docker's config.json (`docker login` writes it): `auths` entries by registry, each
// `auth` (base64 of user:password) or `username` and `password`. Credential helpers (`credsStore`,
// `credHelpers`) and `identitytoken` (an OAuth refresh token) need programs or grants prebake does not run:
// they are refused only when a registry they cover is asked for, so a Docker Desktop config (which names a
// `credsStore`) still serves every registry written out in `auths`, and anonymous ones.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { PrebakeError } from '../errors.ts';

export interface RegistryCredential {
  username: string;
  password: string;
}

/** The credentials for a registry (host[:port]), if any; `file` names where they come from, for hints. */
export type RegistryCredentials = ((registry: string) => RegistryCredential | undefined) & { file?: string };

interface AuthEntry {
  auth?: unknown;
  username?: unknown;
  password?: unknown;
  identitytoken?: unknown;
}

// Docker Hub goes by several names in config files; a reference names it docker.io.
const DOCKER_HUB = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** A config key or a reference's registry as host[:port]: `https://host/v1/`, `http://host:port`, `host:port`. */
export function normaliseRegistry(key: string): string {
  const host = key
    .trim()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
  return DOCKER_HUB.has(host) ? 'docker.io' : host;
}

/** `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`: where docker keeps its logins. */
export function defaultDockerConfig(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.DOCKER_CONFIG || path.join(homedir(), '.docker'), 'config.json');
}

/** The credentials of `file` when given, else of docker's default config when it exists, else none. */
export async function credentialsOption(file: string | undefined): Promise<RegistryCredentials | undefined> {
  if (file !== undefined) return loadDockerConfig(file);
  const fallback = defaultDockerConfig();
  return existsSync(fallback) ? loadDockerConfig(fallback) : undefined;
}

export async function loadDockerConfig(file: string): Promise<RegistryCredentials> {
  const invalid = (why: string, cause?: unknown) =>
    new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `the registry credentials file ${file} ${why}`, {
      cause,
      hint: 'give a file in docker\'s config.json format: {"auths": {"<registry>": {"auth": "<base64 of user:password>"}}}',
    });
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // The parser's own message quotes the text around a syntax error, which may be a secret.
    throw invalid(code ? `cannot be read (${code})` : 'is not JSON', code ? error : undefined);
  }
  if (!isObject(parsed)) throw invalid('is not a JSON object');
  const auths = parsed.auths ?? {};
  if (!isObject(auths)) throw invalid('has an "auths" that is not an object');
  const helpers = isObject(parsed.credHelpers) ? parsed.credHelpers : {};
  const store = typeof parsed.credsStore === 'string' ? parsed.credsStore : undefined;

  const found = new Map<string, RegistryCredential | (() => never)>();
  for (const [key, entry] of Object.entries(auths)) {
    if (!isObject(entry)) throw invalid(`has an entry "auths.${key}" that is not an object`);
    const credential = readEntry(entry as AuthEntry, (why) => invalid(`has an entry "auths.${key}" ${why}`));
    if (credential) found.set(normaliseRegistry(key), credential);
    else if (entry.identitytoken !== undefined)
      found.set(
        normaliseRegistry(key),
        unsupported(file, `auths.${key}.identitytoken`, 'are an identity token, which prebake does not exchange'),
      );
    else if (store)
      found.set(
        normaliseRegistry(key),
        unsupported(file, 'credsStore', `are kept by the credential helper "${store}", which prebake does not run`),
      );
  }
  for (const [key, helper] of Object.entries(helpers)) {
    found.set(
      normaliseRegistry(key),
      unsupported(file, `credHelpers.${key}`, `are kept by the credential helper "${String(helper)}", which prebake does not run`),
    );
  }
  const credentials: RegistryCredentials = (registry) => {
    const credential = found.get(normaliseRegistry(registry));
    return typeof credential === 'function' ? credential() : credential;
  };
  credentials.file = file;
  return credentials;
}

function readEntry(entry: AuthEntry, invalid: (why: string) => PrebakeError): RegistryCredential | undefined {
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw invalid('whose "auth" is not the base64 of user:password');
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (entry.username === undefined && entry.password === undefined) return undefined;
  if (typeof entry.username !== 'string' || entry.username === '' || typeof entry.password !== 'string')
    throw invalid('that needs both "username" and "password" as strings');
  return { username: entry.username, password: entry.password };
}

function unsupported(file: string, key: string, why: string): () => never {
  return () => {
    throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `the registry credentials in ${file} (${key}) ${why}`, {
      hint: 'write this registry\'s credentials into a file of their own, {"auths": {"<registry>": {"username": "...", "password": "..."}}}, and use that file',
    });
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
