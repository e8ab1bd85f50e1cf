// Parsing JSON files so that every error names the file, the line and column, the JSON path, and what was
// expected. JSON.parse only reports a character offset (and not on every Node version), so we use
// jsonc-parser, which also lets us edit files in place without disturbing the user's formatting.
import {
  applyEdits,
  findNodeAtLocation,
  type JSONPath,
  modify,
  type ParseError,
  parseTree,
  printParseErrorCode,
} from 'jsonc-parser';
import type { z } from 'zod';

import { GatewayError } from '../errors.js';

export interface Location {
  line: number;
  column: number;
}

export function locationAt(text: string, offset: number): Location {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/**
 * The text of a JSON file as editors save it: UTF-8 with or without a byte-order mark (Notepad, some
 * Windows editors), or UTF-16 with its mark (Notepad's "Unicode"). CRLF line ends need nothing: JSON allows
 * them between tokens. Returns the text without the mark, and the mark to write back.
 */
export function decodeJsonFile(bytes: Buffer): { text: string; bom: string } {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return { text: bytes.subarray(2).toString('utf16le'), bom: '' };
  if (bytes[0] === 0xfe && bytes[1] === 0xff) {
    const swapped = Buffer.from(bytes.subarray(2));
    swapped.swap16();
    return { text: swapped.toString('utf16le'), bom: '' };
  }
  const text = bytes.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? { text: text.slice(1), bom: '\ufeff' } : { text, bom: '' };
}

/** What was wrong at a syntax error, and how to fix it, as the second half of a sentence. */
function describeSyntaxError(code: string, text: string, offset: number, length: number): string {
  const found = text.slice(offset, offset + Math.max(1, length));
  const before = text.slice(0, offset).trimEnd().at(-1);
  const trailingComma =
    before === ',' && /^\s*[}\]]/.test(text.slice(offset))
      ? 'a comma before a closing } or ] is not allowed in JSON; remove that comma'
      : undefined;
  switch (code) {
    case 'InvalidSymbol':
      if (found.startsWith("'")) return 'JSON strings and names need double quotes ("), not single quotes';
      if (found.startsWith('/')) return 'JSON does not allow comments; remove the comment';
      return `the character ${JSON.stringify(found[0] ?? '')} is not valid here; remove it, or put the text in double quotes`;
    case 'InvalidCommentToken':
    case 'UnexpectedEndOfComment':
      return 'JSON does not allow comments; remove the comment';
    case 'PropertyNameExpected':
      return trailingComma ?? 'a name in double quotes was expected here (like "command")';
    case 'ValueExpected':
      return (
        trailingComma ??
        'a value was expected here (a string in double quotes, a number, true, false, null, {…} or […])'
      );
    case 'ColonExpected':
      return 'a colon (:) was expected after the name';
    case 'CommaExpected':
      return 'a comma (,) was expected between two items, or a closing } or ]';
    case 'CloseBraceExpected':
      return 'a closing brace (}) was expected; one is missing';
    case 'CloseBracketExpected':
      return 'a closing bracket (]) was expected; one is missing';
    case 'EndOfFileExpected':
      return 'there is more text after the end of the JSON value; remove it, or wrap everything in one {…}';
    case 'UnexpectedEndOfString':
      return 'a string is not closed; add the closing double quote (")';
    case 'InvalidNumberFormat':
    case 'UnexpectedEndOfNumber':
      return 'a number is malformed; write it like 8080 or 1.5, or put it in double quotes';
    case 'InvalidUnicode':
      return 'a \\u escape needs four hex digits, like \\u00e9';
    case 'InvalidEscapeCharacter':
      return 'a backslash in a string must start an escape such as \\n, \\" or \\\\ (write a Windows path with \\\\ or /)';
    case 'InvalidCharacter':
      return 'a string holds a raw control character (a tab or line break); write it as \\t or \\n';
    default:
      return `invalid JSON (${code})`;
  }
}

/** Parses strict JSON, or throws a GatewayError that points at the first syntax error and says the fix. */
export function parseJsonText(text: string, file: string): unknown {
  // A byte-order mark that reaches us (text not read through decodeJsonFile) is not an error either.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const errors: ParseError[] = [];
  const tree = parseTree(text, errors, { allowTrailingComma: false, disallowComments: true });
  const first = errors[0];
  if (first) {
    const { line, column } = locationAt(text, first.offset);
    const code = printParseErrorCode(first.error);
    throw new GatewayError(
      'config-invalid',
      `${file} line ${line} column ${column}: invalid JSON: ${describeSyntaxError(code, text, first.offset, first.length)}. ` +
        'Fix the file (it was not changed).',
    );
  }
  if (!tree) return undefined;
  // jsonc-parser's tree is exact; JSON.parse of valid text gives the plain value.
  return JSON.parse(text) as unknown;
}

/** `mcpServers.fs.args` or `mcpServers["my server"].args[0]`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$-]*$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out || '(top level)';
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number') return 'a number';
  if (typeof value === 'boolean') return 'a boolean';
  if (typeof value === 'object') return 'an object';
  return typeof value;
}

function valueAt(root: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/** One line per zod issue: "file line 4 column 15, mcpServers.fs.args: expected an array (got a string)". */
export function describeIssues(
  issues: ReadonlyArray<z.core.$ZodIssue>,
  options: { file: string; text?: string; root: unknown; prefix?: ReadonlyArray<PropertyKey> },
): string[] {
  const tree = options.text === undefined ? undefined : parseTree(options.text);
  return issues.map((issue) => {
    const path = [...(options.prefix ?? []), ...issue.path];
    let where = options.file;
    if (tree) {
      // Point at the deepest node that exists: a missing key is reported at its parent object.
      for (let depth = path.length; depth >= 0; depth--) {
        const node = findNodeAtLocation(tree, path.slice(0, depth) as JSONPath);
        if (node) {
          const { line, column } = locationAt(options.text ?? '', node.offset);
          where += ` line ${line} column ${column}`;
          break;
        }
      }
    }
    const got = valueAt(options.root, path);
    let what = issue.message;
    if (issue.code === 'invalid_type') {
      what = `expected ${issue.expected === 'record' ? 'an object' : withArticle(issue.expected)}`;
      what += got === undefined ? ' (it is missing)' : ` (got ${describeValue(got)})`;
    }
    return `${where}, ${formatPath(path)}: ${what}`;
  });
}

function withArticle(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** Sets (or, with `undefined`, removes) the value at `path`, keeping the rest of the text as it was. */
export function editJsonText(text: string, path: JSONPath, value: unknown): string {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const formattingOptions = { insertSpaces: true, tabSize: detectIndent(text), eol };
  return applyEdits(text, modify(text, path, value, { formattingOptions }));
}

function detectIndent(text: string): number {
  const match = /\n( +)\S/.exec(text);
  return match?.[1]?.length ?? 2;
}
