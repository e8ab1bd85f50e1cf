// A small stdio MCP server for tests that need to see what reached a server: it logs cancellations and
// their reasons to stderr (which the gateway logs), can send a server-wide notification on demand, and can
// answer with a result of any size or send server-wide log messages of any size.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const server = new McpServer({ name: 'slow-server', version: '1.0.0' }, { capabilities: { logging: {} } });

server.registerTool(
  'wait',
  { inputSchema: { ms: z.number(), label: z.string() } },
  async ({ ms, label }, extra) => {
    console.error(`started: ${label}`);
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      extra.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        console.error(`cancelled: ${label} (reason: ${String(extra.signal.reason)})`);
        resolve(undefined);
      });
    });
    return { content: [{ type: 'text', text: `waited for ${label}` }] };
  },
);

server.registerTool('echo', { inputSchema: { message: z.string() } }, ({ message }) => ({
  content: [{ type: 'text', text: message }],
}));

server.registerTool('big', { inputSchema: { bytes: z.number() } }, ({ bytes }) => ({
  content: [{ type: 'text', text: 'x'.repeat(bytes) }],
}));

// Server-wide log messages (not tied to the call): they go to every session's GET stream.
server.registerTool(
  'shout',
  { inputSchema: { bytes: z.number(), count: z.number() } },
  async ({ bytes, count }) => {
    for (let i = 0; i < count; i++) {
      await server.server.sendLoggingMessage({ level: 'info', data: `${i}:${'y'.repeat(bytes)}` });
    }
    return { content: [{ type: 'text', text: `shouted ${count}` }] };
  },
);

server.registerTool('announce', { inputSchema: {} }, async () => {
  server.sendToolListChanged();
  await server.server.sendLoggingMessage({ level: 'info', data: 'announced' });
  return { content: [{ type: 'text', text: 'sent' }] };
});

await server.connect(new StdioServerTransport());
