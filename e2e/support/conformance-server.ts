// Our own server for the official conformance suite's server scenarios (@modelcontextprotocol/conformance,
// `--requirements 2025-11-25`): the tools, resources and prompts those scenarios call, by the names they
// call, served over Streamable HTTP with sessions, on 127.0.0.1 with DNS-rebinding protection. Written from
// what the suite's scenarios check (its examples/servers/typescript/everything-server.ts shows the same
// surface); it speaks the 2025 era only (SDK v1), so the suite's 2026-07-28 scenarios mostly fail against it
// directly too.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CompleteRequestSchema,
  type ElicitRequest,
  ElicitResultSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

import type { HttpFixture } from './mcp-fixtures.js';

/** A 1×1 PNG and a tiny WAV, base64: content for the image and audio scenarios. */
const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const WAV = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=';

const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] });
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type ElicitSchema = Extract<ElicitRequest['params'], { requestedSchema: unknown }>['requestedSchema'];

/** The elicitation schemas of the three elicitation scenarios (plain, SEP-1034 defaults, SEP-1330 enums). */
const ELICIT_DEFAULTS: ElicitSchema = {
  type: 'object',
  properties: {
    name: { type: 'string', description: 'User name', default: 'John Doe' },
    age: { type: 'integer', description: 'User age', default: 30 },
    score: { type: 'number', description: 'User score', default: 95.5 },
    status: {
      type: 'string',
      description: 'User status',
      enum: ['active', 'inactive', 'pending'],
      default: 'active',
    },
    verified: { type: 'boolean', description: 'Verification status', default: true },
  },
  required: [],
};
const ELICIT_ENUMS = {
  type: 'object',
  properties: {
    untitledSingle: {
      type: 'string',
      description: 'Select one option',
      enum: ['option1', 'option2', 'option3'],
    },
    titledSingle: {
      type: 'string',
      description: 'Select one option with titles',
      oneOf: [
        { const: 'value1', title: 'First Option' },
        { const: 'value2', title: 'Second Option' },
        { const: 'value3', title: 'Third Option' },
      ],
    },
    legacyEnum: {
      type: 'string',
      description: 'Select one option (legacy)',
      enum: ['opt1', 'opt2', 'opt3'],
      enumNames: ['Option One', 'Option Two', 'Option Three'],
    },
    untitledMulti: {
      type: 'array',
      description: 'Select multiple options',
      minItems: 1,
      maxItems: 3,
      items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
    },
    titledMulti: {
      type: 'array',
      description: 'Select multiple options with titles',
      minItems: 1,
      maxItems: 3,
      items: {
        anyOf: [
          { const: 'value1', title: 'First Choice' },
          { const: 'value2', title: 'Second Choice' },
          { const: 'value3', title: 'Third Choice' },
        ],
      },
    },
  },
  required: [],
} as unknown as ElicitSchema;

