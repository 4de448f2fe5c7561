// Draws a hash ring (or the slot circle) as a standalone SVG: each owned arc is a coloured annulus slice,
// with a legend. Pure string output, so `atoll ring --svg` and the dashboard draw the same picture.

export interface RingSegment {
  /** Start and end as fractions of the circle, 0 <= start < end <= 1 (clockwise from 12 o'clock). */
  readonly start: number;
  readonly end: number;
  readonly node: string;
  /** Tooltip text; the default names the node and the arc. */
  readonly label?: string;
  /** Set on the path as data-partition (the dashboard ring draws one path per partition). */
  readonly partition?: number;
}

export interface RingPictureOptions {
  readonly title?: string;
  readonly sizePx?: number;
  /** Fractions (0..1) where partition boundaries are drawn as ticks. */
  readonly ticks?: readonly number[];
  /** Merge adjacent arcs of one owner (default true); the dashboard keeps one path per partition. */
  readonly merge?: boolean;
}

/** Distinct, readable colours: hues spread by the golden angle. */
export function nodeColour(index: number): string {
  const hue = (index * 137.508) % 360;
  return `hsl(${hue.toFixed(1)}, 62%, ${index % 2 === 0 ? 52 : 40}%)`;
}

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Adjacent segments with one owner merge, so a ring with many vnodes stays a modest file. */
export function mergeSegments(segments: readonly RingSegment[]): RingSegment[] {
  const sorted = [...segments].sort((a, b) => a.start - b.start);
  const out: RingSegment[] = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && last.node === s.node && Math.abs(last.end - s.start) < 1e-12) {
      out[out.length - 1] = { start: last.start, end: s.end, node: s.node };
    } else out.push(s);
  }
  return out;
}

export function renderRingSvg(segments: readonly RingSegment[], nodes: readonly string[], options: RingPictureOptions = {}): string {
  const size = options.sizePx ?? 640;
  const legendWidth = 220;
  const c = size / 2;
  const outer = size * 0.46;
  const inner = size * 0.3;
  const colourOf = new Map(nodes.map((id, i) => [id, nodeColour(i)]));
  const point = (f: number, r: number): string => {
    const a = f * 2 * Math.PI - Math.PI / 2;
    return `${(c + r * Math.cos(a)).toFixed(2)},${(c + r * Math.sin(a)).toFixed(2)}`;
  };
  const drawn = options.merge === false ? [...segments].sort((a, b) => a.start - b.start) : mergeSegments(segments);
  const paths = drawn.map((s) => {
    const large = s.end - s.start > 0.5 ? 1 : 0;
    const d =
      s.end - s.start >= 1 - 1e-12
        ? `M${point(0, outer)}A${outer},${outer} 0 1 1 ${point(0.5, outer)}A${outer},${outer} 0 1 1 ${point(0, outer)}` +
          `M${point(0, inner)}A${inner},${inner} 0 1 0 ${point(0.5, inner)}A${inner},${inner} 0 1 0 ${point(0, inner)}Z`
        : `M${point(s.start, outer)}A${outer},${outer} 0 ${large} 1 ${point(s.end, outer)}` +
          `L${point(s.end, inner)}A${inner},${inner} 0 ${large} 0 ${point(s.start, inner)}Z`;
    const label = s.label ?? `${s.node}: ${(s.start * 100).toFixed(3)}%–${(s.end * 100).toFixed(3)}%`;
    const data = s.partition === undefined ? '' : ` class="seg" data-partition="${s.partition}" data-node="${escapeXml(s.node)}"`;
    return `<path${data} d="${d}" fill="${colourOf.get(s.node) ?? '#999'}" fill-rule="evenodd" stroke="#fff" stroke-width="${options.merge === false ? 0.3 : 0}"><title>${escapeXml(label)}</title></path>`;
  });
  const ticks = (options.ticks ?? []).map((f) => `<line x1="${point(f, inner - 6).split(',')[0]}" y1="${point(f, inner - 6).split(',')[1]}" x2="${point(f, outer + 6).split(',')[0]}" y2="${point(f, outer + 6).split(',')[1]}" stroke="#222" stroke-width="0.6"/>`);
  const legend = nodes.slice(0, 40).map((id, i) => `<g transform="translate(${size + 10},${20 + i * 18})"><rect width="12" height="12" fill="${colourOf.get(id)}"/><text x="18" y="11" font-size="12" font-family="sans-serif">${escapeXml(id)}</text></g>`);
  if (nodes.length > 40) legend.push(`<text x="${size + 10}" y="${20 + 40 * 18 + 12}" font-size="12" font-family="sans-serif">… ${nodes.length - 40} more</text>`);
  const title = options.title ? `<text x="${c}" y="${c + 5}" text-anchor="middle" font-size="15" font-family="sans-serif">${escapeXml(options.title)}</text>` : '';
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size + legendWidth}" height="${size}" viewBox="0 0 ${size + legendWidth} ${size}">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...paths,
    ...ticks,
    title,
    ...legend,
    `</svg>`,
  ].join('\n');
}
