// Paths (y) and (z) of `npm run bench`: the floors under (c) and (g). Each does per call only what any gateway
// of that design must do, and nothing else: read the client's HTTP request, parse its JSON-RPC message, hand it
// on (to server-everything's stdin; for (z) first over a WebSocket to a second process), read the answer line,
// parse it to find its request, and answer as (c) and (g) do (initialize in JSON with an Mcp-Session-Id, other
// requests as an SSE stream with `retry:`, a priming event and the answer, in one write). Writes of one
// event-loop turn leave together, as ours do. No authentication, sessions, validation, timeouts, cancellation,
// logs or error handling: a measuring stick, never a server to use.
//
//   floor-server local        node:http → server-everything over stdio, in this process (the floor of (c))
//   floor-server front        node:http and a WebSocket server on one port (the relay's part of (g))
//   floor-server agent <port> a WebSocket client of `front` → server-everything over stdio (the agent's part)
//
// Prints `PORT <n>` (local, front), `CHILD <pid>` (server-everything's: local, agent) and `AGENT` (front, once the
// agent is connected); exits when stdin closes.
import { spawn } from 'node:child_process';
import { createServer, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';

import { WebSocket, WebSocketServer } from 'ws';

const require = createRequire(import.meta.url);
const EVERYTHING = require.resolve('@modelcontextprotocol/server-everything/dist/index.js');

/** Calls `onLine` with each complete line of `stream`. */
function lines(stream: Readable, onLine: (line: string) => void): void {
  let buffer = '';
  stream.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 1);
      if (line) onLine(line);
    }
  });
}

/** A sender of strings that hands `flush` everything sent in one event-loop turn, at the end of the turn. */
function batched(flush: (batch: string[]) => void): (text: string) => void {
  let queue: string[] = [];
  return (text) => {
    if (queue.length === 0)
      setImmediate(() => {
        const batch = queue;
        queue = [];
        flush(batch);
      });
    queue.push(text);
  };
}

/** server-everything on stdio: a sender of JSON-RPC lines to it; `onLine` gets each line it writes. */
function everything(onLine: (line: string) => void): (line: string) => void {
  const child = spawn(process.execPath, [EVERYTHING, 'stdio'], { stdio: ['pipe', 'pipe', 'ignore'] });
  process.stdout.write(`CHILD ${child.pid}\n`);
  lines(child.stdout, onLine);
  process.stdin.on('end', () => child.kill());
  return batched((batch) => child.stdin.write(`${batch.join('\n')}\n`));
}

/** A batch of JSON-RPC messages as one WebSocket text: the message itself, or a JSON array of several. */
const pack = (batch: string[]) => (batch.length === 1 ? batch[0]! : `[${batch.join(',')}]`);
const unpack = (text: string): string[] =>
  text.startsWith('[') ? (JSON.parse(text) as unknown[]).map((message) => JSON.stringify(message)) : [text];

/** The HTTP side: `forward` gets each client message; `answer` takes each of the server's lines. */
function front(forward: (message: string) => void) {
  const waiting = new Map<unknown, { res: ServerResponse; initialize: boolean }>();
  let eventId = 0;
  const http = createServer((req, res) => {
    if (req.method !== 'POST') return void res.writeHead(405).end();
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const message = JSON.parse(body) as { id?: unknown; method?: string };
      if (message.id === undefined) res.writeHead(202).end();
      else waiting.set(message.id, { res, initialize: message.method === 'initialize' });
      forward(body);
    });
  });
  const answer = (line: string) => {
    const message = JSON.parse(line) as { id?: unknown; method?: string };
    // The server's own requests and notifications: nobody here asked for them.
    if (message.method !== undefined) return;
    const call = waiting.get(message.id);
    if (!call) return;
    waiting.delete(message.id);
    const { res } = call;
    if (call.initialize) {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Mcp-Session-Id': 'floor' }).end(line);
      return;
    }
    res.cork();
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    res.write('retry: 3000\n\n');
    res.write(`id: ${++eventId}\ndata: \n\n`);
    res.end(`id: ${++eventId}\nevent: message\ndata: ${line}\n\n`);
  };
  const listen = () =>
    http.listen(0, '127.0.0.1', () => {
      process.stdout.write(`PORT ${(http.address() as AddressInfo).port}\n`);
    });
  return { http, answer, listen };
}

const [role, port] = process.argv.slice(2);
if (role === 'local') {
  const send = everything((line) => http.answer(line));
  const http = front(send);
  http.listen();
} else if (role === 'front') {
  let agent: WebSocket | undefined;
  const send = batched((batch) => agent?.send(pack(batch)));
  const http = front(send);
  new WebSocketServer({ server: http.http, perMessageDeflate: false }).on('connection', (ws) => {
    agent = ws;
    ws.on('message', (data: Buffer) => unpack(data.toString()).forEach(http.answer));
    process.stdout.write('AGENT\n');
  });
  http.listen();
} else if (role === 'agent') {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
  const send = batched((batch) => ws.send(pack(batch)));
  const toServer = everything(send);
  ws.on('message', (data: Buffer) => unpack(data.toString()).forEach(toServer));
} else {
  throw new Error('usage: floor-server local | front | agent <port>');
}
process.stdin.on('end', () => process.exit(0)).resume();
