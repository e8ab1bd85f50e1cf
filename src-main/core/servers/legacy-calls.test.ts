// Passed-through calls against a real stdio server (e2e/support/slow-server.mjs, an SDK McpServer that logs the
// cancellations it gets to stderr), answered beside the SDK client's own requests on the same connection.
import { fileURLToPath } from 'node:url';

import {
  Client,
  type JSONRPCMessage,
  ProtocolError,
  SdkError,
  SdkErrorCode,
} from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';

import { until } from '../../../e2e/support/wait.js';
import { CallAbort } from '../bridge/call-abort.js';
import { isPassThroughResponse, LegacyCalls } from './legacy-calls.js';

const SLOW_SERVER = fileURLToPath(new URL('../../../e2e/support/slow-server.mjs', import.meta.url));
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A connected client of slow-server, its LegacyCalls, what it wrote to stderr and every message sent. */
async function connect() {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [SLOW_SERVER],
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const sent: JSONRPCMessage[] = [];
  const send = transport.send.bind(transport);
  transport.send = (message: JSONRPCMessage) => {
    sent.push(message);
    return send(message);
  };
  const client = new Client({ name: 'test', version: '0' });
  await client.connect(transport);
  cleanups.push(() => client.close());
  return { client, transport, calls: new LegacyCalls(transport), stderr: () => stderr, sent };
}

const echo = { name: 'echo', arguments: { message: 'hi' } };
const forever = () => ({ signal: new AbortController().signal, timeoutMs: 30_000 });

describe('LegacyCalls', () => {
  it("answers as the SDK client's request does, under its own ids, beside the SDK's own requests", async () => {
    const { client, calls, sent } = await connect();
    const passed = calls.request('tools/call', echo, forever());
    const [ours, sdks, listed] = await Promise.all([
      passed,
      client.request({ method: 'tools/call', params: echo }, z.looseObject({})),
      client.listTools(),
    ]);
    expect(ours).toEqual(sdks);
    expect(ours).toEqual({ content: [{ type: 'text', text: 'hi' }] });
    expect(listed.tools.map((t) => t.name)).toContain('wait');
    const ids = sent
      .filter((m) => 'method' in m && m.method === 'tools/call')
      .map((m) => (m as { id: unknown }).id);
    expect(ids).toHaveLength(2);
    expect(ids[0]).toBeGreaterThanOrEqual(1_000_000_000);
    expect(ids[1]).toBeLessThan(1_000_000_000);
  });

  it("rejects with the server's JSON-RPC error as the SDK's ProtocolError", async () => {
    const { client, calls } = await connect();
    const params = { name: 'no-such-prompt' };
    const ours = await calls.request('prompts/get', params, forever()).catch((e: unknown) => e);
    const sdks = await client
      .request({ method: 'prompts/get', params }, z.looseObject({}))
      .catch((e: unknown) => e);
    expect(ours).toBeInstanceOf(ProtocolError);
    expect((ours as ProtocolError).code).toBe((sdks as ProtocolError).code);
    expect((ours as ProtocolError).message).toBe((sdks as ProtocolError).message);
  });

  it('times out with the SDK error and tells the server to stop', async () => {
    const { calls, stderr } = await connect();
    const params = { name: 'wait', arguments: { ms: 20_000, label: 'slow' } };
    const error = await calls
      .request('tools/call', params, { signal: new AbortController().signal, timeoutMs: 300 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SdkError);
    expect((error as SdkError).code).toBe(SdkErrorCode.RequestTimeout);
    await until(() => stderr().includes('cancelled: slow'), 5000);
    expect(stderr()).toContain('Request timed out');
  });

  it('is cancelled by its signal, the reason passed on to the server', async () => {
    const { calls, stderr } = await connect();
    const controller = new AbortController();
    const params = { name: 'wait', arguments: { ms: 20_000, label: 'cancel-me' } };
    const call = calls.request('tools/call', params, { signal: controller.signal, timeoutMs: 30_000 });
    await until(() => stderr().includes('started: cancel-me'), 5000);
    controller.abort('the client went away');
    await expect(call).rejects.toThrow('the client went away');
    await until(() => stderr().includes('cancelled: cancel-me (reason: the client went away)'), 5000);
  });

  it('is cancelled by a CallAbort as by a signal, which it never makes', async () => {
    const { calls, stderr } = await connect();
    const abort = new CallAbort();
    const params = { name: 'wait', arguments: { ms: 20_000, label: 'call-abort' } };
    const call = calls.request('tools/call', params, { signal: abort, timeoutMs: 30_000 });
    await until(() => stderr().includes('started: call-abort'), 5000);
    abort.abort('stopped by the relay');
    await expect(call).rejects.toThrow('stopped by the relay');
    await until(() => stderr().includes('cancelled: call-abort (reason: stopped by the relay)'), 5000);
    // A signal read afterwards follows the call.
    expect(abort.signal.aborted).toBe(true);
    expect(abort.signal.reason).toBe('stopped by the relay');
  });

  it('fails the calls in flight when the connection closes, and refuses new ones', async () => {
    const { transport, calls } = await connect();
    const params = { name: 'wait', arguments: { ms: 20_000, label: 'closing' } };
    const call = calls.request('tools/call', params, forever()).catch((e: unknown) => e);
    await transport.close();
    const error = await call;
    expect(error).toBeInstanceOf(SdkError);
    expect((error as SdkError).code).toBe(SdkErrorCode.ConnectionClosed);
    await expect(calls.request('tools/call', echo, forever())).rejects.toThrow('Not connected');
  });
});

describe('isPassThroughResponse', () => {
  it('takes only well-formed answers with an id of the pass-through range', () => {
    const id = 1_000_000_007;
    expect(isPassThroughResponse({ jsonrpc: '2.0', id, result: {} })).toBe(true);
    expect(isPassThroughResponse({ jsonrpc: '2.0', id, error: { code: -32602, message: 'no' } })).toBe(true);
    expect(isPassThroughResponse({ jsonrpc: '2.0', id: 7, result: {} })).toBe(false);
    expect(isPassThroughResponse({ jsonrpc: '2.0', id: String(id), result: {} })).toBe(false);
    expect(isPassThroughResponse({ jsonrpc: '1.0', id, result: {} })).toBe(false);
    expect(isPassThroughResponse({ jsonrpc: '2.0', id, result: [] })).toBe(false);
    expect(isPassThroughResponse({ jsonrpc: '2.0', id, result: null })).toBe(false);
    expect(isPassThroughResponse({ jsonrpc: '2.0', id, method: 'x', result: {} })).toBe(false);
    expect(isPassThroughResponse({ jsonrpc: '2.0', id, error: { code: 1.5, message: 'no' } })).toBe(false);
    expect(isPassThroughResponse({ jsonrpc: '2.0', id, error: { code: 1 } })).toBe(false);
    expect(isPassThroughResponse({ jsonrpc: '2.0', id, result: {}, error: { code: 1, message: 'x' } })).toBe(
      false,
    );
    expect(isPassThroughResponse(null)).toBe(false);
  });
});
