// The API a Node function imports as `prebake/runtime` (the shim maps that specifier here): lifecycle hooks
// in the manner of CRaC's beforeCheckpoint/afterRestore and Lambda SnapStart's runtime hooks.
//
//   import { beforeCheckpoint, afterRestore } from 'prebake/runtime';   // or require('prebake/runtime')
//   beforeCheckpoint(async () => db.close());        // runs once, just before the snapshot
//   afterRestore(async () => db.connect());           // runs in every restored clone, before its first event
//
// Hooks run in registration order; one that throws fails the build (before) or the invocation (after).

import { hooks } from './hooks.mjs';

function register(list, hook) {
  if (typeof hook !== 'function') throw new TypeError('a prebake hook must be a function');
  list.push(hook);
}

export function beforeCheckpoint(hook) {
  register(hooks.beforeCheckpoint, hook);
}

export function afterRestore(hook) {
  register(hooks.afterRestore, hook);
}
