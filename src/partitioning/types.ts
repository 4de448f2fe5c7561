// Shared shapes of the partitioning library: nodes, the small partitioner interfaces, and input checks.
import { PartitioningError } from '../errors.js';
import type { KeyInput } from './hash.js';

export type NodeId = string;
export type PartitionId = number;

/** A member that can own keys or replicas. Weight scales its share (default 1); zone is a failure domain. */
export interface NodeSpec {
  readonly id: NodeId;
  readonly weight?: number;
  readonly zone?: string;
}

/** A node with its defaults filled in. */
export interface Node {
  readonly id: NodeId;
  readonly weight: number;
  readonly zone: string;
}

/** Zone given to nodes that name none; all such nodes share one failure domain. */
export const DEFAULT_ZONE = 'default';

/** Every partitioner maps a key to a partition id; range-capable ones also answer range queries. */
export interface Partitioner<K = KeyInput> {
  readonly kind: string;
  partitionFor(key: K): PartitionId;
  /** Ids of every partition that currently exists, in key order where there is one. */
  partitionIds(): PartitionId[];
}

/** Partitioners whose partitions are ordered key ranges: a range query touches only covering partitions. */
export interface RangePartitionerLike<K> extends Partitioner<K> {
  /** Partitions that may hold keys in [start, end) (end undefined = to the end of the key space). */
  partitionsForRange(start: K, end?: K): PartitionId[];
}

/** Partitioners that map keys straight to nodes (hash rings and their relatives). */
export interface NodeLocator {
  readonly kind: string;
  nodeFor(key: KeyInput): NodeId;
  /** n distinct nodes for a key (fewer only when fewer nodes exist), the first being nodeFor(key). */
  replicasFor(key: KeyInput, n: number): NodeId[];
  nodeIds(): NodeId[];
}

/** Checks and normalises a node list: non-empty, unique ids, weights finite and > 0. */
export function normaliseNodes(specs: readonly (NodeSpec | NodeId)[], allowEmpty = false): Node[] {
  if (!Array.isArray(specs)) throw new PartitioningError('BAD_ARGUMENT', 'nodes must be an array');
  if (specs.length === 0 && !allowEmpty) throw new PartitioningError('EMPTY_NODES', 'the node list is empty');
  const seen = new Set<string>();
  return specs.map((spec) => {
    const node = normaliseNode(spec);
    if (seen.has(node.id)) throw new PartitioningError('DUPLICATE_NODE', `node "${node.id}" is listed twice`);
    seen.add(node.id);
    return node;
  });
}

export function normaliseNode(spec: NodeSpec | NodeId): Node {
  const s: NodeSpec = typeof spec === 'string' ? { id: spec } : spec;
  if (s === null || typeof s !== 'object' || typeof s.id !== 'string' || s.id.length === 0) {
    throw new PartitioningError('BAD_ARGUMENT', 'a node id must be a non-empty string');
  }
  const weight = s.weight ?? 1;
  checkWeight(weight, s.id);
  const zone = s.zone ?? DEFAULT_ZONE;
  if (typeof zone !== 'string' || zone.length === 0) {
    throw new PartitioningError('BAD_ARGUMENT', `node "${s.id}": zone must be a non-empty string`);
  }
  return { id: s.id, weight, zone };
}

export function checkWeight(weight: number, id: string): void {
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0) {
    throw new PartitioningError('BAD_WEIGHT', `node "${id}": weight must be a finite number > 0, got ${String(weight)}`);
  }
}

/** Integer in [min, max], else a BAD_ARGUMENT error naming the parameter. */
export function checkInt(value: number, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new PartitioningError('BAD_ARGUMENT', `${name} must be an integer in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

/** Finite number in [min, max], else a BAD_ARGUMENT error naming the parameter. */
export function checkNumber(value: number, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new PartitioningError('BAD_ARGUMENT', `${name} must be a number in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}
