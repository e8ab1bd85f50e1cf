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

const parseErrorText: Record<string, string> = {
  InvalidSymbol: 'an unexpected character',
  InvalidNumberFormat: 'a malformed number',
  PropertyNameExpected: 'a property name in double quotes',
  ValueExpected: 'a value',
  ColonExpected: 'a colon (:)',
  CommaExpected: 'a comma (,) or a closing bracket',
  CloseBraceExpected: 'a closing brace (})',
  CloseBracketExpected: 'a closing bracket (])',
  EndOfFileExpected: 'the end of the file (there is text after the JSON value)',
  InvalidCommentToken: 'no comments (JSON does not allow them)',
  UnexpectedEndOfComment: 'a closed comment',
  UnexpectedEndOfString: 'a closing double quote',
  UnexpectedEndOfNumber: 'a complete number',
  InvalidUnicode: 'a valid \\u escape',
  InvalidEscapeCharacter: 'a valid escape (\\n, \\", \\\\ …)',
  InvalidCharacter: 'no raw control characters in strings',
};

/** Parses strict JSON, or throws a GatewayError that points at the first syntax error. */
export function parseJsonText(text: string, file: string): unknown {
  const errors: ParseError[] = [];
  const tree = parseTree(text, errors, { allowTrailingComma: false, disallowComments: true });
  const first = errors[0];
  if (first) {
    const { line, column } = locationAt(text, first.offset);
    const code = printParseErrorCode(first.error);
    throw new GatewayError(
      'config-invalid',
      `${file} line ${line} column ${column}: invalid JSON, expected ${parseErrorText[code] ?? code}. ` +
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
