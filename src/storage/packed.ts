// Strings packed one after another, each as a varint length (7 bits a unit, low groups first, 0x80 set on all
// but the last) and its bytes: into one flat latin1 string (a list's sealed chunks) or into a byte buffer (a
// stream's entries). One string or buffer where an array of strings cost an array and a string object each
// (about 40 bytes per string).

export function packStrings(items: readonly string[]): string {
  const parts: string[] = [];
  for (const f of items) {
    let n = f.length;
    while (n >= 0x80) {
      parts.push(String.fromCharCode((n & 0x7f) | 0x80));
      n = Math.floor(n / 0x80);
    }
    parts.push(String.fromCharCode(n), f);
  }
  // join makes one flat string (concatenation would keep a rope of the parts).
  return parts.join('');
}

/**
 * Calls `each(start, length)` for every packed string from the `skip`-th on, in order, until it returns false.
 * (Lengths decoded inline: a tuple per element was most of a walk's cost.)
 */
export function walkPacked(p: string, each: (start: number, length: number) => boolean | void, skip = 0): void {
  for (let i = 0, k = 0; i < p.length; k++) {
    let n = 0;
    let scale = 1;
    for (;;) {
      const c = p.charCodeAt(i++);
      n += (c & 0x7f) * scale;
      if (c < 0x80) break;
      scale *= 0x80;
    }
    if (k >= skip && each(i, n) === false) return;
    i += n;
  }
}

export function unpackStrings(p: string, out: string[] = []): string[] {
  walkPacked(p, (start, length) => void out.push(p.slice(start, start + length)));
  return out;
}

/** The packed string at position `k` (0-based). */
export function nthPacked(p: string, k: number): string {
  let out = '';
  walkPacked(
    p,
    (start, length) => {
      out = p.slice(start, start + length);
      return false;
    },
    k,
  );
  return out;
}


// The same layout in bytes (a stream's entries share one growable buffer).

/** Bytes `items` take packed. */
export function packedSize(items: readonly string[]): number {
  let size = 0;
  for (const f of items) {
    size += f.length + 1;
    for (let n = f.length; n >= 0x80; n = Math.floor(n / 0x80)) size++;
  }
  return size;
}

/** Packs `items` into `buf` at `at`; returns the offset after them. */
export function writePacked(buf: Buffer, at: number, items: readonly string[]): number {
  for (const f of items) {
    let n = f.length;
    while (n >= 0x80) {
      buf[at++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 0x80);
    }
    buf[at++] = n;
    at += buf.write(f, at, 'latin1');
  }
  return at;
}

/** Calls `each(start, length)` for every string packed in buf[from, from + size). */
function walkBytes(buf: Buffer, from: number, size: number, each: (start: number, length: number) => void): void {
  for (let i = from; i < from + size; ) {
    let n = 0;
    let scale = 1;
    for (;;) {
      const c = buf[i++]!;
      n += (c & 0x7f) * scale;
      if (c < 0x80) break;
      scale *= 0x80;
    }
    each(i, n);
    i += n;
  }
}

export function readPacked(buf: Buffer, from: number, size: number): string[] {
  const out: string[] = [];
  walkBytes(buf, from, size, (start, length) => void out.push(buf.toString('latin1', start, start + length)));
  return out;
}

/** Bytes of the strings themselves (lengths left out) in buf[from, from + size). */
export function packedBytesIn(buf: Buffer, from: number, size: number): number {
  let n = 0;
  walkBytes(buf, from, size, (_, length) => void (n += length));
  return n;
}
