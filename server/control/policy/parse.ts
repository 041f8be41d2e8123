// The policy document's syntax: JSON with comments and trailing commas (jsonc-parser), bounded
// in size and nesting, duplicate keys refused, every error placed at a 1-based line and column.
// The syntax tree is kept beside the value so that later stages (schema, references, tests)
// can place their errors by JSON path too.

import {
  createScanner,
  type Node,
  type ParseError,
  parseTree,
  printParseErrorCode,
} from "jsonc-parser";
import type { PolicyError } from "./types.ts";

/** Largest policy document accepted (bytes of UTF-8). */
export const MAX_POLICY_BYTES = 1024 * 1024;

/** Deepest nesting of arrays and objects accepted (the format needs 4). */
export const MAX_POLICY_DEPTH = 32;

/** Most errors reported for one document (the first ones, in document order). */
export const MAX_POLICY_ERRORS = 50;

/** One step of a JSON path: an object key or an array index. */
export type PathStep = string | number;

/** A parsed document: its value, its syntax tree, and what places offsets in the text. */
export interface ParsedPolicy {
  value: unknown;
  tree: Node;
  lines: LineIndex;
}

/** Maps offsets in a text to 1-based lines and columns (columns count UTF-16 units). */
export class LineIndex {
  private readonly starts: number[] = [0];
  constructor(text: string) {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      // \r\n is one line break; a lone \r too (as editors count).
      if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) this.starts.push(i + 1);
    }
  }

  /** Line and column of `offset`. */
  position(offset: number): { line: number; column: number } {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.starts[lo]! + 1 };
  }
}

