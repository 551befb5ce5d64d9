/**
 * What a JSON text costs once parsed, checked before `JSON.parse` runs: a text under the read limit can
 * still grow past the memory budget as objects (a 250 MB model.json of nested arrays), or nest deeply
 * enough to overflow the parser's stack.
 * @module
 */
import { HansError } from "../errors.ts";
import { checkMemory } from "../limits.ts";

/** Deepest nesting of arrays and objects accepted (a model.json nests a few dozen levels at most). */
export const MAX_JSON_DEPTH = 512;
/** Bytes a parsed array or object is taken to cost (V8: a header, its elements' slots and some slack). */
const CONTAINER_BYTES = 48;
/** Bytes a parsed value inside a container is taken to cost (a slot and, for a number, a boxed double). */
const VALUE_BYTES = 24;

/**
 * The bytes `text` is taken to hold once parsed (its strings, plus a fixed cost per array, object and
 * value), and its deepest nesting; one pass over the text, strings skipped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(jsonShape('{"a": [1, 2, [3]]}').depth, 3);
 * ```
 */
export function jsonShape(text: string): { bytes: number; depth: number } {
  let containers = 0;
  let values = 0;
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) { // a string: skip to its closing quote
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
      values++;
    } else if (c === 0x5b || c === 0x7b) { // [ {
      containers++;
      if (++depth > deepest) deepest = depth;
    } else if (c === 0x5d || c === 0x7d) depth--;
    else if (c === 0x2c || c === 0x3a) values++; // , :
  }
  return { bytes: 2 * text.length + CONTAINER_BYTES * containers + VALUE_BYTES * values, depth: deepest };
}

/**
 * `JSON.parse(text)` once its parsed size fits the run's memory budget and it nests at most
 * {@link MAX_JSON_DEPTH} levels; a HansError naming `what` otherwise, and for text that is not JSON (with
 * where the parser stopped, never the text itself: it may be a file the user did not mean to show, and `fix`,
 * what to do instead).
 *
 * @example
 * ```ts
 * const json = parseJsonBounded('{"format": "layers-model"}', "model.json") as { format: string };
 * ```
 */
export function parseJsonBounded(text: string, what: string, fix = ""): unknown {
  const { bytes, depth } = jsonShape(text);
  if (depth > MAX_JSON_DEPTH) {
    throw new HansError(
      `${what} nests arrays or objects ${depth} levels deep; hans reads JSON of at most ${MAX_JSON_DEPTH} ` +
        `levels, so it is not a file hans can use.`,
    );
  }
  checkMemory(bytes, `parsing ${what}`);
  try {
    return JSON.parse(text);
  } catch (e) {
    const where = /position \d+|line \d+ column \d+/.exec((e as Error).message)?.[0];
    throw new HansError(`${what} is not valid JSON${where ? ` (at ${where})` : ""}${fix ? `; ${fix}` : ""}.`);
  }
}
