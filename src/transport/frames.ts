// Node-to-node frames: a 4-byte big-endian length, then a msgpack array [kind, requestId, body]. Pure
// encoding and incremental decoding with a size bound; the byte layout is pinned by test/transport tests.
import { Packr } from 'msgpackr';
import { AtollError } from '../errors.js';

/** First bytes a peer sends on a node's client port; RESP never begins with a NUL byte. */
export const PEER_MAGIC = Buffer.from([0x00, 0x41, 0x54, 0x4c, 0x01]); // \0 A T L, protocol version 1

export const FRAME_KIND = Object.freeze({ request: 1, reply: 2, failure: 3 });
export type FrameKind = (typeof FRAME_KIND)[keyof typeof FRAME_KIND];

export const TRANSPORT_LIMITS = Object.freeze({
  /** Largest frame accepted or sent: bounds memory per connection. */
  frameBytesMax: 64 * 1024 * 1024,
  /** Requests awaiting a reply on one peer connection; more fail with QUEUE_FULL. */
  inflightMax: 10_000,
  requestTimeoutMs: 5_000,
  reconnectDelayMsMin: 50,
  reconnectDelayMsMax: 2_000,
});

export interface Frame {
  readonly kind: FrameKind;
  readonly id: number;
  readonly body: unknown;
}

/** Plain msgpack (no records extension) so any msgpack implementation can read our frames. */
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });

export function encodeFrame(frame: Frame, frameBytesMax = TRANSPORT_LIMITS.frameBytesMax): Buffer {
  const payload = packr.pack([frame.kind, frame.id, frame.body]);
  if (payload.length > frameBytesMax) throw new AtollError('FRAME_TOO_LARGE', `frame of ${payload.length} bytes exceeds ${frameBytesMax}`);
  const out = Buffer.allocUnsafe(4 + payload.length);
  out.writeUInt32BE(payload.length, 0);
  payload.copy(out, 4);
  return out;
}

/** Splits a byte stream into frames; throws FRAME_TOO_LARGE or BAD_ARGUMENT on a corrupt stream. */
export class FrameDecoder {
  private buffered: Buffer = Buffer.alloc(0);

  constructor(private readonly frameBytesMax = TRANSPORT_LIMITS.frameBytesMax) {}

  feed(chunk: Buffer): Frame[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const frames: Frame[] = [];
    let offset = 0;
    while (this.buffered.length - offset >= 4) {
      const length = this.buffered.readUInt32BE(offset);
      if (length > this.frameBytesMax) throw new AtollError('FRAME_TOO_LARGE', `peer sent a frame of ${length} bytes; the limit is ${this.frameBytesMax}`);
      if (this.buffered.length - offset - 4 < length) break;
      const decoded: unknown = packr.unpack(this.buffered.subarray(offset + 4, offset + 4 + length));
      offset += 4 + length;
      if (!Array.isArray(decoded) || decoded.length !== 3 || ![1, 2, 3].includes(decoded[0] as number) || !Number.isInteger(decoded[1])) {
        throw new AtollError('BAD_ARGUMENT', 'peer sent a frame that is not [kind, id, body]');
      }
      frames.push({ kind: decoded[0] as FrameKind, id: decoded[1] as number, body: decoded[2] });
    }
    this.buffered = offset === this.buffered.length ? Buffer.alloc(0) : this.buffered.subarray(offset);
    return frames;
  }
}
