// Who may act through the admin HTTP API (plans, rebalance settings, partition moves): the node's admin
// token (`Authorization: Bearer <token>`), or an ACL user with a password (`Authorization: Basic`, the same
// users as on the Redis port, cluster-wide) whose rules allow CLUSTER SETSLOT, the Redis command for moving
// slots (granted by +@admin, +@all, +cluster or +cluster|setslot). Reading views needs no credential.
import { timingSafeEqual } from 'node:crypto';
import { mayRun, type AclStore, type AclUser } from '../server/acl.js';

/** The ACL rule an admin action needs: what Redis requires to move slots by hand. */
export const ADMIN_ACTION_RULE = Object.freeze({ command: 'cluster', sub: 'setslot' });

export type AdminAuth =
  | { readonly ok: true; readonly user: string }
  | { readonly ok: false; readonly status: 401 | 403; readonly error: string; readonly denied?: { readonly reason: 'auth' | 'command'; readonly user: string } };

const HEADER_CHARS_MAX = 4_096;

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Decides an action's `Authorization` header against the admin token and the ACL users. */
export function authorizeAdmin(header: string | undefined, o: { adminToken?: string | undefined; acl?: AclStore | undefined }): AdminAuth {
  if (!actionsPossible(o)) {
    return { ok: false, status: 403, error: 'the dashboard is read-only: start the node with --admin-token, or give an ACL user a password, to allow actions' };
  }
  const unauthorized: AdminAuth = { ok: false, status: 401, error: 'a valid admin token (Bearer) or ACL user and password (Basic) is required' };
  if (header === undefined || header.length > HEADER_CHARS_MAX) return unauthorized;
  const space = header.indexOf(' ');
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  if (scheme === 'bearer') return o.adminToken !== undefined && sameText(value, o.adminToken) ? { ok: true, user: '(admin token)' } : unauthorized;
  if (scheme !== 'basic' || o.acl === undefined) return unauthorized;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return unauthorized;
  const name = decoded.slice(0, colon);
  const user = o.acl.check(name, Buffer.from(decoded.slice(colon + 1)));
  // A nopass user would let anyone in: over HTTP a user must have a password that matched.
  if (user === undefined || user.nopass) return { ...unauthorized, denied: { reason: 'auth', user: name } };
  if (!mayAdmin(user)) {
    return { ok: false, status: 403, error: `user ${name} has no permissions for admin actions (they need CLUSTER SETSLOT: +@admin or +cluster|setslot)`, denied: { reason: 'command', user: name } };
  }
  return { ok: true, user: name };
}

/**
 * Whether `u` may run CLUSTER SETSLOT. Atoll serves CLUSTER as one command (in @slow), so the subcommand's own
 * category, @admin, is judged by the rule that last reached Redis's @admin commands Atoll lacks.
 */
function mayAdmin(u: AclUser): boolean {
  return mayRun(u, ADMIN_ACTION_RULE.command, ADMIN_ACTION_RULE.sub) || u.unserved.get('admin') === true;
}

/** Whether any credential could act: an admin token, or an enabled ACL user with a password. */
export function actionsPossible(o: { adminToken?: string | undefined; acl?: AclStore | undefined }): boolean {
  if (o.adminToken !== undefined) return true;
  const acl = o.acl;
  if (acl === undefined) return false;
  return acl.names().some((n) => {
    const u = acl.get(n);
    return u !== undefined && u.enabled && !u.nopass && u.passwords.length > 0;
  });
}
