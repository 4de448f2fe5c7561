// Reference only, not Atoll: the smallest Node RESP server that answers SET and GET from a Map, so the server
// benchmark can show what Node itself costs per operation on this machine (the ceiling for any Node server).
// Usage: node bench/bare-resp-server.mjs <port>
import { Buffer } from 'node:buffer';
import net from 'node:net';
import process from 'node:process';

const port = Number(process.argv[2]);
const store = new Map();
const OK = Buffer.from('+OK\r\n');
const NIL = Buffer.from('$-1\r\n');

net
  .createServer({ noDelay: true }, (socket) => {
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const out = [];
      let p = 0;
      while (p < buf.length && buf[p] === 42) {
        const e = buf.indexOf(13, p);
        if (e < 0) break;
        const n = Number(buf.toString('latin1', p + 1, e));
        let q = e + 2;
        const args = [];
        for (let i = 0; i < n; i++) {
          const e2 = buf.indexOf(13, q);
          if (e2 < 0) break;
          const len = Number(buf.toString('latin1', q + 1, e2));
          if (e2 + 4 + len > buf.length) break;
          args.push(buf.subarray(e2 + 2, e2 + 2 + len));
          q = e2 + 4 + len;
        }
        if (args.length < n) break;
        p = q;
        const cmd = args[0].toString('latin1').toLowerCase();
        if (cmd === 'set') {
          store.set(args[1].toString('latin1'), Buffer.from(args[2]));
          out.push(OK);
        } else if (cmd === 'get') {
          const v = store.get(args[1].toString('latin1'));
          out.push(v === undefined ? NIL : Buffer.concat([Buffer.from(`$${v.length}\r\n`), v, Buffer.from('\r\n')]));
        } else out.push(OK);
      }
      buf = buf.subarray(p);
      if (out.length > 0) socket.write(out.length === 1 ? out[0] : Buffer.concat(out));
    });
    socket.on('error', () => socket.destroy());
  })
  .listen(port, '127.0.0.1');