/** One session's server: every tool, resource and prompt the 2025-11-25 server scenarios use. */
function conformanceServer(): McpServer {
  const mcp = new McpServer(
    { name: 'mcpassistant-conformance-fixture', version: '1.0.0' },
    {
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {},
        completions: {},
      },
    },
  );
  const log = (data: string) =>
    void mcp.server
      .notification({ method: 'notifications/message', params: { level: 'info', logger: 'fixture', data } })
      .catch(() => undefined);

  mcp.registerTool('test_simple_text', { description: 'Simple text content' }, () =>
    text('This is a simple text response for testing.'),
  );
  mcp.registerTool('test_image_content', { description: 'Image content' }, () => ({
    content: [{ type: 'image', data: PNG, mimeType: 'image/png' }],
  }));
  mcp.registerTool('test_audio_content', { description: 'Audio content' }, () => ({
    content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }],
  }));
  mcp.registerTool('test_embedded_resource', { description: 'Embedded resource content' }, () => ({
    content: [
      {
        type: 'resource',
        resource: {
          uri: 'test://embedded-resource',
          mimeType: 'text/plain',
          text: 'This is an embedded resource content.',
        },
      },
    ],
  }));
  mcp.registerTool('test_multiple_content_types', { description: 'Text, image and resource' }, () => ({
    content: [
      { type: 'text', text: 'Multiple content types test:' },
      { type: 'image', data: PNG, mimeType: 'image/png' },
      {
        type: 'resource',
        resource: {
          uri: 'test://mixed-content-resource',
          mimeType: 'application/json',
          text: JSON.stringify({ test: 'data', value: 123 }),
        },
      },
    ],
  }));
  mcp.registerTool(
    'test_tool_with_logging',
    { description: 'Log messages while it runs', inputSchema: {} },
    async (_args, extra) => {
      for (const data of ['Tool execution started', 'Tool processing data', 'Tool execution completed']) {
        await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data } });
        await pause(20);
      }
      return text('Tool with logging executed successfully');
    },
  );
  mcp.registerTool(
    'test_tool_with_progress',
    { description: 'Progress notifications while it runs', inputSchema: {} },
    async (_args, extra) => {
      const progressToken = extra._meta?.progressToken ?? 0;
      for (const progress of [0, 50, 100]) {
        await extra.sendNotification({
          method: 'notifications/progress',
          params: { progressToken, progress, total: 100, message: `Completed step ${progress} of 100` },
        });
        await pause(20);
      }
      return text(String(progressToken));
    },
  );
  mcp.registerTool('test_error_handling', { description: 'Always fails' }, () => {
    throw new Error('This tool intentionally returns an error for testing');
  });
  mcp.registerTool(
    'test_sampling',
    { description: 'Asks the client for an LLM completion', inputSchema: { prompt: z.string() } },
    async ({ prompt }, extra) => {
      const result = await extra.sendRequest(
        {
          method: 'sampling/createMessage',
          params: { messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 },
        },
        z.looseObject({ content: z.looseObject({ text: z.string().optional() }).optional() }),
      );
      return text(`LLM response: ${result.content?.text ?? 'No response'}`);
    },
  );
  const elicit =
    (message: string, requestedSchema: ElicitSchema, prefix: string) =>
    async (extra: { sendRequest: McpServer['server']['request'] }) => {
      const result = await extra.sendRequest(
        { method: 'elicitation/create', params: { message, requestedSchema } },
        ElicitResultSchema,
      );
      return text(`${prefix}: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`);
    };
  mcp.registerTool(
    'test_elicitation',
    { description: 'Asks the user for input', inputSchema: { message: z.string() } },
    ({ message }, extra) =>
      elicit(
        message,
        {
          type: 'object',
          properties: { response: { type: 'string', description: "User's response" } },
          required: ['response'],
        },
        'User response',
      )(extra),
  );
  mcp.registerTool(
    'test_elicitation_sep1034_defaults',
    { description: 'Elicitation with defaults (SEP-1034)', inputSchema: {} },
    (_args, extra) =>
      elicit(
        'Please review and update the form fields with defaults',
        ELICIT_DEFAULTS,
        'Elicitation completed',
      )(extra),
  );
  mcp.registerTool(
    'test_elicitation_sep1330_enums',
    { description: 'Elicitation with enum schemas (SEP-1330)', inputSchema: {} },
    (_args, extra) =>
      elicit('Please select options from the enum fields', ELICIT_ENUMS, 'Elicitation completed')(extra),
  );

  const resource = (uri: string, mimeType: string, body: { text: string } | { blob: string }) => () => ({
    contents: [{ uri, mimeType, ...body }],
  });
  mcp.registerResource(
    'static-text',
    'test://static-text',
    { title: 'Static Text Resource', mimeType: 'text/plain' },
    resource('test://static-text', 'text/plain', {
      text: 'This is the content of the static text resource.',
    }),
  );
  mcp.registerResource(
    'static-binary',
    'test://static-binary',
    { title: 'Static Binary Resource', mimeType: 'image/png' },
    resource('test://static-binary', 'image/png', { blob: PNG }),
  );
  mcp.registerResource(
    'watched-resource',
    'test://watched-resource',
    { title: 'Watched Resource', mimeType: 'text/plain' },
    resource('test://watched-resource', 'text/plain', { text: 'Watched resource content' }),
  );
  mcp.registerResource(
    'template',
    new ResourceTemplate('test://template/{id}/data', { list: undefined }),
    { title: 'Resource Template', mimeType: 'application/json' },
    (uri, { id }) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: 'application/json',
          text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${String(id)}` }),
        },
      ],
    }),
  );
  const subscriptions = new Set<string>();
  mcp.server.setRequestHandler(SubscribeRequestSchema, ({ params }) => {
    subscriptions.add(params.uri);
    log(`Subscribed to resource: ${params.uri}`);
    return {};
  });
  mcp.server.setRequestHandler(UnsubscribeRequestSchema, ({ params }) => {
    subscriptions.delete(params.uri);
    log(`Unsubscribed from resource: ${params.uri}`);
    return {};
  });

  const userText = (value: string) => ({
    role: 'user' as const,
    content: { type: 'text' as const, text: value },
  });
  mcp.registerPrompt(
    'test_simple_prompt',
    { title: 'Simple Test Prompt', description: 'A prompt without arguments' },
    () => ({
      messages: [userText('This is a simple prompt for testing.')],
    }),
  );
  mcp.registerPrompt(
    'test_prompt_with_arguments',
    {
      title: 'Prompt With Arguments',
      description: 'A prompt with two arguments',
      argsSchema: { arg1: z.string(), arg2: z.string() },
    },
    ({ arg1, arg2 }) => ({ messages: [userText(`Prompt with arguments: arg1='${arg1}', arg2='${arg2}'`)] }),
  );
  mcp.registerPrompt(
    'test_prompt_with_embedded_resource',
    {
      title: 'Prompt With Embedded Resource',
      description: 'A prompt that embeds a resource',
      argsSchema: { resourceUri: z.string() },
    },
    ({ resourceUri }) => ({
      messages: [
        {
          role: 'user',
          content: {
            type: 'resource',
            resource: {
              uri: resourceUri,
              mimeType: 'text/plain',
              text: 'Embedded resource content for testing.',
            },
          },
        },
        userText('Please process the embedded resource above.'),
      ],
    }),
  );
  mcp.registerPrompt(
    'test_prompt_with_image',
    { title: 'Prompt With Image', description: 'A prompt with an image' },
    () => ({
      messages: [
        { role: 'user', content: { type: 'image', data: PNG, mimeType: 'image/png' } },
        userText('Please analyze the image above.'),
      ],
    }),
  );

  mcp.server.setRequestHandler(SetLevelRequestSchema, ({ params }) => {
    log(`Log level set to: ${params.level}`);
    return {};
  });
  mcp.server.setRequestHandler(CompleteRequestSchema, () => ({
    completion: { values: [], total: 0, hasMore: false },
  }));
  return mcp;
}

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

/**
 * Starts the fixture on 127.0.0.1, port 0: Streamable HTTP at `<url>` (POST, GET stream, DELETE), one SDK
 * session per client session. Requests whose Host or Origin is not a loopback name are refused with 403.
 */
export async function startConformanceServer(): Promise<HttpFixture> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  let hosts: string[] = [];
  const refuse = (res: ServerResponse, status: number, message: string) =>
    void res
      .writeHead(status, { 'Content-Type': 'application/json' })
      .end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message } }));

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (new URL(req.url ?? '/', 'http://fixture').pathname !== '/mcp') return refuse(res, 404, 'not found');
    const origin = req.headers.origin;
    if (
      !hosts.includes((req.headers.host ?? '').toLowerCase()) ||
      (origin !== undefined && !LOOPBACK_NAMES.some((name) => origin.startsWith(`http://${name}`)))
    )
      return refuse(res, 403, 'Host or Origin is not a loopback name');
    const sessionId = req.headers['mcp-session-id'];
    const existing = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
    if (existing) return existing.handleRequest(req, res);
    if (sessionId !== undefined) return refuse(res, 404, 'Session not found');
    if (req.method !== 'POST') return refuse(res, 400, 'Mcp-Session-Id required');
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => void sessions.set(id, transport),
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await conformanceServer().connect(transport);
    await transport.handleRequest(req, res);
  };

  const http = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) refuse(res, 500, String(error));
      else res.end();
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  hosts = LOOPBACK_NAMES.map((name) => `${name}:${port}`);
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    async close() {
      await Promise.all([...sessions.values()].map((transport) => transport.close()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
