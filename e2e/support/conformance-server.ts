// Our own server for the official conformance suite's server scenarios (@modelcontextprotocol/conformance), in
// both eras on one URL: the tools, resources and prompts those scenarios call, by the names they call, built
// once per instance by one SDK v2 factory (@modelcontextprotocol/server).
// - 2025-era requests (initialize, then a session): full-strength stateful serving, one
//   WebStandardStreamableHTTPServerTransport per session (sessions, POST answered as SSE, the GET stream,
//   DELETE, Last-Event-ID replay from an in-memory event store).
// - 2026-07-28 requests (the per-request `_meta` envelope): createMcpHandler, a fresh instance per request;
//   `subscriptions/listen` streams get what the handler's notifier publishes.
// The routing is the SDK's own classification (classifyInboundRequest), so a malformed modern request gets the
// modern path's errors. Both paths sit behind one Host/Origin check (127.0.0.1, DNS rebinding).
//
// Tools whose 2026 behaviour is an input-required result are written once, in that form: on a 2025 session the
// SDK's legacy shim turns each round into real elicitation / sampling / roots requests (all of a round at once)
// and re-enters the handler with the answers. That is how a 2025-era client (the gateway agent behind the relay)
// sees them. Written from what the suite's scenarios check; the suite's examples/servers/typescript and the SDK's
// test/conformance server show the same surface.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import {
  acceptedContent,
  type CallToolResult,
  classifyInboundRequest,
  CLIENT_CAPABILITIES_META_KEY,
  type ClientCapabilities,
  createMcpHandler,
  createRequestStateCodec,
  type EventStore,
  fromJsonSchema,
  type GetPromptResult,
  inputRequired,
  type InputRequiredResult,
  type McpHttpHandler,
  McpServer,
  ResourceTemplate,
  type ServerNotifier,
  WebStandardStreamableHTTPServerTransport,
} from '@modelcontextprotocol/server';
import { z } from 'zod';

import type { HttpFixture } from './mcp-fixtures.js';

/** A 1×1 PNG and a tiny WAV, base64: content for the image and audio scenarios. */
const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const WAV = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=';

const text = (value: string): CallToolResult => ({ content: [{ type: 'text', text: value }] });
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type ElicitSchema = Parameters<typeof inputRequired.elicit>[0]['requestedSchema'];

/** The elicitation schemas of the elicitation scenarios (plain, SEP-1034 defaults, SEP-1330 enums). */
const ELICIT_DEFAULTS = {
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
} as const;
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
} as const;

/** The inputSchema the json-schema-2020-12 scenario looks for: $schema, $defs with an $anchor, composition. */
const SCHEMA_2020_12 = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: {
    address: {
      $anchor: 'addressDef',
      type: 'object',
      properties: { street: { type: 'string' }, city: { type: 'string' } },
    },
  },
  properties: {
    name: { type: 'string' },
    address: { $ref: '#/$defs/address' },
    contactMethod: { type: 'string', enum: ['phone', 'email'] },
    phone: { type: 'string' },
    email: { type: 'string' },
  },
  allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
  if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
  then: { required: ['phone'] },
  else: { required: ['email'] },
  additionalProperties: false,
} as const;

/** One argument mirrored into a header (SEP-2243): `x-mcp-header` is an extension keyword of the schema. */
const PARAM_HEADER_SCHEMA = {
  type: 'object',
  properties: {
    region: { type: 'string', description: 'Also sent as Mcp-Param-Region', 'x-mcp-header': 'Region' },
    count: { type: 'integer', description: 'Not mirrored' },
  },
} as Parameters<typeof fromJsonSchema>[0];

/** A one-field form: `{ <field>: <type> }`, required. */
const form = (field: string, type: 'string' | 'boolean'): ElicitSchema =>
  ({ type: 'object', properties: { [field]: { type } }, required: [field] }) as ElicitSchema;

/**
 * Signs the requestState of the multi-round tools (2026-07-28, input-required results): HMAC-SHA256 under a
 * key per fixture process, so a tampered or forged state is refused (-32602) before any handler runs.
 */
type RoundState = { tool: string; round: number; name?: string; nonce: string };
const stateCodec = createRequestStateCodec<RoundState>({
  key: crypto.getRandomValues(new Uint8Array(32)),
  ttlSeconds: 600,
});

/** Where an instance publishes list changes: on 2026-07-28 the handler's listen streams, on 2025 its session. */
interface Publish {
  toolsChanged(): void;
  promptsChanged(): void;
  resourceUpdated(uri: string): void;
}

