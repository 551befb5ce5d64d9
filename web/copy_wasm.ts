/**
 * Copies tfjs's wasm backend files from Deno's npm cache into `dist/` beside the bundle (`deno task bundle`),
 * so the page loads them from its own server, also offline.
 * @module
 */
import { importWasmBackend, wasmBackendFiles } from "../src/deps.ts";

await importWasmBackend(); // puts the package in this program's npm graph
const out = new URL("../dist/", import.meta.url);
await Deno.mkdir(out, { recursive: true });
let bytes = 0;
for (const file of wasmBackendFiles()) {
  const name = file.pathname.split("/").pop()!;
  const data = await Deno.readFile(file);
  await Deno.writeFile(new URL(name, out), data);
  bytes += data.length;
}
const bundle = await Deno.stat(new URL("hans.js", out));
console.log(
  `dist/hans.js: ${(bundle.size / 2 ** 20).toFixed(2)} MB; tfjs's wasm files: ${
    (bytes / 2 ** 20).toFixed(2)
  } MB`,
);