/** "acls[2].dst[0]" for ["acls", 2, "dst", 0]; keys that are not identifiers are quoted. */
export function formatPath(path: readonly PathStep[]): string {
  let out = "";
  for (const step of path) {
    if (typeof step === "number") out += `[${step}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(step)) out += out === "" ? step : `.${step}`;
    else out += `[${JSON.stringify(step)}]`;
  }
  return out;
}

/**
 * The syntax node at `path` (the value, or with `key` the property's key), or the deepest node
 * on the way when the path leaves the tree (a missing field is reported at its parent object).
 */
export function nodeAt(tree: Node, path: readonly PathStep[], key = false): Node {
  let node = tree;
  for (let i = 0; i < path.length; i++) {
    const step = path[i]!;
    const last = i === path.length - 1;
    if (node.type === "object" && typeof step === "string") {
      // The last property of a name wins, as in the value (duplicates are refused anyway).
      let property: Node | undefined;
      for (const p of node.children ?? []) if (p.children?.[0]?.value === step) property = p;
      if (property === undefined) return node;
      const next = last && key ? property.children?.[0] : property.children?.[1];
      if (next === undefined) return property;
      node = next;
    } else if (node.type === "array" && typeof step === "number") {
      const next = node.children?.[step];
      if (next === undefined) return node;
      node = next;
    } else {
      return node;
    }
  }
  return node;
}

/** An error placed at the node of `path` in a parsed document. */
export function errorAt(
  parsed: ParsedPolicy,
  path: readonly PathStep[],
  message: string,
  key = false,
): PolicyError {
  const node = nodeAt(parsed.tree, path, key);
  return { ...parsed.lines.position(node.offset), path: formatPath(path), message };
}

/** Sorts errors by position and keeps the first MAX_POLICY_ERRORS. */
export function sortErrors(errors: PolicyError[]): PolicyError[] {
  return errors.sort((a, b) => a.line - b.line || a.column - b.column).slice(0, MAX_POLICY_ERRORS);
}

function syntaxError(lines: LineIndex, offset: number, message: string): PolicyError {
  return { ...lines.position(offset), path: "", message };
}

// jsonc-parser's SyntaxKind is a const enum (not importable under verbatimModuleSyntax).
const OPEN_BRACE = 1;
const CLOSE_BRACE = 2;
const OPEN_BRACKET = 3;
const CLOSE_BRACKET = 4;
const EOF = 17;

// jsonc-parser's parser recurses per nesting level: a scan first refuses deep documents so a
// hostile "[[[[..." cannot exhaust the stack.
function tooDeepAt(text: string): number | null {
  const scanner = createScanner(text, true);
  let depth = 0;
  for (let kind = scanner.scan(); kind !== EOF; kind = scanner.scan()) {
    if (kind === OPEN_BRACE || kind === OPEN_BRACKET) {
      if (++depth > MAX_POLICY_DEPTH) return scanner.getTokenOffset();
    } else if (kind === CLOSE_BRACE || kind === CLOSE_BRACKET) {
      depth = Math.max(0, depth - 1);
    }
  }
  return null;
}

// The value of a syntax node, with objects made without a prototype so that a key such as
// "__proto__" is an ordinary key (jsonc-parser's getNodeValue would assign through it).
function nodeValue(node: Node, lines: LineIndex, errors: PolicyError[]): unknown {
  switch (node.type) {
    case "object": {
      const out: Record<string, unknown> = Object.create(null);
      for (const property of node.children ?? []) {
        const keyNode = property.children?.[0];
        const valueNode = property.children?.[1];
        if (keyNode === undefined) continue;
        const name = String(keyNode.value);
        if (Object.hasOwn(out, name)) {
          errors.push(syntaxError(lines, keyNode.offset, `duplicate key ${JSON.stringify(name)}`));
        }
        out[name] = valueNode === undefined ? null : nodeValue(valueNode, lines, errors);
      }
      return out;
    }
    case "array":
      return (node.children ?? []).map((child) => nodeValue(child, lines, errors));
    default:
      return node.value;
  }
}

/** Parses a policy document's text, or says where and why it is not valid JSON-with-comments. */
export function parsePolicyText(
  text: string,
): { ok: true; parsed: ParsedPolicy } | { ok: false; errors: PolicyError[] } {
  // Cheap bound first (a UTF-16 unit is at least one UTF-8 byte), then the exact byte count.
  if (text.length > MAX_POLICY_BYTES || Buffer.byteLength(text, "utf8") > MAX_POLICY_BYTES) {
    return {
      ok: false,
      errors: [
        {
          line: 1,
          column: 1,
          path: "",
          message: `the policy is larger than ${MAX_POLICY_BYTES} bytes (1 MiB)`,
        },
      ],
    };
  }
  const lines = new LineIndex(text);
  const deep = tooDeepAt(text);
  if (deep !== null) {
    return {
      ok: false,
      errors: [syntaxError(lines, deep, `nested deeper than ${MAX_POLICY_DEPTH} levels`)],
    };
  }
  const parseErrors: ParseError[] = [];
  const tree = parseTree(text, parseErrors, {
    allowTrailingComma: true,
    disallowComments: false,
    allowEmptyContent: false,
  });
  if (parseErrors.length > 0 || tree === undefined) {
    const errors = parseErrors.map((e) =>
      syntaxError(lines, e.offset, describeParseError(printParseErrorCode(e.error))),
    );
    if (errors.length === 0) errors.push(syntaxError(lines, 0, "the policy is empty"));
    return { ok: false, errors: sortErrors(errors) };
  }
  const errors: PolicyError[] = [];
  const value = nodeValue(tree, lines, errors);
  if (errors.length > 0) return { ok: false, errors: sortErrors(errors) };
  return { ok: true, parsed: { value, tree, lines } };
}

// jsonc-parser's codes ("CommaExpected") as sentences.
function describeParseError(code: string): string {
  const sentences: Record<string, string> = {
    InvalidSymbol: "unexpected character",
    InvalidNumberFormat: "invalid number",
    PropertyNameExpected: "expected a property name in double quotes",
    ValueExpected: "expected a value",
    ColonExpected: "expected ':'",
    CommaExpected: "expected ',' or the end of the object or array",
    CloseBraceExpected: "expected '}'",
    CloseBracketExpected: "expected ']'",
    EndOfFileExpected: "expected the end of the document",
    InvalidCommentToken: "invalid comment",
    UnexpectedEndOfComment: "comment not closed (missing */)",
    UnexpectedEndOfString: 'string not closed (missing ")',
    UnexpectedEndOfNumber: "number cut short",
    InvalidUnicode: "invalid \\u escape",
    InvalidEscapeCharacter: "invalid escape in a string",
    InvalidCharacter: "invalid character in a string (control characters must be escaped)",
  };
  return `syntax error: ${sentences[code] ?? code}`;
}
