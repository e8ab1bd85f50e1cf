// Real MCP servers for tests: the reference servers from npm (devDependencies, run with this Node, never
// through npx) and small SDK servers over HTTP on 127.0.0.1, port 0.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

const require = createRequire(import.meta.url);
const packageDir = (name: string) => dirname(require.resolve(`${name}/package.json`));

/** `{command, args}` that start server-everything over stdio. */
export function serverEverything(): { command: string; args: string[] } {
  return {
    command: process.execPath,
    args: [join(packageDir('@modelcontextprotocol/server-everything'), 'dist', 'index.js'), 'stdio'],
  };
}

/** `{command, args}` that start server-filesystem over stdio, scoped to `dir`. */
export function serverFilesystem(dir: string): { command: string; args: string[] } {
  return {
    command: process.execPath,
    args: [join(packageDir('@modelcontextprotocol/server-filesystem'), 'dist', 'index.js'), dir],
  };
}

/**
 * `{command, args, env?}` that start a stdio server of the 2026-07-28 era only (SDK v2, ./modern-server.mjs):
 * `echo`, `ask` (input_required), `count` (progress), `grow` (a list change). With `starts`, each of its
 * processes appends its pid to that file.
 */
export const modernServer = (starts?: string) => ({
  command: process.execPath,
  args: [new URL('./modern-server.mjs', import.meta.url).pathname],
  ...(starts ? { env: { MODERN_SERVER_STARTS: starts } } : {}),
});

function echoServer(name: string): McpServer {
  const server = new McpServer({ name, version: '1.0.0' });
  server.registerTool('echo', { inputSchema: { message: z.string() } }, ({ message }) => ({
    content: [{ type: 'text', text: `${name}: ${message}` }],
  }));
  return server;
}

export interface HttpFixture {
  url: string;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * A stateless Streamable HTTP server at `<url>` (POST /mcp) with an `echo` tool. With `authorization`, a
 * request without exactly that Authorization header gets 401; `requests` lists every request's method, path
 * and Authorization header (`-` for none), in order.
 */
export async function startStreamableHttpServer(
  options: { authorization?: string } = {},
): Promise<HttpFixture & { requests: string[] }> {
  const requests: string[] = [];
  const http = createServer((req, res) => {
    requests.push(`${req.method} ${req.url} ${req.headers.authorization ?? '-'}`);
    if (options.authorization !== undefined && req.headers.authorization !== options.authorization) {
      return void res.writeHead(401, { 'WWW-Authenticate': 'Bearer' }).end('unauthorized');
    }
    if (req.url !== '/mcp') return void res.writeHead(404).end();
    const server = echoServer('streamable');
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => void transport.close().then(() => server.close()));
    void server.connect(transport).then(() => transport.handleRequest(req, res));
  });
  const base = await listen(http);
  return { url: `${base}/mcp`, requests, close: () => closeServer(http) };
}

/** A legacy HTTP+SSE server (GET /sse, POST /messages) that answers 405 to a Streamable HTTP POST. */
export async function startSseServer(): Promise<HttpFixture> {
  const sessions = new Map<string, SSEServerTransport>();
  const http = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/sse' && req.method === 'GET') {
      const transport = new SSEServerTransport('/messages', res);
      sessions.set(transport.sessionId, transport);
      res.on('close', () => sessions.delete(transport.sessionId));
      void echoServer('sse').connect(transport);
      return;
    }
    const transport = sessions.get(url.searchParams.get('sessionId') ?? '');
    if (url.pathname === '/messages' && req.method === 'POST' && transport)
      return void transport.handlePostMessage(req, res);
    res.writeHead(405).end();
  });
  const base = await listen(http);
  return { url: `${base}/sse`, close: () => closeServer(http) };
}

/**
 * ./modern-server.mjs over Streamable HTTP in a child process: a server of the 2026-07-28 era only
 * (createMcpHandler with `legacy: 'reject'`), or with `eras: 'both'` one that also serves 2025-era clients
 * (in sessions: the SDK's legacy shim turns its input_required into elicitation requests for them), on
 * 127.0.0.1 at a free port. stderr() is what it wrote there so far; close() ends the process.
 */
export async function startModernHttpServer(
  eras: 'modern' | 'both' = 'modern',
): Promise<HttpFixture & { stderr(): string }> {
  const child = spawn(
    process.execPath,
    [
      new URL('./modern-server.mjs', import.meta.url).pathname,
      '--http',
      ...(eras === 'both' ? ['--both'] : []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const match = /^listening (\S+)$/m.exec(output);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) =>
      reject(new Error(`modern-server.mjs --http exited with ${code}: ${output}`)),
    );
  });
  return {
    url,
    stderr: () => stderr,
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}
