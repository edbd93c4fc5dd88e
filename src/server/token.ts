// The daemon's API token: from --token-file, else PREBAKE_API_TOKEN, else <home>/api-token, which the first
// start creates (256 random bits, hex, mode 0600) and later starts reuse. The token itself is never logged.
import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PrebakeError } from '../errors.ts';

export const TOKEN_FILE_NAME = 'api-token';
// Shorter secrets can be guessed; the generated one has 64 hex characters.
const MIN_TOKEN_LENGTH = 16;

export interface ApiToken {
  token: string;
  /** Where it came from, for the log: a file's path, or the environment variable's name. */
  from: string;
  /** True when this start created <home>/api-token. */
  created: boolean;
}

export interface TokenSources {
  home: string;
  tokenFile?: string;
  /** PREBAKE_API_TOKEN's value. */
  envToken?: string;
}

export async function resolveApiToken(sources: TokenSources): Promise<ApiToken> {
  if (sources.tokenFile !== undefined) {
    const text = await readFile(sources.tokenFile, 'utf8').catch((error: unknown) => {
      throw new PrebakeError(
        'PREBAKE_ERR_INVALID_INPUT',
        `cannot read the API token file ${sources.tokenFile}: ${(error as Error).message}`,
        { cause: error },
      );
    });
    return { token: checkToken(text.trim(), sources.tokenFile), from: sources.tokenFile, created: false };
  }
  if (sources.envToken !== undefined) {
    return { token: checkToken(sources.envToken.trim(), 'PREBAKE_API_TOKEN'), from: 'PREBAKE_API_TOKEN', created: false };
  }
  return homeToken(path.join(sources.home, TOKEN_FILE_NAME));
}

function checkToken(token: string, from: string): string {
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new PrebakeError(
      'PREBAKE_ERR_INVALID_INPUT',
      `the API token in ${from} must be at least ${MIN_TOKEN_LENGTH} characters, without spaces`,
      {
        hint: 'generate one with: openssl rand -hex 32',
      },
    );
  }
  return token;
}

async function homeToken(file: string): Promise<ApiToken> {
  const existing = await readHomeToken(file);
  if (existing !== undefined) return { token: existing, from: file, created: false };
  // A first start on a new home: the token comes before the Host that makes the rest of it.
  await mkdir(path.dirname(file), { recursive: true });
  // Written aside and linked into place: link fails when another daemon created the file meanwhile, so two
  // first starts agree on one token, and a reader never sees a half-written file.
  const token = randomBytes(32).toString('hex');
  const aside = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(aside, `${token}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await link(aside, file);
    return { token, from: file, created: true };
  } catch (error) {
    const raced = (error as NodeJS.ErrnoException).code === 'EEXIST' ? await readHomeToken(file) : undefined;
    if (raced === undefined) throw error;
    return { token: raced, from: file, created: false };
  } finally {
    await rm(aside, { force: true });
  }
}

/** The token in <home>/api-token, or undefined when there is none yet. Refuses a file others can read. */
async function readHomeToken(file: string): Promise<string | undefined> {
  const stats = await lstat(file).catch(() => undefined);
  if (!stats) return undefined;
  if (!stats.isFile() || (stats.mode & 0o077) !== 0) {
    throw new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `${file} must be a regular file that only its owner can read`, {
      hint: `chmod 600 ${file}, or remove it to have a new token made`,
    });
  }
  return checkToken((await readFile(file, 'utf8')).trim(), file);
}
