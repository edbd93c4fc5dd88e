// The registry behind `prebake/runtime` (runtime.mjs): the shim runs these lists; functions only add to them.
export const hooks = { beforeCheckpoint: [], afterRestore: [] };
