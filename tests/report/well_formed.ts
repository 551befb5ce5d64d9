import assert from "node:assert/strict";

/** A small well-formedness check: tags balance, attributes are quoted, text has no raw < > or bare &. */
export function assertWellFormed(svg: string): void {
  assert.ok(svg.startsWith("<svg "), "starts with <svg");
  assert.ok(svg.endsWith("</svg>"), "ends with </svg>");
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<>]*")*)\s*(\/?)>/g;
  const bareAmpersand = /&(?!(?:amp|lt|gt|quot|#39);)/;
  let last = 0;
  for (const m of svg.matchAll(tag)) {
    const between = svg.slice(last, m.index);
    assert.ok(!/[<>]/.test(between), `stray markup before ${m[0]}: ${between.slice(0, 60)}`);
    assert.ok(!bareAmpersand.test(between), `bare & in text: ${between}`);
    assert.ok(!bareAmpersand.test(m[3]), `bare & in attributes: ${m[0]}`);
    const [, closing, name, , selfClosing] = m;
    if (closing) assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    else if (!selfClosing) stack.push(name);
    last = m.index + m[0].length;
  }
  assert.equal(last, svg.length, "everything is inside tags");
  assert.deepEqual(stack, [], "all elements closed");
}