/** One instance of the fixture: every tool, resource and prompt the server scenarios of both eras use. */
function conformanceServer(era: 'legacy' | 'modern', modern: ServerNotifier | undefined): McpServer {
  const mcp = new McpServer(
    { name: 'mcpassistant-conformance-fixture', version: '1.0.0' },
    {
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        // Deprecated at 2026-07-28 (per-request logLevel instead); kept for the 2025 logging scenarios.
        logging: {},
        completions: {},
      },
      requestState: { verify: (...args: Parameters<typeof stateCodec.verify>) => stateCodec.verify(...args) },
    },
  );
  // 2025 era: per-session subscriptions (2026-07-28 names the URIs in its listen filter instead).
  const subscriptions = new Set<string>();
  const publish: Publish =
    era === 'modern' && modern
      ? modern
      : {
          toolsChanged: () => mcp.sendToolListChanged(),
          promptsChanged: () => mcp.sendPromptListChanged(),
          resourceUpdated: (uri) => {
            if (subscriptions.has(uri)) void mcp.server.sendResourceUpdated({ uri }).catch(() => undefined);
          },
        };

  // ---- content ----
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
  mcp.registerTool('test_error_handling', { description: 'Always fails' }, () => {
    throw new Error('This tool intentionally returns an error for testing');
  });

  // SEP-1613 / SEP-2106: a raw JSON Schema 2020-12 inputSchema, every keyword kept as written in tools/list.
  mcp.registerTool(
    'json_schema_2020_12_tool',
    { description: 'A JSON Schema 2020-12 inputSchema', inputSchema: fromJsonSchema(SCHEMA_2020_12) },
    (args) => text(`called with ${JSON.stringify(args)}`),
  );

  // SEP-2243: an argument a client repeats in a header (Mcp-Param-Region), which the server checks.
  mcp.registerTool(
    'test_param_header',
    {
      description: 'An argument mirrored into the Mcp-Param-Region header (SEP-2243 x-mcp-header)',
      inputSchema: fromJsonSchema<{ region?: string; count?: number }>(PARAM_HEADER_SCHEMA),
    },
    ({ region }) => text(`region: ${region ?? 'none'}`),
  );

  // ---- notifications during a call ----
  mcp.registerTool(
    'test_tool_with_logging',
    { description: 'Log messages while it runs', inputSchema: z.object({}) },
    async (_args, ctx) => {
      for (const data of ['Tool execution started', 'Tool processing data', 'Tool execution completed']) {
        await ctx.mcpReq.notify({ method: 'notifications/message', params: { level: 'info', data } });
        await pause(20);
      }
      return text('Tool with logging executed successfully');
    },
  );
  mcp.registerTool(
    'test_tool_with_progress',
    { description: 'Progress notifications while it runs', inputSchema: z.object({}) },
    async (_args, ctx) => {
      const progressToken = ctx.mcpReq._meta?.progressToken;
      // Progress only for a caller that asked for it (a progress token).
      if (progressToken !== undefined) {
        for (const progress of [0, 50, 100]) {
          await ctx.mcpReq.notify({
            method: 'notifications/progress',
            params: { progressToken, progress, total: 100, message: `Completed step ${progress} of 100` },
          });
          await pause(20);
        }
      }
      return text(String(progressToken ?? 'no progress token'));
    },
  );
  mcp.registerTool(
    'test_reconnection',
    {
      description: 'Closes its SSE stream mid-call; the result comes on the resumed stream (SEP-1699)',
      inputSchema: z.object({}),
    },
    async (_args, ctx) => {
      ctx.http?.closeSSE?.();
      await pause(100);
      return text('the result after the client resumed the stream');
    },
  );
  mcp.registerTool(
    'test_logging_tool',
    {
      description: 'Logs through the request-scoped channel (2026: only with a logLevel)',
      inputSchema: z.object({}),
    },
    async (_args, ctx) => {
      await ctx.mcpReq.log('info', 'test_logging_tool ran');
      return text('logged');
    },
  );
  mcp.registerTool(
    'test_streaming_elicitation',
    {
      description: 'A plain result: its response stream carries no request of the server',
      inputSchema: z.object({}),
    },
    () => text('result frames only'),
  );
  mcp.registerTool(
    'test_trigger_tool_change',
    { description: 'Publishes notifications/tools/list_changed', inputSchema: z.object({}) },
    () => {
      publish.toolsChanged();
      return text('tools/list_changed published');
    },
  );
  mcp.registerTool(
    'test_trigger_resource_update',
    {
      description:
        "Ours, not the suite's: publishes notifications/resources/updated for test://watched-resource to its " +
        'subscribers (2025: this session, if it subscribed; 2026-07-28: listen streams naming it)',
      inputSchema: z.object({}),
    },
    () => {
      publish.resourceUpdated('test://watched-resource');
      return text('resources/updated published');
    },
  );
  mcp.registerTool(
    'test_trigger_prompt_change',
    { description: 'Publishes notifications/prompts/list_changed', inputSchema: z.object({}) },
    () => {
      publish.promptsChanged();
      return text('prompts/list_changed published');
    },
  );

  // ---- 2025-era server requests (pushed on the session; on 2026-07-28 these throw: use the ones below) ----
  mcp.registerTool(
    'test_sampling',
    { description: 'Asks the client for an LLM completion', inputSchema: z.object({ prompt: z.string() }) },
    async ({ prompt }, ctx) => {
      const result = await ctx.mcpReq.requestSampling({
        messages: [{ role: 'user', content: { type: 'text', text: prompt } }],
        maxTokens: 100,
      });
      const content = Array.isArray(result.content) ? result.content[0] : result.content;
      return text(`LLM response: ${content?.type === 'text' ? content.text : 'No response'}`);
    },
  );
  const elicit = async (
    ctx: Parameters<Parameters<McpServer['registerTool']>[2]>[1],
    message: string,
    requestedSchema: unknown,
    prefix: string,
  ) => {
    const result = await ctx.mcpReq.send({
      method: 'elicitation/create',
      params: { message, requestedSchema: requestedSchema as Record<string, unknown> },
    });
    return text(`${prefix}: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`);
  };
  mcp.registerTool(
    'test_elicitation',
    { description: 'Asks the user for input', inputSchema: z.object({ message: z.string() }) },
    ({ message }, ctx) =>
      elicit(
        ctx,
        message,
        {
          type: 'object',
          properties: { response: { type: 'string', description: "User's response" } },
          required: ['response'],
        },
        'User response',
      ),
  );
  mcp.registerTool(
    'test_elicitation_sep1034_defaults',
    { description: 'Elicitation with defaults (SEP-1034)', inputSchema: z.object({}) },
    (_args, ctx) =>
      elicit(
        ctx,
        'Please review and update the form fields with defaults',
        ELICIT_DEFAULTS,
        'Elicitation completed',
      ),
  );
  mcp.registerTool(
    'test_elicitation_sep1330_enums',
    { description: 'Elicitation with enum schemas (SEP-1330)', inputSchema: z.object({}) },
    (_args, ctx) =>
      elicit(ctx, 'Please select options from the enum fields', ELICIT_ENUMS, 'Elicitation completed'),
  );

  // ---- input-required results (2026-07-28, SEP-2322; the legacy shim serves them to 2025 clients) ----
  type Answer = CallToolResult | InputRequiredResult;
  mcp.registerTool(
    'test_input_required_result_elicitation',
    { description: 'Asks for a name (one elicitation)', inputSchema: z.object({}) },
    (_args, ctx): Answer => {
      const name = acceptedContent<{ name: string }>(ctx.mcpReq.inputResponses, 'user_name')?.name;
      if (typeof name === 'string') return text(`Hello, ${name}!`);
      return inputRequired({
        inputRequests: {
          user_name: inputRequired.elicit({
            message: 'What is your name?',
            requestedSchema: form('name', 'string'),
          }),
        },
      });
    },
  );
  mcp.registerTool(
    'test_input_required_result_sampling',
    { description: 'Asks for an LLM completion (one sampling request)', inputSchema: z.object({}) },
    (_args, ctx): Answer => {
      const answer = ctx.mcpReq.inputResponses?.['capital_question'] as
        { content?: { text?: unknown } } | undefined;
      const said = answer?.content?.text;
      if (answer !== undefined) return text(`Sampling response: ${typeof said === 'string' ? said : ''}`);
      return inputRequired({
        inputRequests: {
          capital_question: inputRequired.createMessage({
            messages: [{ role: 'user', content: { type: 'text', text: 'What is the capital of France?' } }],
            maxTokens: 100,
          }),
        },
      });
    },
  );
  mcp.registerTool(
    'test_input_required_result_list_roots',
    { description: 'Asks for the client roots (one roots/list request)', inputSchema: z.object({}) },
    (_args, ctx): Answer => {
      const roots = (ctx.mcpReq.inputResponses?.['client_roots'] as { roots?: unknown } | undefined)?.roots;
      if (Array.isArray(roots)) return text(`The client has ${roots.length} root(s)`);
      return inputRequired({ inputRequests: { client_roots: inputRequired.listRoots() } });
    },
  );
  const confirmThenFinish =
    (tool: string, done: string) =>
    async (_args: unknown, ctx: Parameters<Parameters<McpServer['registerTool']>[2]>[1]): Promise<Answer> => {
      const state = ctx.mcpReq.requestState<RoundState>();
      if (state?.tool === tool && acceptedContent(ctx.mcpReq.inputResponses, 'confirm') !== undefined)
        return text(done);
      return inputRequired({
        inputRequests: {
          confirm: inputRequired.elicit({
            message: 'Please confirm',
            requestedSchema: form('ok', 'boolean'),
          }),
        },
        requestState: await stateCodec.mint({ tool, round: 1, nonce: randomUUID() }),
      });
    };
  mcp.registerTool(
    'test_input_required_result_request_state',
    { description: 'Asks for a confirmation with a signed requestState', inputSchema: z.object({}) },
    confirmThenFinish('request_state', 'requestState verified, confirmation received'),
  );
  mcp.registerTool(
    'test_input_required_result_tampered_state',
    { description: 'Refuses a retry whose requestState was altered', inputSchema: z.object({}) },
    confirmThenFinish('tampered_state', 'requestState verified'),
  );
  mcp.registerTool(
    'test_input_required_result_multiple_inputs',
    {
      description: 'Asks for an elicitation, a sampling and the roots in one round',
      inputSchema: z.object({}),
    },
    async (_args, ctx): Promise<Answer> => {
      const responses = ctx.mcpReq.inputResponses;
      const name = acceptedContent<{ name: string }>(responses, 'user_name')?.name;
      const greeting = (responses?.['greeting'] as { content?: { text?: unknown } } | undefined)?.content
        ?.text;
      const roots = (responses?.['client_roots'] as { roots?: unknown } | undefined)?.roots;
      if (typeof name === 'string' && typeof greeting === 'string' && Array.isArray(roots))
        return text(`${greeting} ${name} (${roots.length} root(s))`);
      return inputRequired({
        inputRequests: {
          user_name: inputRequired.elicit({
            message: 'What is your name?',
            requestedSchema: form('name', 'string'),
          }),
          greeting: inputRequired.createMessage({
            messages: [{ role: 'user', content: { type: 'text', text: 'Generate a greeting' } }],
            maxTokens: 50,
          }),
          client_roots: inputRequired.listRoots(),
        },
        requestState: await stateCodec.mint({ tool: 'multiple_inputs', round: 1, nonce: randomUUID() }),
      });
    },
  );
  mcp.registerTool(
    'test_input_required_result_multi_round',
    {
      description: 'Two elicitation rounds, the requestState changing between them',
      inputSchema: z.object({}),
    },
    async (_args, ctx): Promise<Answer> => {
      const state = ctx.mcpReq.requestState<RoundState>();
      const round = state?.tool === 'multi_round' ? state.round : 0;
      if (round === 0)
        return inputRequired({
          inputRequests: {
            step1: inputRequired.elicit({
              message: 'Step 1: What is your name?',
              requestedSchema: form('name', 'string'),
            }),
          },
          requestState: await stateCodec.mint({ tool: 'multi_round', round: 1, nonce: randomUUID() }),
        });
      if (round === 1) {
        const name = acceptedContent<{ name: string }>(ctx.mcpReq.inputResponses, 'step1')?.name ?? 'someone';
        return inputRequired({
          inputRequests: {
            step2: inputRequired.elicit({
              message: 'Step 2: What is your favorite color?',
              requestedSchema: form('color', 'string'),
            }),
          },
          requestState: await stateCodec.mint({ tool: 'multi_round', round: 2, name, nonce: randomUUID() }),
        });
      }
      const color =
        acceptedContent<{ color: string }>(ctx.mcpReq.inputResponses, 'step2')?.color ?? 'no colour';
      return text(`${state?.name ?? 'someone'} likes ${color}`);
    },
  );
  mcp.registerTool(
    'test_input_required_result_capabilities',
    {
      description: 'Asks only for what the client declared (sampling, elicitation)',
      inputSchema: z.object({}),
    },
    (_args, ctx): Answer => {
      // The envelope's members are wire-only in the SDK's types: read by their spec names.
      const envelope = ctx.mcpReq.envelope as Record<string, ClientCapabilities | undefined> | undefined;
      const declared = envelope?.[CLIENT_CAPABILITIES_META_KEY] ?? mcp.server.getClientCapabilities() ?? {};
      if (ctx.mcpReq.inputResponses !== undefined) return text('input received');
      const inputRequests: Parameters<typeof inputRequired>[0]['inputRequests'] = {};
      if (declared.sampling)
        inputRequests['summary'] = inputRequired.createMessage({
          messages: [{ role: 'user', content: { type: 'text', text: 'Summarize the request' } }],
          maxTokens: 50,
        });
      if (declared.elicitation)
        inputRequests['confirm'] = inputRequired.elicit({
          message: 'Please confirm',
          requestedSchema: form('ok', 'boolean'),
        });
      if (Object.keys(inputRequests).length === 0)
        return text('the client declared neither sampling nor elicitation');
      return inputRequired({ inputRequests });
    },
  );
  mcp.registerTool(
    'test_input_required_result_changing_question',
    {
      description:
        "Ours, not the suite's: one confirmation, whose question names the time, so it differs in every run",
      inputSchema: z.object({}),
    },
    (_args, ctx): Answer => {
      const confirmed = acceptedContent<{ ok: boolean }>(ctx.mcpReq.inputResponses, 'confirm');
      if (confirmed !== undefined) return text(`confirmed: ${String(confirmed.ok)}`);
      return inputRequired({
        inputRequests: {
          confirm: inputRequired.elicit({
            message: `Confirm at ${new Date().toISOString()} (${randomUUID()})`,
            requestedSchema: form('ok', 'boolean'),
          }),
        },
      });
    },
  );
  mcp.registerTool(
    'test_missing_capability',
    {
      description: 'Needs the sampling capability (-32021 when the client did not declare it)',
      inputSchema: z.object({}),
    },
    (_args, ctx): Answer => {
      if (ctx.mcpReq.inputResponses?.['llm_answer'] !== undefined) return text('sampling answered');
      return inputRequired({
        inputRequests: {
          llm_answer: inputRequired.createMessage({
            messages: [{ role: 'user', content: { type: 'text', text: 'Reply with one word' } }],
            maxTokens: 16,
          }),
        },
      });
    },
  );

  // ---- resources ----
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
  const log = (data: string) =>
    void mcp.server
      .notification({ method: 'notifications/message', params: { level: 'info', logger: 'fixture', data } })
      .catch(() => undefined);
  mcp.server.setRequestHandler('resources/subscribe', ({ params }) => {
    subscriptions.add(params.uri);
    log(`Subscribed to resource: ${params.uri}`);
    return {};
  });
  mcp.server.setRequestHandler('resources/unsubscribe', ({ params }) => {
    subscriptions.delete(params.uri);
    log(`Unsubscribed from resource: ${params.uri}`);
    return {};
  });

  // ---- prompts ----
  const userText = (value: string) => ({
    role: 'user' as const,
    content: { type: 'text' as const, text: value },
  });
  mcp.registerPrompt(
    'test_simple_prompt',
    { title: 'Simple Test Prompt', description: 'No arguments' },
    () => ({
      messages: [userText('This is a simple prompt for testing.')],
    }),
  );
  mcp.registerPrompt(
    'test_prompt_with_arguments',
    {
      title: 'Prompt With Arguments',
      description: 'Two arguments',
      argsSchema: z.object({ arg1: z.string(), arg2: z.string() }),
    },
    ({ arg1, arg2 }) => ({ messages: [userText(`Prompt with arguments: arg1='${arg1}', arg2='${arg2}'`)] }),
  );
  mcp.registerPrompt(
    'test_prompt_with_embedded_resource',
    {
      title: 'Prompt With Embedded Resource',
      description: 'Embeds a resource',
      argsSchema: z.object({ resourceUri: z.string() }),
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
    { title: 'Prompt With Image', description: 'An image' },
    () => ({
      messages: [
        { role: 'user', content: { type: 'image', data: PNG, mimeType: 'image/png' } },
        userText('Please analyze the image above.'),
      ],
    }),
  );
  mcp.registerPrompt(
    'test_input_required_result_prompt',
    { title: 'Prompt That Asks', description: 'Asks for its context first (input-required on prompts/get)' },
    (ctx): GetPromptResult | InputRequiredResult => {
      const context = acceptedContent<{ context: string }>(
        ctx.mcpReq.inputResponses,
        'user_context',
      )?.context;
      if (typeof context === 'string') return { messages: [userText(`Use this context: ${context}`)] };
      return inputRequired({
        inputRequests: {
          user_context: inputRequired.elicit({
            message: 'What context should the prompt use?',
            requestedSchema: form('context', 'string'),
          }),
        },
      });
    },
  );

  mcp.server.setRequestHandler('logging/setLevel', ({ params }) => {
    log(`Log level set to: ${params.level}`);
    return {};
  });
  mcp.server.setRequestHandler('completion/complete', () => ({
    completion: { values: [], total: 0, hasMore: false },
  }));
  return mcp;
}

