// A small 2026-07-28 MCP server (SDK v2 @modelcontextprotocol/server) that refuses the 2025 era (unless
// `--both`), so a client that reaches its tools spoke 2026-07-28 to it. `echo` answers at once; `ask` asks its caller through
// input_required (an elicitation) and answers with what came back; `count` reports progress; `wait` waits (and says on stderr
// when a call starts and whether it was cancelled); `grow` adds a tool
// (`grown`), and the list change goes to the connection's subscriptions/listen streams.
// Run as a script it serves stdio (serveStdio); with `--http` it serves Streamable HTTP (createMcpHandler) on
// 127.0.0.1 at a free port and prints `listening <url>` on stdout; `--http --both` serves the 2025 era too
// (in sessions, see bothEras), a server of both eras. With MODERN_SERVER_STARTS set, every
// process start appends its pid to that file, so a test can count the processes an era probe spawned.
import { randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';

import {
  acceptedContent,
  classifyInboundRequest,
  createMcpHandler,
  inputRequired,
  inputResponse,
  McpServer,
  WebStandardStreamableHTTPServerTransport,
} from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { z } from 'zod';

const text = (value) => ({ content: [{ type: 'text', text: value }] });
const Answer = z.object({ answer: z.string() });

/** A fresh server instance (both serving entries build one per connection or request). */
export function modernServer() {
  const server = new McpServer(
    { name: 'modern-server', version: '2.0.0' },
    { capabilities: { tools: { listChanged: true } } },
  );
  server.registerTool('echo', { inputSchema: z.object({ message: z.string() }) }, ({ message }) =>
    text(`modern: ${message}`),
  );
  // `key`: the input key it asks under ("answer" unless given; a test gives one that is an Object.prototype name).
  const Ask = z.object({ question: z.string(), key: z.string().optional() });
  server.registerTool('ask', { inputSchema: Ask }, ({ question, key = 'answer' }, ctx) => {
    const responses = ctx.mcpReq.inputResponses;
    const given = responses !== undefined && Object.hasOwn(responses, key);
    const view = given ? inputResponse(responses, key) : { kind: 'none' };
    if (view.kind === 'elicit' && view.action !== 'accept') return text(`${view.action}`);
    const answered = given ? acceptedContent(responses, key, Answer) : undefined;
    if (answered) return text(`answered: ${answered.answer}`);
    return inputRequired({
      inputRequests: { [key]: inputRequired.elicit({ message: question, requestedSchema: Answer }) },
    });
  });
  server.registerTool('count', { inputSchema: z.object({ to: z.number() }) }, async ({ to }, ctx) => {
    const token = ctx.mcpReq._meta?.progressToken;
    for (let step = 1; step <= to && token !== undefined; step++) {
      await ctx.mcpReq.notify({
        method: 'notifications/progress',
        params: { progressToken: token, progress: step, total: to },
      });
    }
    return text(`counted to ${to}`);
  });
  server.registerTool(
    'wait',
    { inputSchema: z.object({ ms: z.number(), label: z.string() }) },
    async ({ ms, label }, ctx) => {
      // Said on stderr, so a test sees a call start and end at the server (cancelled, or not).
      console.error(`started: ${label}`);
      const cancelled = await new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), ms);
        ctx.mcpReq.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      console.error(`${cancelled ? 'cancelled' : 'finished'}: ${label}`);
      return text(`waited for ${label}`);
    },
  );
  server.registerTool('grow', { inputSchema: z.object({}) }, () => {
    // On stdio one instance serves the connection: the new tool stays, and listeners hear of it.
    if (!grown) grown = server.registerTool('grown', { inputSchema: z.object({}) }, () => text('grown'));
    return text('grew');
  });
  let grown;
  return server;
}

/**
 * A fetch-shaped handler of both eras: 2026-07-28 requests (as the SDK classifies them) go to a modern-only
 * handler; 2025-era ones to a session of their own (initialize creates it), where the SDK's legacy shim turns the
 * `ask` tool's input_required into an elicitation/create request on the session's stream.
 */
function bothEras() {
  const modern = createMcpHandler(() => modernServer(), { legacy: 'reject' });
  const sessions = new Map();
  return {
    async fetch(request) {
      const body =
        request.method === 'POST'
          ? await request
              .clone()
              .json()
              .catch(() => undefined)
          : undefined;
      const route = classifyInboundRequest({
        httpMethod: request.method,
        protocolVersionHeader: request.headers.get('mcp-protocol-version') ?? undefined,
        mcpMethodHeader: request.headers.get('mcp-method') ?? undefined,
        mcpNameHeader: request.headers.get('mcp-name') ?? undefined,
        body,
      });
      if (route.kind !== 'legacy') return modern.fetch(request);
      const id = request.headers.get('mcp-session-id');
      if (id !== null) {
        const session = sessions.get(id);
        return session ? session.handleRequest(request) : new Response('no such session', { status: 404 });
      }
      const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sessionId) => void sessions.set(sessionId, transport),
      });
      transport.onclose = () => sessions.delete(transport.sessionId);
      await modernServer().connect(transport);
      return transport.handleRequest(request);
    },
  };
}

/** Serves the fetch-shaped `handler` on 127.0.0.1 (a free port); resolves with the server's /mcp URL. */
async function serveHttp(handler) {
  const http = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const headers = new Headers();
    for (const [key, value] of Object.entries(req.headers)) {
      for (const one of [value].flat()) if (one !== undefined) headers.append(key, one);
    }
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    // The client closing the connection before the answer is the request's abort (a 2026 cancellation).
    const gone = new AbortController();
    res.on('close', () => res.writableFinished || gone.abort());
    const response = await handler.fetch(
      new Request(`http://${req.headers.host}${req.url}`, {
        method: req.method,
        headers,
        body: hasBody ? Buffer.concat(chunks) : undefined,
        signal: gone.signal,
      }),
    );
    res.writeHead(response.status, Object.fromEntries(response.headers));
    if (!response.body) return void res.end();
    const reader = response.body.getReader();
    // The client closing a call's stream is how a 2026-07-28 client cancels it.
    res.on('close', () => void reader.cancel().catch(() => undefined));
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true }));
      if (done) break;
      res.write(value);
    }
    res.end();
  });
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${http.address().port}/mcp`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const starts = process.env['MODERN_SERVER_STARTS'];
  if (starts) appendFileSync(starts, `${process.pid}\n`);
  if (process.argv.includes('--http')) {
    const url = await serveHttp(
      process.argv.includes('--both')
        ? bothEras()
        : createMcpHandler(() => modernServer(), { legacy: 'reject' }),
    );
    process.stdout.write(`listening ${url}\n`);
  } else {
    serveStdio(() => modernServer(), { legacy: 'reject' });
  }
}
