// Compatibility suite against the memory engine.
import { nodeSuite } from './node-suite.js';

nodeSuite('memory');
