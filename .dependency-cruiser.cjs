// The import graph's rules (npm run lint): no circles, and each folder of src imports only from the layers
// below its own. A new folder takes its place in LAYERS; the README's code map says what each one is for.
const LAYERS = [
  ['bearer.ts', 'errors.ts', 'paths.ts', 'process-alive.ts', 'validate.ts', 'files'],
  ['manifest'],
  ['runtimes', 'cgroup'],
  ['launch'],
  ['criu', 'instance'],
  ['store'],
  ['start'],
  ['invoke'],
  ['bake', 'bundle'],
  ['registry', 'manager'],
  ['host'],
  ['fleet'],
  ['lambda'],
  ['bench', 'doctor.ts', 'sandbox-report.ts', 'server'],
  ['cli'],
];

const escape = (s) => s.replace(/[.]/g, '\\.');
const pattern = (names) => `^src/(${names.map(escape).join('|')})(/|$)`;

const layering = LAYERS.flatMap((layer, index) => {
  const notBelow = LAYERS.slice(index).flat();
  return layer.map((name) => ({
    name: `layer-${name}`,
    comment: `src/${name} imports only from the layers below it`,
    severity: 'error',
    from: { path: pattern([name]) },
    to: { path: pattern(notBelow.filter((other) => other !== name)) },
  }));
});

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    { name: 'no-unresolvable', severity: 'error', from: {}, to: { couldNotResolve: true } },
    {
      name: 'no-unlayered',
      comment: 'every folder of src has a layer in .dependency-cruiser.cjs',
      severity: 'error',
      from: { path: '^src/', pathNot: pattern(LAYERS.flat()) },
      to: {},
    },
    ...layering,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/runtimes/.*\\.(mjs|cjs|py|java)$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // Type-only imports count: a schema that names a higher layer's type is still an import against the layering.
  },
};
