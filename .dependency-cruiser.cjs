// Import rules for baton's sources (`pnpm deps`, part of `pnpm lint`). The layering is issue 7's:
// wire/ (what crosses a process boundary) at the bottom, then child/, control/ (transport) and the
// leaf helpers in internal/, then generation/ (the worker's state machine) and supervisor/ (`baton run`),
// which never import each other, and cli/ on top, which nothing else imports. Adapters stand on
// `@baton/core` alone. Each rule applies to whatever folders exist; a folder not created yet matches nothing.
// Type-only imports count (tsPreCompilationDeps): a type moved across a boundary is still a dependency.

const CORE = '^packages/core/src/';
const ABOVE_LEAVES = `${CORE}(generation|supervisor|control|cli)/`;

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycles anywhere: a cycle means two modules cannot be understood (or tested) apart.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'generation-not-to-supervisor',
      severity: 'error',
      comment:
        'generation/ runs in every worker; supervisor/ only in `baton run`. Both stand on child/, control/ and wire/.',
      from: { path: `${CORE}generation/` },
      to: { path: `${CORE}supervisor/` },
    },
    {
      name: 'verify-outside-the-state-machines',
      severity: 'error',
      comment:
        '`baton verify` drives an app from outside, like an operator: through the control socket and the wire, never the state machines.',
      from: { path: `${CORE}verify/` },
      to: { path: `${CORE}(generation|supervisor)/` },
    },
    {
      name: 'supervisor-not-to-generation',
      severity: 'error',
      comment: 'supervisor/ runs in `baton run` and must not load the worker state machine.',
      from: { path: `${CORE}supervisor/` },
      to: { path: `${CORE}generation/` },
    },
    {
      name: 'wire-imports-only-wire-and-errors',
      severity: 'error',
      comment:
        'wire/ defines what crosses a process boundary, once; it imports nothing of baton but wire/ and errors.ts.',
      from: { path: `${CORE}wire/` },
      to: { path: '^packages/', pathNot: `${CORE}(wire/|errors\\.ts$)` },
    },
    {
      name: 'child-not-above-it',
      severity: 'error',
      comment:
        'child/ (spawn, wait for ready, kill and reap) is used by generation/ and supervisor/, never the reverse.',
      from: { path: `${CORE}child/` },
      to: { path: ABOVE_LEAVES },
    },
    {
      name: 'control-transport-only',
      severity: 'error',
      comment: 'control/ is the socket transport: it knows wire/, not the state machines or the CLI.',
      from: { path: `${CORE}control/` },
      to: { path: `${CORE}(generation|supervisor|cli)/` },
    },
    {
      name: 'internal-leaf-helpers',
      severity: 'error',
      comment: 'internal/ holds leaf helpers: they import nothing from generation/, supervisor/, control/ or cli/.',
      from: { path: `${CORE}internal/` },
      to: { path: ABOVE_LEAVES },
    },
    {
      name: 'only-cli-imports-cli',
      severity: 'error',
      comment: 'cli/ is the top: nothing outside it imports it.',
      from: { pathNot: `${CORE}cli/` },
      to: { path: `${CORE}cli/` },
    },
    {
      name: 'adapters-no-relative-path-into-other-packages',
      severity: 'error',
      comment: 'An adapter imports baton through `@baton/core`, never through a relative path into another package.',
      from: { path: '^packages/([^/]+)/src/', pathNot: '^packages/core/' },
      to: { dependencyTypes: ['local'], path: '^packages/', pathNot: '^packages/$1/' },
    },
    {
      name: 'adapters-only-core-entry',
      severity: 'error',
      comment:
        "An adapter's only baton dependency is `@baton/core`'s public entry: no deep imports, no other adapter. " +
        '(`@baton/core` resolves to its built entry, packages/core/dist/index.js; before a build it stays unresolved.)',
      from: { path: '^packages/([^/]+)/src/', pathNot: '^packages/core/' },
      to: { path: '^packages/', pathNot: '^packages/($1/src/|core/dist/index\\.(js|d\\.ts)$)' },
    },
  ],
  options: {
    // Third-party code and built output are leaves: their own imports are not ours to check.
    doNotFollow: { path: ['(^|/)node_modules/', '(^|/)dist/'] },
    // Resolve TypeScript sources the way tsc does (module Node16, extensionless relative imports).
    tsConfig: { fileName: 'tsconfig.json' },
    // `import type` counts: the cycles issue 7 names run through types.
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['require', 'import', 'node', 'default', 'types'],
      mainFields: ['main', 'types'],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
