// Docker Distribution's authentication, as a registry asks for it in a 401's WWW-Authenticate: `Basic` (the
// credentials on every request) or `Bearer realm=..,service=..,scope=..` (a token from the realm, fetched with
// the credentials when there are some, anonymously otherwise, and kept per scope until it expires). The
// credentials go to the registry's own origin and to the realm it named, nowhere else; a realm is https, or
// http on this machine.
import { PrebakeError } from '../errors.ts';
import type { RegistryCredential, RegistryCredentials } from './credentials.ts';
import { isLoopback, type RegistryReference } from './reference.ts';

/** How long a registry or its token service may take to answer a request (its headers). */
export const ANSWER_TIMEOUT_MS = 30_000;

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

interface Token {
  value: string;
  expiresAt: number;
}

// A token's lifetime when the realm does not say (the distribution spec's default), and the part of it left
// unused so that a token is not sent in its last seconds.
const DEFAULT_EXPIRES_IN_S = 60;
const EXPIRY_MARGIN_PER_MILLE = 100;

function basicHeader(credential: RegistryCredential): string {
  return `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}`;
}

export function parseChallenge(header: string): Challenge {
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  for (const match of header.slice(space + 1).matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) params[match[1]!.toLowerCase()] = match[2]!;
  return { scheme, params };
}

export class RegistryAuth {
  private readonly ref: RegistryReference;
  private readonly credentials?: RegistryCredentials;
  private readonly origin: string;
  private basic?: string;
  private bearer?: { realm: URL; service?: string };
  private readonly tokens = new Map<string, Token>();

  constructor(ref: RegistryReference, credentials?: RegistryCredentials) {
    this.ref = ref;
    this.credentials = credentials;
    this.origin = new URL(ref.baseUrl).origin;
  }

  /** The Authorization header for `url` in `scope`, as far as earlier challenges tell (a token fetched if due). */
  async header(url: string, scope: string): Promise<string | undefined> {
    if (new URL(url).origin !== this.origin) return undefined;
    if (this.basic) return this.basic;
    if (!this.bearer) return undefined;
    const token = this.tokens.get(scope);
    if (token && token.expiresAt > Date.now()) return `Bearer ${token.value}`;
    return `Bearer ${await this.fetchToken([scope], scope)}`;
  }

  /** Learns from a 401's challenge what a retry of a request in `scope` needs. */
  async answer(response: Response, scope: string, what: string): Promise<void> {
    const header = response.headers.get('www-authenticate') ?? '';
    const challenge = parseChallenge(header);
    if (challenge.scheme === 'basic') {
      this.basic = basicHeader(this.credential(what, scope));
      return;
    }
    if (challenge.scheme === 'bearer' && challenge.params.realm) {
      this.bearer = { realm: this.realm(challenge.params.realm), service: challenge.params.service };
      this.tokens.delete(scope);
      const asked = challenge.params.scope?.split(' ').filter(Boolean) ?? [];
      await this.fetchToken(asked.length ? asked : [scope], scope);
      return;
    }
    throw new PrebakeError(
      'PREBAKE_ERR_REGISTRY',
      `the registry ${this.ref.registry} answered ${what} with 401 and a challenge prebake does not know (${header ? header.split(' ')[0] : 'no WWW-Authenticate'})`,
      { hint: 'prebake logs in with Basic or Bearer (token) authentication, as docker does' },
    );
  }

  /** The error for a 401 on a request that carried what the registry's challenge asked for. */
  refused(what: string, scope: string): PrebakeError {
    const credential = this.credentials?.(this.ref.registry);
    return this.loginError(
      credential
        ? `the registry ${this.ref.registry} refused the credentials of ${credential.username} from ${this.source()}: it answered ${what} with 401`
        : `the registry ${this.ref.registry} answered ${what} with 401 (authentication required) and there are no credentials for it`,
      credential,
      scope,
    );
  }

