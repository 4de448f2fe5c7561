// Group commit: batches submitted in one turn share one transaction; a failed commit fails every batch.
import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../src/server/server.js';

describe('GroupCommit', () => {
  it('runs every batch of a turn inside one transaction, then finishes them in order', async () => {
    const log: string[] = [];
    const group = new GroupCommit((run) => {
      log.push('begin');
      run();
      log.push('commit');
    });
    group.submit({ run: () => log.push('run a'), finish: (f) => log.push(`finish a ${f === undefined ? 'ok' : 'failed'}`) });
    group.submit({ run: () => log.push('run b'), finish: (f) => log.push(`finish b ${f === undefined ? 'ok' : 'failed'}`) });
    expect(log).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['begin', 'run a', 'run b', 'commit', 'finish a ok', 'finish b ok']);
  });

  it('reports a failed transaction to every batch in it', () => {
    const failures: (Error | undefined)[] = [];
    const group = new GroupCommit((run) => {
      run();
      throw new Error('MDB_MAP_FULL');
    }, 2);
    group.submit({ run: () => undefined, finish: (f) => failures.push(f) });
    group.submit({ run: () => undefined, finish: (f) => failures.push(f) });
    // The second submit reached batchesMax and committed at once.
    expect(failures.map((f) => f?.message)).toEqual(['MDB_MAP_FULL', 'MDB_MAP_FULL']);
  });
});
