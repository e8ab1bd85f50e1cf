// The stdio reader's limit: an oversized line becomes an error for its own request, the lines around it are
// read as usual, and memory stays bounded while it streams in. (The whole path, with a real server and
// relay, is in e2e/relay-faults.test.ts.)
import { describe, expect, it } from 'vitest';

import { formatBytes } from '../../../src-shared/wire.js';
import { LineReadBuffer } from './line-read-buffer.js';

const line = (message: object) => Buffer.from(`${JSON.stringify(message)}\n`);
const drain = (reader: LineReadBuffer) => {
  const out: unknown[] = [];
  for (let m = reader.readMessage(); m; m = reader.readMessage()) out.push(m);
  return out;
};

describe('LineReadBuffer', () => {
  it('reads several messages from one chunk, one message from several chunks, and CRLF lines', () => {
    const reader = new LineReadBuffer(1024);
    const a = { jsonrpc: '2.0', id: 1, result: {} };
    const b = {
      jsonrpc: '2.0',
      method: 'notifications/progress',
      params: { progressToken: 't', progress: 1 },
    };
    reader.append(Buffer.concat([line(a), line(b)]));
    const split = line({ jsonrpc: '2.0', id: 2, result: { text: 'hello' } });
    reader.append(split.subarray(0, 10));
    expect(drain(reader)).toEqual([a, b]);
    reader.append(split.subarray(10));
    reader.append(Buffer.from('{"jsonrpc":"2.0","id":3,"result":{}}\r\n'));
    expect(drain(reader)).toEqual([
      { jsonrpc: '2.0', id: 2, result: { text: 'hello' } },
      { jsonrpc: '2.0', id: 3, result: {} },
    ]);
  });

  it('turns an oversized reply into an error for its id (at the end, as the TypeScript SDK writes it)', () => {
    const seen: unknown[] = [];
    const reader = new LineReadBuffer(1000, (size, id) => seen.push({ size, id }));
    const big = line({
      result: { content: [{ type: 'text', text: 'x'.repeat(5000) }] },
      jsonrpc: '2.0',
      id: 7,
    });
    for (let i = 0; i < big.length; i += 300) reader.append(big.subarray(i, i + 300));
    reader.append(line({ jsonrpc: '2.0', id: 8, result: {} }));
    expect(drain(reader)).toEqual([
      {
        jsonrpc: '2.0',
        id: 7,
        error: {
          code: -32000,
          message: `the server's message is ${formatBytes(big.length - 1)}, over the 1000 bytes limit of a stdio message`,
        },
      },
      { jsonrpc: '2.0', id: 8, result: {} },
    ]);
    expect(seen).toEqual([{ size: big.length - 1, id: 7 }]);
  });

  it('finds a string id at the start (as the Python SDK writes it), and ignores ids nested in the result', () => {
    const reader = new LineReadBuffer(100);
    reader.append(
      line({ jsonrpc: '2.0', id: 'req-1', result: { items: [{ id: 99 }], pad: 'y'.repeat(500) } }),
    );
    expect(drain(reader)).toMatchObject([{ id: 'req-1', error: { code: -32000 } }]);
  });

  it('drops an oversized notification with an error that names the size, and goes on reading', () => {
    const reader = new LineReadBuffer(100);
    reader.append(
      line({ jsonrpc: '2.0', method: 'notifications/message', params: { data: 'z'.repeat(500) } }),
    );
    reader.append(line({ jsonrpc: '2.0', id: 1, result: {} }));
    expect(() => reader.readMessage()).toThrow(/message is \d+ bytes, over the 100 bytes limit .*dropped/);
    expect(reader.readMessage()).toEqual({ jsonrpc: '2.0', id: 1, result: {} });
  });
});
