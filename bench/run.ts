// `npm run bench -- <name> [options]`: runs one benchmark from bench/<name>.ts.
const BENCHMARKS = ['partitioning', 'server', 'cluster', 'dashboard', 'replication', 'failover', 'rebalance', 'control-plane', 'types', 'security', 'collections', 'lmdb-collections'] as const;

const [name, ...rest] = process.argv.slice(2);
if (name === undefined || !(BENCHMARKS as readonly string[]).includes(name)) {
  process.stderr.write(`usage: npm run bench -- <${BENCHMARKS.join('|')}> [options]\n`);
  process.exit(2);
}
const mod = (await import(`./${name}.ts`)) as { run: (args: string[]) => Promise<void> };
await mod.run(rest);
