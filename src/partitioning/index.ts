// Public entry of `atoll/partitioning`: every way of mapping keys to partitions and partitions to nodes,
// pure and I/O-free. See docs/partitioning.md for when to use which.
export * from './hash.js';
export * from './types.js';
export * from './prng.js';
export * from './ring.js';
export * from './locators.js';
export * from './bounded.js';
export * from './slots.js';
export * from './range.js';
export * from './time.js';
export * from './composite.js';
export * from './multidim.js';
export * from './placement.js';
export * from './analysis.js';
export { PartitioningError, AtollError, ERROR_CODES, type ErrorCode } from '../errors.js';
