// Browser tests: Debian's chromium (installed by `npm run setup`) driven by playwright-core.
import { execFileSync } from 'node:child_process';

export function chromiumPath(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('chromium is not installed: run "npm run setup" (installs Debian\'s chromium package)');
  }
}
