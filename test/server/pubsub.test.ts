// Pub/sub differentially against redis-server, byte for byte: a subscriber's whole output (confirmations,
// messages, pattern messages, PING in the subscribed context, the commands refused there, unsubscribing)
// and a publisher's replies, in RESP2 and RESP3; PUBSUB introspection. Memory and LMDB nodes both.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { encodeCommand } from '../../src/client/resp-client.js';
import { useTrio } from '../helpers-redis.js';

const trio = useTrio();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A raw connection that records every byte the server sends. */
async function raw(port: number): Promise<{ send(...cmds: string[][]): void; take(): string; close(): void }> {
  const s = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve) => s.once('connect', () => resolve()));
  let got = '';
  s.on('data', (d: Buffer) => (got += d.toString('latin1')));
  return {
    send: (...cmds) => void s.write(Buffer.concat(cmds.map((c) => encodeCommand(c)))),
    take: () => {
      const out = got;
      got = '';
      return out;
    },
    close: () => void s.destroy(),
  };
}

/** Runs the same conversation on every server; returns what each connection received per step. */
async function conversation(resp3: boolean): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const [name, c] of trio().clients) {
    const sub = await raw(c.port);
    const pub = await raw(c.port);
    const steps: string[] = [];
    const step = async (who: typeof sub, ...cmds: string[][]): Promise<void> => {
      who.send(...cmds);
      await sleep(60);
      steps.push(`sub:${sub.take()}`, `pub:${pub.take()}`);
    };
    if (resp3) {
      sub.send(['HELLO', '3']);
      await sleep(60);
      sub.take();
    }
    await step(sub, ['SUBSCRIBE', 'a', 'b', 'a']);
    await step(sub, ['PSUBSCRIBE', 'n*', 'x?z']);
    await step(pub, ['PUBLISH', 'a', 'hello'], ['PUBLISH', 'news', 'n1'], ['PUBLISH', 'xyz', ''], ['PUBLISH', 'nobody', 'x']);
    await step(pub, ['PUBSUB', 'NUMSUB', 'a', 'b', 'c'], ['PUBSUB', 'NUMPAT'], ['PUBSUB', 'CHANNELS', '[a]'], ['PUBSUB', 'SHARDCHANNELS'], ['PUBSUB', 'NOPE'], ['PUBSUB', 'NUMPAT', 'x']);
    await step(sub, ['PING'], ['PING', 'hi'], ['GET', 'k'], ['SET', 'k', 'v']);
    await step(sub, ['UNSUBSCRIBE', 'b', 'zz']);
    await step(pub, ['PUBLISH', 'b', 'gone'], ['PUBLISH', 'a', 'still']);
    await step(sub, ['UNSUBSCRIBE']);
    await step(sub, ['PUNSUBSCRIBE', 'n*']);
    await step(sub, ['PUNSUBSCRIBE'], ['UNSUBSCRIBE'], ['PING']);
    await step(sub, ['SSUBSCRIBE', 's1'], ['SUNSUBSCRIBE'], ['SUNSUBSCRIBE']);
    await step(pub, ['SPUBLISH', 's1', 'x'], ['PUBLISH', 'a', 'after']);
    sub.close();
    pub.close();
    out[name] = steps;
  }
  return out;
}

describe('pub/sub against redis-server', () => {
  for (const resp3 of [false, true]) {
    it(`a subscriber's and a publisher's bytes match redis-server's (RESP${resp3 ? 3 : 2})`, async () => {
      const r = await conversation(resp3);
      expect(r.memory).toEqual(r.redis);
      expect(r.lmdb).toEqual(r.redis);
    }, 30_000);
  }
});