/** Last-Event-ID replay for the 2025 sessions: every event of every stream, in memory, for the fixture's life. */
function memoryEventStore(): EventStore {
  const events: { id: string; stream: string; message: unknown }[] = [];
  return {
    storeEvent(stream, message) {
      const id = `${stream}::${String(events.length).padStart(8, '0')}`;
      events.push({ id, stream, message });
      return Promise.resolve(id);
    },
    async replayEventsAfter(lastEventId, { send }) {
      const stream = lastEventId.split('::')[0] ?? '';
      for (const event of events) {
        if (event.stream === stream && event.id > lastEventId)
          await send(event.id, event.message as Parameters<typeof send>[1]);
      }
      return stream;
    },
  };
}

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

/** The Node request as a Web Request with `body` (already read) and a signal that fires when the client leaves. */
function webRequest(req: IncomingMessage, res: ServerResponse, body: Buffer | undefined): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value])
      headers.append(name, one);
  }
  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  return new Request(new URL(req.url ?? '/', 'http://127.0.0.1'), {
    method: req.method,
    headers,
    body: body && body.length > 0 ? new Uint8Array(body) : undefined,
    signal: abort.signal,
  });
}

/** Writes a Web Response to the Node response, streaming its body (an SSE stream stays open until it ends). */
async function sendWeb(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => (headers[name] = value));
  res.writeHead(response.status, headers);
  if (!response.body) return void res.end();
  res.flushHeaders();
  const reader = response.body.getReader();
  res.on('close', () => void reader.cancel().catch(() => undefined));
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      res.write(value);
    }
  } catch {
    // ignore: the client left mid-stream; the reader was cancelled
  }
  res.end();
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Starts the fixture on 127.0.0.1, port 0, serving both eras at `<url>` (see the file's head). Requests whose
 * Host or Origin is not a loopback name are refused with 403 (DNS rebinding). `close()` ends every session, the
 * modern handler and the listener.
 */
export async function startConformanceServer(): Promise<HttpFixture> {
  const sessions = new Map<string, WebStandardStreamableHTTPServerTransport>();
  const events = memoryEventStore();
  // Its `notify` publishes to the listen streams of this handler (the factory runs per request, after this).
  const modern: McpHttpHandler = createMcpHandler(({ era }) => conformanceServer(era, modern.notify), {
    legacy: 'reject',
    onerror: () => undefined, // ignore: each failure is answered to its client, and the suite judges the answers
  });
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
    const raw = req.method === 'POST' ? await readBody(req) : undefined;
    let parsedBody: unknown;
    try {
      parsedBody = raw && raw.length > 0 ? JSON.parse(raw.toString('utf8')) : undefined;
    } catch {
      parsedBody = undefined; // the transport answers the parse error from the raw body
    }
    const request = webRequest(req, res, raw);
    const options = parsedBody === undefined ? undefined : { parsedBody };
    const single = (name: string) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    const route = classifyInboundRequest({
      httpMethod: req.method ?? 'GET',
      protocolVersionHeader: single('mcp-protocol-version'),
      mcpMethodHeader: single('mcp-method'),
      mcpNameHeader: single('mcp-name'),
      body: parsedBody,
    });
    if (route.kind !== 'legacy') return sendWeb(res, await modern.fetch(request, options));

    const sessionId = single('mcp-session-id');
    const existing = sessionId === undefined ? undefined : sessions.get(sessionId);
    if (existing) return sendWeb(res, await existing.handleRequest(request, options));
    if (sessionId !== undefined) return refuse(res, 404, 'Session not found');
    if (req.method !== 'POST') return refuse(res, 400, 'Mcp-Session-Id required');
    const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      eventStore: events,
      retryInterval: 1000,
      onsessioninitialized: (id) => void sessions.set(id, transport),
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await conformanceServer('legacy', undefined).connect(transport);
    await sendWeb(res, await transport.handleRequest(request, options));
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
      await modern.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
