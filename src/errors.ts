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
