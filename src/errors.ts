/**
 * The project's own error type: a problem with the user's input or environment, said in one line with what
 * to do. The CLI prints its message and exits with code 2; anything else is a bug.
 * @module
 */

/** A user-facing error: `message` names the problem and what to do. */
export class HansError extends Error {
  /** Creates the error; `message` is shown to the user as it is. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "HansError";
  }
}

/**
 * `text` safe to print on a terminal: control characters (C0, DEL, C1, which can move the cursor, retitle or
 * clear the terminal) become visible escapes such as `\x1b`, and so do the bidirectional controls (U+061C,
 * U+200E/F, U+202A–U+202E, U+2066–U+2069), which can make a file name read backwards (`\u202e`); everything
 * else is kept.
 *
 * @example
 * ```ts
 * printable("cat\x1b]0;owned\x07"); // "cat\\x1b]0;owned\\x07"
 * printable("photo\u202egnp.exe"); // "photo\\u202egnp.exe"
 * ```
 */
export function printable(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`)
    .replace(/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

/** Prints one line to stderr with its control characters escaped (see {@link printable}). */
export function say(line: string): void {
  console.error(printable(line));
}

/**
 * One line for any error that reaches the command line: a HansError's own message; a missing gradient in
 * TF.js, naming the op; a full disk, saying so; a system error (Deno's), with its kind; anything else as an
 * unexpected error.
 */
export function errorLine(error: unknown): string {
  if (error instanceof HansError) return error.message;
  const e = error instanceof Error ? error : new Error(String(error));
  const first = (e.message || String(e)).split("\n")[0].trim();
  const op = /gradient function not found for (\w+)/i.exec(first)?.[1];
  if (op) {
    return `the model uses the op ${op}, which has no gradient in TF.js, so nothing that needs its gradient ` +
      `(saliency methods other than occlusion and RISE, counterfactuals) can run on it.`;
  }
  if (/os error 28\b|No space left on device|os error 122\b|Disk quota exceeded/i.test(first)) {
    return `the disk is full (${first}); free some space, or pass --out on another disk.`;
  }
  if (/os error 24\b|Too many open files/i.test(first)) {
    return `the system ran out of file handles (${first}); raise the limit (ulimit -n) or close other programs.`;
  }
  if (e.name && e.name !== "Error" && e.name !== "TypeError" && e.name !== "RangeError") {
    return `${e.name}: ${first}`;
  }
  return `unexpected error: ${first} (please report it with the command you ran).`;
}
