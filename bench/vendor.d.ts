// Minimal typings for the anchor libraries the partitioning benchmark compares against (they ship none).
declare module 'hashring' {
  export default class HashRing {
    constructor(servers: string[] | Record<string, unknown>, algorithm?: string, options?: Record<string, unknown>);
    get(key: string): string;
    add(servers: string | string[]): this;
    remove(server: string): this;
  }
}

declare module 'consistent-hashing' {
  export default class ConsistentHashing {
    constructor(nodes: string[], options?: { replicas?: number; algorithm?: string });
    getNode(key: string): string;
    addNode(node: string): void;
    removeNode(node: string): void;
  }
}
