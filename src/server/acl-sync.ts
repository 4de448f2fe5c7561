// Cluster-wide ACL users: one coordinator document holds every user (password hashes only). ACL SETUSER/DELUSER
// on any node or router change it with a compare-and-set (retried with back-off when another node changed it
// meanwhile) and answer once it is stored; every node and router loads it from its coordinator watch, so a
// change applies everywhere within the watch's delay, and users survive restarts.
import { ReplyError } from './args.js';
import { AclStore } from './acl.js';
import type { ServerState } from './dispatch.js';
import type { Coordinator } from '../coordinator/coordinator.js';
import { Backoff } from '../coordinator/backoff.js';

export const ACL_SYNC_LIMITS = Object.freeze({ docName: 'acl/users', attemptsMax: 8, backoffBaseMs: 20, backoffMaxMs: 500 });

export interface AclFollower {
  /** Loads the document if it changed since last loaded (call on every coordinator change). */
  refresh(): Promise<void>;
}

/** Makes `state`'s users the cluster's: ACL changes go through the coordinator, and its document is followed. */
export function followClusterAcl(coordinator: Coordinator, state: ServerState, commands: readonly string[]): AclFollower {
  const acl = state.acl;
  if (acl === undefined) throw new Error('invariant: a server without ACLs');
  let applied: string | undefined;
  const apply = (doc: string): void => {
    acl.load(doc);
    applied = doc;
  };
  state.aclSync = async (change) => {
    const backoff = new Backoff(ACL_SYNC_LIMITS.backoffBaseMs, ACL_SYNC_LIMITS.backoffMaxMs);
    for (let attempt = 0; attempt < ACL_SYNC_LIMITS.attemptsMax; attempt++) {
      const base = await coordinator.getDoc(ACL_SYNC_LIMITS.docName);
      const users = new AclStore(commands);
      // The first change in a cluster starts from this node's users (its default user carries its requirepass).
      users.load(base ?? acl.serialize());
      change(users);
      const next = users.serialize();
      if (await coordinator.casDoc(ACL_SYNC_LIMITS.docName, base, next)) return apply(next);
      await new Promise((r) => setTimeout(r, backoff.nextMs()));
    }
    throw new ReplyError('ERR the ACL users kept changing on other nodes while this change was made; nothing was changed, try again');
  };
  return {
    async refresh() {
      const doc = await coordinator.getDoc(ACL_SYNC_LIMITS.docName);
      if (doc !== undefined && doc !== applied) apply(doc);
    },
  };
}
