// The Node-API addons built from native/ (scripts/setup.sh runs native/build.sh): one loader for all of them.
import { createRequire } from 'node:module';
import path from 'node:path';
import { PrebakeError } from '../errors.ts';
import { NATIVE_BUILD_DIR } from '../paths.ts';

const loaded = new Map<string, unknown>();

/** native/build/<name>.node, loaded once; PREBAKE_ERR_INTERNAL with a hint when it was never built. */
export function loadNativeAddon<T>(name: string): T {
  if (!loaded.has(name)) {
    try {
      loaded.set(name, createRequire(import.meta.url)(path.join(NATIVE_BUILD_DIR, `${name}.node`)));
    } catch (error) {
      throw new PrebakeError('PREBAKE_ERR_INTERNAL', `the native helper ${name}.node is not built`, {
        cause: error,
        hint: 'run scripts/setup.sh (or bash native/build.sh)',
      });
    }
  }
  return loaded.get(name) as T;
}
