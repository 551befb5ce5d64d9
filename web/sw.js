// Keeps what the page needs so that it works offline once loaded. On install it fetches and keeps the page, the
// bundle, tfjs's wasm files, the shipped model (model.json and the weights it names) and the samples
// (samples.json and the images it names): the first visit is not yet controlled by the worker, so a cache
// filled only by the fetches it sees would miss them. Afterwards each same-origin GET goes to the network first,
// its answer is kept, and the kept copy answers when offline (the page's address whatever its ?parameters).
const CACHE = "hans-page-v2";
const SHELL = [
  "./",
  "index.html",
  "app.js",
  "dist/hans.js",
  "dist/tfjs-backend-wasm.wasm",
  "dist/tfjs-backend-wasm-simd.wasm",
  "model/model.json",
  "samples/samples.json",
];

async function precache() {
  const cache = await caches.open(CACHE);
  await cache.addAll(SHELL);
  const json = async (url) => await (await cache.match(url)).json();
  const model = await json("model/model.json");
  const samples = await json("samples/samples.json");
  await cache.addAll([
    ...model.weightsManifest.flatMap((group) => group.paths.map((path) => `model/${path}`)),
    ...samples.images.map((image) => `samples/${image.file}`),
  ]);
}

self.addEventListener("install", (event) => {
  self.skipWaiting();
  event.waitUntil(precache());
});
self.addEventListener("activate", (event) =>
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })()));
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(event.request);
      if (response.ok) await cache.put(event.request, response.clone());
      return response;
    } catch (error) {
      const kept = await cache.match(event.request, { ignoreSearch: event.request.mode === "navigate" });
      if (kept) return kept;
      throw error;
    }
  })());
});
