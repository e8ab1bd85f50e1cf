// SDK Client + Streamable HTTP → relay → agent → real local servers: every MCP method a client uses.
import type { CallToolResult, LoggingMessageNotification } from '@modelcontextprotocol/sdk/types.js';
import {
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RelayServer } from '../src-relay/relay-server.js';
import {
  type AgentFixture,
  connectClient,
  linkState,
  startAgent,
  startRelay,
} from './support/relay-fixture.js';
import { until, waitForStatus } from './support/wait.js';

let relay: RelayServer;
let agent: AgentFixture;

beforeAll(async () => {
  relay = await startRelay();
  agent = await startAgent(relay);
  await linkState(agent.gateway, 'connected');
  await waitForStatus(agent.gateway.servers, 'everything', (s) => s.state === 'running');
  await waitForStatus(agent.gateway.servers, 'slow', (s) => s.state === 'running');
});
afterAll(async () => {
  await agent?.close();
  await relay?.close();
});

const text = (result: unknown) =>
  (result as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : '')).join('');

describe('client → relay → agent → server-everything', () => {
  it('publishes the endpoint URLs of the announced servers', () => {
    const state = agent.gateway.state;
    expect(state.state).toBe('connected');
    if (state.state !== 'connected') return;
    expect(state.endpoints['everything']).toBe(`${relay.url.origin}/alice/everything/mcp`);
    expect(Object.keys(state.endpoints).sort()).toEqual(['everything', 'slow']);
  });

  it('initializes, lists and calls tools, reads resources, gets prompts and completions', async () => {
    const client = await connectClient(relay, 'alice', 'everything', agent.token);
    try {
      expect(client.getServerVersion()?.name).toContain('everything');
      expect(client.getServerCapabilities()?.tools).toBeDefined();
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('echo');
      expect(
        text(await client.callTool({ name: 'echo', arguments: { message: 'through the relay' } })),
      ).toContain('through the relay');

      const { resources } = await client.listResources();
      expect(resources.length).toBeGreaterThan(0);
      const read = await client.readResource({ uri: resources[0]!.uri });
      expect(read.contents[0]?.uri).toBe(resources[0]!.uri);
      const { resourceTemplates } = await client.listResourceTemplates();
      expect(resourceTemplates.length).toBeGreaterThan(0);

      const { prompts } = await client.listPrompts();
      expect(prompts.map((p) => p.name)).toContain('simple-prompt');
      const prompt = await client.getPrompt({ name: 'simple-prompt' });
      expect(prompt.messages.length).toBeGreaterThan(0);

      const completion = await client.complete({
        ref: { type: 'ref/prompt', name: 'completable-prompt' },
        argument: { name: 'department', value: 'Eng' },
      });
      expect(completion.completion.values).toContain('Engineering');

      await client.setLoggingLevel('debug');
      await client.ping();
    } finally {
      await client.close();
    }
  });

  it('delivers progress notifications of a long-running tool to the calling client', async () => {
    const client = await connectClient(relay, 'alice', 'everything', agent.token);
    try {
      const progress: number[] = [];
      const result = await client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 0.4, steps: 4 } },
        undefined,
        { onprogress: (p) => progress.push(p.progress) },
      );
      expect(text(result)).toMatch(/completed/i);
      expect(progress).toEqual([1, 2, 3, 4]);
    } finally {
      await client.close();
    }
  });

  it('passes a client cancellation through to the local server', async () => {
    const client = await connectClient(relay, 'alice', 'slow', agent.token);
    try {
      const controller = new AbortController();
      const call = client.callTool(
        { name: 'wait', arguments: { ms: 20_000, label: 'cancel-me' } },
        undefined,
        { signal: controller.signal },
      );
      await until(
        () => agent.logs.recent().some((e) => e.message.includes('started: cancel-me')),
        5000,
        'the call to reach the server',
      );
      controller.abort('user pressed stop');
      await expect(call).rejects.toThrow();
      await until(
        () => agent.logs.recent().some((e) => e.message.includes('cancelled: cancel-me')),
        5000,
        'the server to see the cancellation',
      );
      expect(relay.agents()[0]!.inFlight).toBe(0);
    } finally {
      await client.close();
    }
  });

  it('runs many calls at once; a slow call does not hold up the others', async () => {
    const client = await connectClient(relay, 'alice', 'slow', agent.token);
    try {
      const slow = client.callTool({ name: 'wait', arguments: { ms: 3000, label: 'slow' } });
      const started = Date.now();
      const fast = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          client.callTool({ name: 'echo', arguments: { message: `m${i}` } }),
        ),
      );
      expect(fast.map(text)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
      expect(Date.now() - started).toBeLessThan(2500);
      expect(text(await slow)).toBe('waited for slow');
    } finally {
      await client.close();
    }
  });

  it('subscribes to a resource and delivers its updates to the client', async () => {
    const client = await connectClient(relay, 'alice', 'everything', agent.token);
    try {
      const updated: string[] = [];
      client.setNotificationHandler(
        ResourceUpdatedNotificationSchema,
        (n) => void updated.push(n.params.uri),
      );
      await until(() => relay.openStreams() > 0, 5000, 'the GET stream');
      const { resources } = await client.listResources();
      const uri = resources[0]!.uri;
      await client.subscribeResource({ uri });
      // server-everything then sends simulated updates of subscribed resources every 5 s.
      await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
      try {
        await until(() => updated.includes(uri), 12_000, 'a resources/updated notification');
      } finally {
        await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
        await client.unsubscribeResource({ uri });
      }
    } finally {
      await client.close();
    }
  });

  it('forwards server notifications (list_changed, logging) to the client session', async () => {
    const client = await connectClient(relay, 'alice', 'slow', agent.token);
    try {
      const logs: LoggingMessageNotification['params'][] = [];
      let listChanged = 0;
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => void listChanged++);
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params));
      // The SDK client opens its GET stream after initialize; wait until the relay has it.
      await until(() => relay.openStreams() > 0, 5000, 'the GET stream');
      await client.callTool({ name: 'announce', arguments: {} });
      await until(() => listChanged > 0 && logs.length > 0, 5000, 'the notifications');
      expect(logs[0]?.data).toBe('announced');
    } finally {
      await client.close();
    }
  });
});
