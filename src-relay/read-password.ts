// Reads one password for `mcpassistant-relay hash-password`: from a terminal without echoing it (a prompt
// on stderr, so that `$(mcpassistant-relay hash-password)` captures only the hash), else the first line of
// piped stdin. Never from the command line, where it would land in the shell history and `ps`.
import type { Readable, Writable } from 'node:stream';

interface MaybeTty {
  isTTY?: boolean;
  setRawMode?: (raw: boolean) => unknown;
}

export async function readPassword(input: Readable & MaybeTty, prompt: Writable): Promise<string> {
  if (input.isTTY && input.setRawMode) return readFromTerminal(input, prompt);
  let text = '';
  input.setEncoding('utf8');
  for await (const chunk of input as AsyncIterable<string>) {
    text += chunk;
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/)[0] ?? '';
}

function readFromTerminal(input: Readable & MaybeTty, prompt: Writable): Promise<string> {
  prompt.write('Password: ');
  input.setRawMode!(true);
  input.setEncoding('utf8');
  input.resume();
  return new Promise((resolve) => {
    let password = '';
    const done = (value: string) => {
      input.setRawMode!(false);
      input.pause();
      input.off('data', onData);
      prompt.write('\n');
      resolve(value);
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n' || char === '\u0004') return done(password);
        if (char === '\u0003') return done(''); // Ctrl+C: nothing is hashed
        if (char === '\u007f' || char === '\b') password = password.slice(0, -1);
        else password += char;
      }
    };
    input.on('data', onData);
  });
}
