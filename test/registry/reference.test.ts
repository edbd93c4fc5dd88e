import { describe, expect, it } from 'vitest';
import { parseReference } from '../../src/registry/reference.ts';

describe('parseReference', () => {
  it('splits registry, repository and tag, and speaks http only to this machine', () => {
    expect(parseReference('127.0.0.1:5000/functions/hello-node:v1')).toEqual({
      registry: '127.0.0.1:5000',
      repository: 'functions/hello-node',
      reference: 'v1',
      baseUrl: 'http://127.0.0.1:5000',
    });
    expect(parseReference('registry.internal/fn')).toMatchObject({ reference: 'latest', baseUrl: 'https://registry.internal' });
    const digest = `sha256:${'0'.repeat(64)}`;
    expect(parseReference(`localhost:5000/fn@${digest}`)).toMatchObject({ reference: digest, baseUrl: 'http://localhost:5000' });
  });

  it('refuses a reference without a registry, a bad tag, a bad repository or a bad digest', () => {
    for (const bad of ['hello-node:v1', 'reg.example/Hello:v1', 'reg.example/fn:-v', 'reg.example/fn@sha256:abc', '/fn:v1']) {
      expect(() => parseReference(bad), bad).toThrow(expect.objectContaining({ code: 'PREBAKE_ERR_INVALID_INPUT' }));
    }
  });

  it('speaks http to a registry named insecure (a demo registry in a Swarm stack), https to the others', () => {
    expect(parseReference('registry:5000/functions/hello:v1', ['registry:5000']).baseUrl).toBe('http://registry:5000');
    expect(parseReference('registry:5000/functions/hello:v1', ['registry']).baseUrl).toBe('https://registry:5000');
    expect(parseReference('registry:5000/functions/hello:v1').baseUrl).toBe('https://registry:5000');
  });
});
