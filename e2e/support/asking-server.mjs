// A small stdio MCP server (2025 era, SDK v1) that asks its client during a tool call: elicitation/create
// (`ask`), sampling/createMessage (`sample`) and roots/list (`roots`). How the last question ended is kept
// for `last_outcome`, so a test can see what reached the server when the caller went away.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import {
  CreateMessageResultSchema,
  ElicitResultSchema,
  ListRootsResultSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const server = new McpServer({ name: 'asking-server', version: '1.0.0' });
let lastOutcome = 'nothing asked yet';

const text = (value) => ({ content: [{ type: 'text', text: value }] });

/** Sends one request to the client of this call; the tool's answer says what came back. */
async function ask(extra, request, schema, describe) {
  try {
    lastOutcome = describe(await extra.sendRequest(request, schema));
  } catch (error) {
    lastOutcome = `failed: ${error instanceof Error ? error.message : String(error)}`;
  }
  return text(lastOutcome);
}

server.registerTool('ask', { inputSchema: { question: z.string() } }, ({ question }, extra) =>
  ask(
    extra,
    {
      method: 'elicitation/create',
      params: {
        message: question,
        requestedSchema: { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] },
      },
    },
    ElicitResultSchema,
    (result) => `${result.action}: ${result.content?.answer ?? ''}`,
  ),
);

server.registerTool('sample', { inputSchema: { prompt: z.string() } }, ({ prompt }, extra) =>
  ask(
    extra,
    {
      method: 'sampling/createMessage',
      params: { messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 50 },
    },
    CreateMessageResultSchema,
    (result) => `sampled: ${result.content.type === 'text' ? result.content.text : result.content.type}`,
  ),
);

server.registerTool('roots', { inputSchema: {} }, (_args, extra) =>
  ask(
    extra,
    { method: 'roots/list' },
    ListRootsResultSchema,
    (result) => `roots: ${result.roots.map((root) => root.uri).join(', ')}`,
  ),
);

server.registerTool('last_outcome', { inputSchema: {} }, () => text(lastOutcome));

await server.connect(new StdioServerTransport());
