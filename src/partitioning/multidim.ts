// Multi-dimensional partitioning: a regular grid, or a Z-order (Morton) curve cut into contiguous runs, so
// box queries (a map viewport, price x rating) touch only the cells they overlap. Geo is the 2-D case.
import { PartitioningError } from '../errors.js';
import { checkInt, checkNumber, type Partitioner, type PartitionId } from './types.js';

export interface Dimension {
  readonly name?: string;
  readonly min: number;
  readonly max: number;
}

export interface GridDimension extends Dimension {
  /** Cells along this axis. */
  readonly cells: number;
}

export type Point = readonly number[];

/** Most cells a box query may enumerate before it is refused. */
export const BOX_CELLS_MAX = 1_000_000;

function checkDimensions(dims: readonly Dimension[]): void {
  if (!Array.isArray(dims) || dims.length === 0) throw new PartitioningError('BAD_ARGUMENT', 'at least one dimension is needed');
  dims.forEach((d, i) => {
    checkNumber(d.min, `dimension ${i} min`, -Number.MAX_VALUE, Number.MAX_VALUE);
    checkNumber(d.max, `dimension ${i} max`, -Number.MAX_VALUE, Number.MAX_VALUE);
    if (!(d.max > d.min)) throw new PartitioningError('BAD_ARGUMENT', `dimension ${i}: max must exceed min`);
  });
}

/** Cell coordinate of v along an axis of `cells` cells over [min, max]; max itself falls in the last cell. */
function cellOf(v: number, d: Dimension, cells: number, axis: number): number {
  if (typeof v !== 'number' || !(v >= d.min && v <= d.max)) {
    throw new PartitioningError('BAD_ARGUMENT', `coordinate ${axis} = ${String(v)} is outside [${d.min}, ${d.max}]`);
  }
  return Math.min(cells - 1, Math.floor(((v - d.min) / (d.max - d.min)) * cells));
}

function checkPoint(point: Point, dims: number): void {
  if (!Array.isArray(point) || point.length !== dims) {
    throw new PartitioningError('BAD_ARGUMENT', `a point needs ${dims} coordinates`);
  }
}

/** Row-major grid: partition id = cell index. */
export class GridPartitioner implements Partitioner<Point> {
  readonly kind = 'grid';
  readonly dims: readonly GridDimension[];
  private readonly strides: number[];
  readonly cellCount: number;

  constructor(dims: readonly GridDimension[]) {
    checkDimensions(dims);
    dims.forEach((d, i) => checkInt(d.cells, `dimension ${i} cells`, 1, 1 << 20));
    this.dims = dims.map((d) => ({ ...d }));
    this.strides = [];
    let stride = 1;
    for (let i = dims.length - 1; i >= 0; i--) {
      this.strides[i] = stride;
      stride *= dims[i]!.cells;
    }
    this.cellCount = checkInt(stride, 'cell count', 1, 1 << 24);
  }

  partitionFor(point: Point): PartitionId {
    checkPoint(point, this.dims.length);
    let id = 0;
    for (let i = 0; i < this.dims.length; i++) id += cellOf(point[i]!, this.dims[i]!, this.dims[i]!.cells, i) * this.strides[i]!;
    return id;
  }

  partitionIds(): PartitionId[] {
    return Array.from({ length: this.cellCount }, (_, i) => i);
  }

  /** Every cell the closed box [lo, hi] overlaps. */
  partitionsForBox(lo: Point, hi: Point): PartitionId[] {
    checkPoint(lo, this.dims.length);
    checkPoint(hi, this.dims.length);
    const spans = this.dims.map((d, i) => {
      const a = cellOf(clamp(lo[i]!, d), d, d.cells, i);
      const b = cellOf(clamp(hi[i]!, d), d, d.cells, i);
      return lo[i]! > hi[i]! ? null : [a, b] as const;
    });
    if (spans.some((s) => s === null)) return [];
    const total = spans.reduce((n, s) => n * (s![1] - s![0] + 1), 1);
    if (total > BOX_CELLS_MAX) throw new PartitioningError('BAD_ARGUMENT', `box covers ${total} cells, more than ${BOX_CELLS_MAX}`);
    let ids = [0];
    spans.forEach((s, i) => {
      const next: number[] = [];
      for (const base of ids) for (let c = s![0]; c <= s![1]; c++) next.push(base + c * this.strides[i]!);
      ids = next;
    });
    return ids.sort((a, b) => a - b);
  }
}

