// Package entry of `atoll`: the library surface. Servers and the CLI are reached through `atoll` the command.
export * as partitioning from './partitioning/index.js';
export { AtollError, PartitioningError, UsageError, ERROR_CODES, type ErrorCode } from './errors.js';
