// Compatibility suite against the LMDB engine (batched durability).
import { nodeSuite } from './node-suite.js';

nodeSuite('lmdb');
