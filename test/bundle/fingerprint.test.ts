// Comparing a bundle's fingerprint with this host's: the logic, on fingerprints written out by hand.
import { describe, expect, it } from 'vitest';
import { cpuFeatures, type Fingerprint, fingerprintDifferences } from '../../src/bundle/fingerprint.ts';

const host: Fingerprint = {
  arch: 'x64',
  kernel: '6.18.44',
  criu: '4.1.1',
  cpuFeatures: ['avx', 'avx2', 'sse4_2'],
  runtime: { name: 'node', version: 'node v24.9.0', binary: '/opt/prebake/bin/node', sha256: 'a'.repeat(64) },
};

describe('fingerprintDifferences', () => {
  it('finds none for the same host, nor for a host with more CPU features', () => {
    expect(fingerprintDifferences(host, host)).toEqual([]);
    expect(fingerprintDifferences({ ...host, cpuFeatures: ['avx'] }, host)).toEqual([]);
  });

  it('names each part that differs, with its value there and here', () => {
    const there: Fingerprint = { ...host, kernel: '6.1.0', criu: '4.0', cpuFeatures: ['avx', 'avx512f', 'sse4_2'] };
    expect(fingerprintDifferences(there, host)).toEqual([
      'kernel 6.1.0 there, 6.18.44 here',
      'criu 4.0 there, 4.1.1 here',
      'CPU features missing here: avx512f',
    ]);
  });

  it('compares the runtime binary by hash only when its version and path agree', () => {
    const rebuilt = { ...host, runtime: { ...host.runtime, sha256: 'b'.repeat(64) } };
    expect(fingerprintDifferences(rebuilt, host)).toEqual(['runtime binary sha256 bbbbbbbbbbbb there, aaaaaaaaaaaa here']);
    const older = { ...host, runtime: { ...host.runtime, version: 'node v22.18.0', sha256: 'b'.repeat(64) } };
    expect(fingerprintDifferences(older, host)).toEqual(['runtime node v22.18.0 there, node v24.9.0 here']);
  });
});

describe('cpuFeatures', () => {
  it('keeps instruction-set extensions and leaves out flags that change no code path', async () => {
    const features = await cpuFeatures();
    expect(features).toEqual([...features].sort());
    for (const flag of ['hypervisor', 'constant_tsc', 'fpu', 'vme']) expect(features).not.toContain(flag);
    if (process.arch === 'x64') expect(features).toContain('sse2');
  });
});
