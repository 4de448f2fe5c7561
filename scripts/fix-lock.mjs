#!/usr/bin/env node
// Works around npm/cli#8320: npm here records a package's optional platform dependencies for other
// platforms in its `optionalDependencies` without writing their lock entries, and `npm ci` then refuses the
// lock file. This drops optional dependencies that have no entry anywhere in package-lock.json (they are
// other platforms' binaries that are never installed here). Run it after `npm install <pkg>`.
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const paths = Object.keys(lock.packages);
const has = (name) => paths.some((p) => p === `node_modules/${name}` || p.endsWith(`/node_modules/${name}`));
let dropped = 0;
for (const [path, entry] of Object.entries(lock.packages)) {
  for (const name of Object.keys(entry.optionalDependencies ?? {})) {
    if (!has(name)) {
      delete entry.optionalDependencies[name];
      dropped++;
      console.log(`fix-lock: ${path || '(root)'}: dropped unrecorded optional dependency ${name}`);
    }
  }
}
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`fix-lock: ${dropped} dropped`);
