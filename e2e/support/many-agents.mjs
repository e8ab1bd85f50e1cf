// Many agents in one process, for the soak (e2e/soak.test.ts): each opens /connect with its own token,
// registers one server ("echo") and answers every invoke with a small tool result. Run apart from the relay so
// that the relay's memory per idle agent is measured without the agents' own.
//
//   node many-agents.mjs <ws-url> <tokens.json>     tokens.json: [{subject, token}, …]
// Prints "connected <n>" once every agent has registered; on SIGTERM (or stdin closing) closes every socket,
// prints "closed" and exits.
import { readFileSync } from 'node:fs';

import WebSocket from 'ws';

const [url, tokensFile] = process.argv.slice(2);
const agents = JSON.parse(readFileSync(tokensFile, 'utf8'));
const sockets = [];

function open({ subject, token }) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` } });
    ws.once('error', reject);
    ws.once('open', () => {
      ws.send(JSON.stringify({ type: 'register', subject, capabilities: ['echo'] }));
      sockets.push(ws);
      resolve();
    });
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString('utf8'));
      if (frame.type !== 'invoke') return;
      const id = frame.payload?.id;
      const result =
        id === undefined
          ? {}
          : { jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: `ok ${subject}` }] } };
      ws.send(JSON.stringify({ type: 'result', request_id: frame.request_id, result }));
    });
  });
}

// A few dozen handshakes at a time: a thousand at once is a test of the kernel's accept queue, not of the relay.
for (let i = 0; i < agents.length; i += 50) await Promise.all(agents.slice(i, i + 50).map(open));
process.stdout.write(`connected ${sockets.length}\n`);

let closing = false;
async function closeAll() {
  if (closing) return;
  closing = true;
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise((resolve) => {
          ws.once('close', resolve);
          ws.close(1000, 'done');
        }),
    ),
  );
  process.stdout.write('closed\n');
  process.exit(0);
}
process.on('SIGTERM', closeAll);
process.stdin.on('end', closeAll);
process.stdin.resume();
