import assert from "node:assert/strict";
import { parseTaskFlags } from "../../src/cli/args.ts";
import { CONTRASTIVE_FLAGS } from "../../src/cli/task_flags.ts";
import { HansError } from "../../src/errors.ts";

Deno.test("a value that starts with a dash and a digit is the flag's value, as the README writes it", () => {
  for (const args of [["--input-range", "-1,1"], ["--input-range=-1,1"]]) {
    assert.equal(parseTaskFlags(CONTRASTIVE_FLAGS, args)["input-range"], "-1,1", args.join(" "));
  }
  assert.equal(
    parseTaskFlags(CONTRASTIVE_FLAGS, ["--input-range", "-.5,.5", "--quick"])["input-range"],
    "-.5,.5",
  );
  // A number flag gets the value too, and its range check says what is wrong with it.
  assert.throws(
    () => parseTaskFlags(CONTRASTIVE_FLAGS, ["--examples", "-3"]),
    (e: Error) => e instanceof HansError && /--examples -3: expected a whole number/.test(e.message),
  );
  // A flag is still a flag.
  assert.equal(parseTaskFlags(CONTRASTIVE_FLAGS, ["--budget", "2", "--quick"]).quick, true);
});
