// Path (b) of `npm run bench`, the reference: the SDK's own Streamable HTTP server (McpServer with one
// `echo` tool behind StreamableHTTPServerTransport, stateful sessions, SSE answers: the default, not
// enableJsonResponse) on 127.0.0.1:0, in its own process so that its CPU can be read from /proc.
// Written the way the SDK's examples do it on plain node:http: the transport reads the body itself.
// Prints `PORT <n>` on stdout; exits when stdin closes, so it never outlives the bench.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

function echoServer(): McpServer {
  const server = new McpServer({ name: 'bench-sdk-http', version: '1.0.0' });
  server.registerTool('echo', { inputSchema: { message: z.string() } }, ({ message }) => ({
    content: [{ type: 'text', text: `Echo: ${message}` }],
  }));
  return server;
}

const transports = new Map<string, StreamableHTTPServerTransport>();

const http = createServer((req, res) => {
  void (async () => {
    if (new URL(req.url ?? '/', 'http://127.0.0.1').pathname !== '/mcp') {
      res.writeHead(404).end();
      return;
    }
    const sessionId = req.headers['mcp-session-id'];
    let transport = typeof sessionId === 'string' ? transports.get(sessionId) : undefined;
    if (!transport) {
      if (sessionId !== undefined || req.method !== 'POST') {
        res.writeHead(sessionId === undefined ? 400 : 404).end();
        return;
      }
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => void transports.set(id, created),
      });
      created.onclose = () => {
        if (created.sessionId) transports.delete(created.sessionId);
      };
      await echoServer().connect(created);
      transport = created;
    }
    await transport.handleRequest(req, res);
  })().catch((error: unknown) => {
    console.error('sdk-http-server:', error);
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
});

http.listen(0, '127.0.0.1', () => {
  process.stdout.write(`PORT ${(http.address() as AddressInfo).port}\n`);
});

const stop = () => {
  for (const transport of transports.values()) void transport.close();
  http.closeAllConnections();
  http.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.stdin.on('end', stop).resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
