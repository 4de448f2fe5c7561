// Choosing a new leader for a partition whose leader is gone, pure. Safe choices only, unless unclean
// promotion is on: under sync, any in-sync replica holds every acknowledged write; under quorum, a write was
// acknowledged by a majority, so the live replicas that answered must be more than R minus a majority for
// one of them to be sure to hold it, and the one with the highest log position does.
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