  private credential(what: string, scope: string): RegistryCredential {
    const credential = this.credentials?.(this.ref.registry);
    if (credential) return credential;
    throw this.loginError(
      `the registry ${this.ref.registry} answered ${what} with 401: it asks for a login (Basic) and there are no credentials for it`,
      undefined,
      scope,
    );
  }

  private source(): string {
    return this.credentials?.file ?? 'the credentials given';
  }

  /** A login that failed; `details.login` tells a surface whether credentials were missing or refused. */
  private loginError(message: string, credential: RegistryCredential | undefined, scope: string): PrebakeError {
    const access = scope.endsWith(':pull') ? `pull from ${this.ref.repository}` : `push to ${this.ref.repository}`;
    return new PrebakeError('PREBAKE_ERR_REGISTRY', message, {
      hint: credential
        ? `check the user and password for ${this.ref.registry} in ${this.source()}, and that this user may ${access}`
        : `give credentials for ${this.ref.registry} in docker's config.json format${this.credentials?.file ? ` (${this.credentials.file} has none for it)` : ''}`,
      details: { registry: this.ref.registry, login: credential ? 'refused' : 'missing' },
    });
  }

  private realm(text: string): URL {
    let realm: URL;
    try {
      realm = new URL(text);
    } catch {
      throw new PrebakeError('PREBAKE_ERR_REGISTRY', `the registry ${this.ref.registry} named a token service that is not a URL: ${text}`);
    }
    if (realm.protocol === 'https:' || (realm.protocol === 'http:' && isLoopback(realm.host))) return realm;
    throw new PrebakeError(
      'PREBAKE_ERR_REGISTRY',
      `the registry ${this.ref.registry} named the token service ${realm.origin}: prebake sends credentials over https only (http on this machine)`,
      { hint: "configure the registry's token realm as an https URL" },
    );
  }

  private async fetchToken(scopes: string[], key: string): Promise<string> {
    const realm = this.bearer!.realm;
    const url = new URL(realm);
    if (this.bearer!.service) url.searchParams.set('service', this.bearer!.service);
    for (const scope of scopes) url.searchParams.append('scope', scope);
    const credential = this.credentials?.(this.ref.registry);
    const headers: Record<string, string> = {};
    if (credential) headers.authorization = basicHeader(credential);
    let response: Response;
    try {
      response = await fetch(url, { headers, signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) });
    } catch (error) {
      throw new PrebakeError(
        'PREBAKE_ERR_REGISTRY',
        `cannot reach the token service ${realm.origin} of the registry ${this.ref.registry}: ${(error as Error).message}`,
        { cause: error, hint: 'the registry names its token service in its 401 answers (WWW-Authenticate: Bearer realm=...)' },
      );
    }
    const body = await response.text().catch(() => '');
    if (response.status === 401 || response.status === 403) {
      throw this.loginError(
        credential
          ? `the token service ${realm.origin} of the registry ${this.ref.registry} refused the credentials of ${credential.username} from ${this.source()} (${response.status})`
          : `the token service ${realm.origin} of the registry ${this.ref.registry} gives no anonymous token for ${scopes.join(' ')} (${response.status})`,
        credential,
        key,
      );
    }
    const answer = (() => {
      try {
        return JSON.parse(body) as { token?: unknown; access_token?: unknown; expires_in?: unknown };
      } catch {
        return {};
      }
    })();
    const value = answer.token ?? answer.access_token;
    if (response.status !== 200 || typeof value !== 'string' || value === '') {
      throw new PrebakeError(
        'PREBAKE_ERR_REGISTRY',
        `the token service ${realm.origin} of the registry ${this.ref.registry} answered ${response.status} without a token`,
        { details: { status: response.status } },
      );
    }
    const expiresIn = typeof answer.expires_in === 'number' && answer.expires_in > 0 ? answer.expires_in : DEFAULT_EXPIRES_IN_S;
    this.tokens.set(key, { value, expiresAt: Date.now() + expiresIn * (1000 - EXPIRY_MARGIN_PER_MILLE) });
    return value;
  }
}
