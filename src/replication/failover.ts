// Choosing a new leader for a partition whose leader is gone, pure. Safe choices only, unless unclean
// promotion is on: under sync, any in-sync replica holds every acknowledged write; under quorum, a write was
// acknowledged by a majority, so the live replicas that answered must be more than R minus a majority for
// one of them to be sure to hold it, and the one with the highest log position does.
import { inSync, type PartitionMap } from '../cluster/map.js';
import type { AckMode, Position } from './log.js';

export type LeaderChoice =
  | { readonly leader: string; readonly unclean: false }
  | { readonly leader: string; readonly unclean: true; readonly why: string }
  | { readonly leader: undefined; readonly why: string };

export interface FailoverInput {
  /** Replica ids, old leader first. */
  readonly replicas: readonly string[];
  /** In-sync replicas (old leader first). */
  readonly isr: readonly string[];
  /** Positions of the live replicas that answered the fence, by id. */
  readonly answered: ReadonlyMap<string, Position>;
  readonly ack: AckMode;
  readonly uncleanPromotion: boolean;
}

function highest(ids: readonly string[], answered: ReadonlyMap<string, Position>): string | undefined {
  let best: string | undefined;
  for (const id of ids) {
    const pos = answered.get(id);
    if (pos === undefined) continue;
    const b = best === undefined ? undefined : answered.get(best)!;
    if (b === undefined || pos.seq > b.seq || (pos.seq === b.seq && id < best!)) best = id;
  }
  return best;
}

export function chooseLeader(input: FailoverInput): LeaderChoice {
  const followers = input.replicas.slice(1);
  const answered = followers.filter((id) => input.answered.has(id));
  if (answered.length === 0) return { leader: undefined, why: 'no replica answered' };
  let safe: string | undefined;
  let why: string;
  if (input.ack === 'sync') {
    safe = highest(answered.filter((id) => input.isr.includes(id)), input.answered);
    why = 'no in-sync replica answered';
  } else if (input.ack === 'quorum') {
    const majority = Math.floor(input.replicas.length / 2) + 1;
    // Writes were acknowledged by `majority` replicas; `answered` must intersect every such set.
    if (answered.length > input.replicas.length - majority) safe = highest(answered, input.answered);
    why = `only ${answered.length} of ${input.replicas.length} replicas answered; ${input.replicas.length - majority + 1} are needed to be sure of every acknowledged write`;
  } else {
    safe = highest(answered, input.answered);
    why = '';
  }
  if (safe !== undefined) return { leader: safe, unclean: false };
  if (!input.uncleanPromotion) return { leader: undefined, why };
  const any = highest(answered, input.answered)!;
  return { leader: any, unclean: true, why };
}

/** Partitions with more than one replica whose leader is not live, and which live replicas to fence for each. */
export function fenceRequests(map: PartitionMap, live: ReadonlySet<string>): { orphaned: number[]; asks: Map<string, number[]> } {
  const orphaned: number[] = [];
  const asks = new Map<string, number[]>();
  map.partitions.forEach((e, p) => {
    if (e.replicas.length < 2 || live.has(e.replicas[0]!)) return;
    orphaned.push(p);
    for (const id of e.replicas.slice(1)) {
      if (!live.has(id)) continue;
      const list = asks.get(id) ?? [];
      list.push(p);
      asks.set(id, list);
    }
  });
  return { orphaned, asks };
}

export interface FailoverPlan {
  /** The map to publish (epoch + 1), or undefined when no partition can change. */
  readonly next: PartitionMap | undefined;
  readonly promoted: { partition: number; leader: string; unclean: boolean; why?: string }[];
  readonly stuck: { partition: number; why: string }[];
}

/**
 * The next map after fencing: each orphaned partition led by its chosen replica; the old leader stays a
 * replica (it rejoins as a follower) but leaves the in-sync set, as do replicas that are not live.
 */
export function failoverMap(map: PartitionMap, live: ReadonlySet<string>, answers: ReadonlyMap<number, ReadonlyMap<string, Position>>, ack: AckMode, uncleanPromotion: boolean): FailoverPlan {
  const epoch = map.epoch + 1;
  const partitions = [...map.partitions];
  const promoted: FailoverPlan['promoted'] = [];
  const stuck: FailoverPlan['stuck'] = [];
  for (const p of fenceRequests(map, live).orphaned) {
    const e = map.partitions[p]!;
    const choice = chooseLeader({ replicas: e.replicas, isr: inSync(e), answered: answers.get(p) ?? new Map(), ack, uncleanPromotion });
    if (choice.leader === undefined) {
      stuck.push({ partition: p, why: choice.why });
      continue;
    }
    const leader = choice.leader;
    const replicas = [leader, ...e.replicas.filter((id) => id !== leader)];
    const isr = [leader, ...inSync(e).filter((id) => id !== leader && id !== e.replicas[0] && live.has(id))];
    partitions[p] = { replicas, epoch, ...(isr.length === replicas.length ? {} : { isr }) };
    promoted.push(choice.unclean ? { partition: p, leader, unclean: true, why: choice.why } : { partition: p, leader, unclean: false });
  }
  return { next: promoted.length === 0 ? undefined : { ...map, epoch, partitions }, promoted, stuck };
}