function clamp(v: number, d: Dimension): number {
  if (typeof v !== 'number' || Number.isNaN(v)) throw new PartitioningError('BAD_ARGUMENT', 'box corners must be numbers');
  return Math.max(d.min, Math.min(d.max, v));
}

export interface ZOrderOptions {
  readonly dims: readonly Dimension[];
  /** Bits per dimension; dims * bits <= 48. Default floor(48 / dims), at most 16. */
  readonly bitsPerDim?: number;
  /** Partitions: equal contiguous runs of the curve. */
  readonly partitions: number;
}

/**
 * Z-order curve: quantise each coordinate, interleave the bits, cut the curve into equal runs. Nearby points
 * mostly share a partition; a box query descends the implicit quadtree and stops as soon as a subtree falls
 * in one partition, so its answer is exact and its work is bounded by the partitions it touches.
 */
export class ZOrderPartitioner implements Partitioner<Point> {
  readonly kind = 'zorder';
  readonly dims: readonly Dimension[];
  readonly bits: number;
  readonly partitionCount: number;
  private readonly curveSize: number;

  constructor(options: ZOrderOptions) {
    checkDimensions(options.dims);
    const d = options.dims.length;
    checkInt(d, 'dimensions', 1, 48);
    this.dims = options.dims.map((x) => ({ ...x }));
    this.bits = checkInt(options.bitsPerDim ?? Math.min(16, Math.floor(48 / d)), 'bitsPerDim', 1, Math.floor(48 / d));
    this.curveSize = 2 ** (this.bits * d);
    this.partitionCount = checkInt(options.partitions, 'partitions', 1, Math.min(this.curveSize, 1 << 24));
  }

  /** Morton code of a point. */
  zValue(point: Point): number {
    checkPoint(point, this.dims.length);
    const cells = 2 ** this.bits;
    return this.interleave(this.dims.map((d, i) => cellOf(point[i]!, d, cells, i)));
  }

  partitionFor(point: Point): PartitionId {
    return this.partitionOfZ(this.zValue(point));
  }

  partitionIds(): PartitionId[] {
    return Array.from({ length: this.partitionCount }, (_, i) => i);
  }

  /** Every partition holding some cell that the closed box [lo, hi] overlaps, ascending. */
  partitionsForBox(lo: Point, hi: Point): PartitionId[] {
    checkPoint(lo, this.dims.length);
    checkPoint(hi, this.dims.length);
    if (lo.some((v, i) => v > hi[i]!)) return [];
    const cells = 2 ** this.bits;
    const qlo = this.dims.map((d, i) => cellOf(clamp(lo[i]!, d), d, cells, i));
    const qhi = this.dims.map((d, i) => cellOf(clamp(hi[i]!, d), d, cells, i));
    const found = new Set<PartitionId>();
    const origin = this.dims.map(() => 0);
    this.descend(origin, this.bits, 0, qlo, qhi, found);
    return [...found].sort((a, b) => a - b);
  }

  private partitionOfZ(z: number): PartitionId {
    return Math.floor((z / this.curveSize) * this.partitionCount);
  }

  /** Visits the quadtree node with corner `corner` and side 2^level cells, whose curve run starts at zStart. */
  private descend(corner: number[], level: number, zStart: number, qlo: number[], qhi: number[], found: Set<PartitionId>): void {
    const side = 2 ** level;
    for (let i = 0; i < corner.length; i++) if (corner[i]! > qhi[i]! || corner[i]! + side - 1 < qlo[i]!) return;
    const zCount = 2 ** (level * corner.length);
    const first = this.partitionOfZ(zStart);
    const last = this.partitionOfZ(zStart + zCount - 1);
    const inside = corner.every((c, i) => c >= qlo[i]! && c + side - 1 <= qhi[i]!);
    if (first === last || inside) {
      for (let p = first; p <= last; p++) found.add(p);
      return;
    }
    const half = side / 2;
    const childCount = 2 ** corner.length;
    const childZ = zCount / childCount;
    for (let c = 0; c < childCount; c++) {
      // Child c's bit i (from the lowest) selects the upper half of dimension i, matching interleave().
      const child = corner.map((v, i) => v + (Math.floor(c / 2 ** i) % 2) * half);
      this.descend(child, level - 1, zStart + c * childZ, qlo, qhi, found);
    }
  }

  private interleave(coords: readonly number[]): number {
    const d = coords.length;
    let z = 0;
    for (let bit = this.bits - 1; bit >= 0; bit--) {
      for (let i = d - 1; i >= 0; i--) z = z * 2 + (Math.floor(coords[i]! / 2 ** bit) % 2);
    }
    return z;
  }
}
