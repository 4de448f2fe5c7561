// Strings packed into one flat latin1 string: each as a varint length (7 bits a character, low groups first,
// 0x80 set on all but the last) and its characters. A stream entry's fields and a list's sealed chunks are kept
// so: one string where an array of strings cost an array and a string object each (about 40 bytes per string).

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

export function packedBytes(p: string): number {
  let n = 0;
  walkPacked(p, (_, length) => void (n += length));
  return n;
}
