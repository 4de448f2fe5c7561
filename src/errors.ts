// The one table of expected failures in Atoll: every typed error has a stable code listed here.
// Broken invariants are not errors of this kind; they go through assert() and crash loudly.

/** Stable error codes. The docs (docs/errors.md) list every one; a test keeps the two in step. */
export const ERROR_CODES = {
  // Partitioning library: bad arguments given to a partitioner or the planner.
  EMPTY_NODES: 'A node set must hold at least one node.',
  DUPLICATE_NODE: 'A node id appears twice.',
  UNKNOWN_NODE: 'The named node is not a member.',
  BAD_WEIGHT: 'A weight must be a finite number greater than 0.',
  BAD_ARGUMENT: 'An argument is out of its allowed range or of the wrong kind.',
  UNKNOWN_PARTITION: 'The named partition does not exist.',
  BAD_BOUNDARY: 'Range boundaries must be strictly increasing and inside the key space.',
  NOT_NEIGHBOURS: 'Only adjacent range partitions can be merged.',
  CAPACITY_EXCEEDED: 'Every node is at its load bound; the key cannot be placed.',
  // Cluster: the partition map, the coordinator and the node-to-node transport.
  BAD_MAP: 'A partition map read from the coordinator or a peer is malformed.',
  BAD_COORDINATOR_URL: 'The coordinator URL is neither "memory" nor "etcd://host:port[,host:port...]".',
  COORDINATOR_UNAVAILABLE: 'The coordinator (etcd) could not be reached in time.',
  NO_CLUSTER: 'The coordinator holds no cluster; create one first (atoll cluster create).',
  CLUSTER_EXISTS: 'The coordinator already holds a cluster with other settings.',
  WRONG_CLUSTER: 'The node, data directory or command belongs to a different cluster id.',
  STALE_EPOCH: 'A map change was made against an epoch that is no longer current.',
  NODE_ID_TAKEN: 'Another live node is registered under the same id.',
  PEER_UNAVAILABLE: 'A peer node could not be reached.',
  PEER_TIMEOUT: 'A peer node did not answer within the request timeout.',
  QUEUE_FULL: 'A bounded queue (in-flight requests to a peer, held commands) is full.',
  FRAME_TOO_LARGE: 'A node-to-node frame exceeds the frame size limit.',
  LEADERSHIP_LOST: 'The leader lost its partition (failover, fencing) before a write was committed; the write may or may not survive.',
  NO_SAFE_LEADER: 'No replica of a partition can be promoted without risking acknowledged writes (unclean promotion is off).',
  REPLICAS_DIFFER: 'A replica differs from its leader and was not (or could not be) repaired.',
  PLAN_RUNNING: 'Another rebalance plan is being carried out; wait for it, or pause or cancel it first.',
  // Command-line usage.
  USAGE: 'The command line is malformed.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Base class of every expected Atoll failure; `code` is stable and safe to match on. */
export class AtollError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'AtollError';
    this.code = code;
  }
}

/** Bad input to the partitioning library (nodes, weights, boundaries, counts). */
export class PartitioningError extends AtollError {
  constructor(code: ErrorCode, message: string) {
    super(code, message);
    this.name = 'PartitioningError';
  }
}

/** Malformed command line; the CLI prints the message and exits with status 2. */
export class UsageError extends AtollError {
  constructor(message: string) {
    super('USAGE', message);
    this.name = 'UsageError';
  }
}

/** Invariant check: a failure here is a bug in Atoll, never bad input, so it throws a plain Error. */
export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) {
    const text = typeof message === 'function' ? message() : message;
    throw new Error(`Atoll invariant broken: ${text}`);
  }
}
