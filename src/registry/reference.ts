// `<registry>/<repository>:<tag>` (or `@sha256:<digest>`), as prebake push and pull take it.
import { PrebakeError } from '../errors.ts';

export interface RegistryReference {
  /** host[:port] */
  registry: string;
  repository: string;
  /** A tag, or a digest (sha256:...). */
  reference: string;
  /** http for a registry on this machine (as Docker does), https otherwise. */
  baseUrl: string;
}

const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const LOCAL = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/;

/** A host[:port] on this machine, spoken to over http (as Docker does); every other over https. */
export function isLoopback(host: string): boolean {
  return LOCAL.test(host);
}

/**
 * `insecure`: registries (host[:port]) reached over http although not on loopback, as Docker's
 * insecure-registries (a demo registry inside a Swarm stack).
 */
export function parseReference(text: string, insecure: readonly string[] = []): RegistryReference {
  const invalid = (why: string) =>
    new PrebakeError('PREBAKE_ERR_INVALID_INPUT', `"${text}" is not a registry reference: ${why}`, {
      hint: 'write it as <registry>/<repository>:<tag>, e.g. 127.0.0.1:5000/functions/hello-node:v1',
    });
  const slash = text.indexOf('/');
  if (slash <= 0) throw invalid('it names no registry');
  const registry = text.slice(0, slash);
  let rest = text.slice(slash + 1);
  let reference = 'latest';
  const at = rest.indexOf('@');
  if (at >= 0) {
    reference = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(reference)) throw invalid(`"${reference}" is not a sha256 digest`);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon >= 0) {
      reference = rest.slice(colon + 1);
      rest = rest.slice(0, colon);
      if (!TAG.test(reference)) throw invalid(`"${reference}" is not a valid tag`);
    }
  }
  if (!REPOSITORY.test(rest)) throw invalid(`"${rest}" is not a valid repository name`);
  const scheme = isLoopback(registry) || insecure.includes(registry) ? 'http' : 'https';
  return { registry, repository: rest, reference, baseUrl: `${scheme}://${registry}` };
}
