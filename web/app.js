// hans's web page: a model and images in, predictions and saliency maps out, all computed here (dist/hans.js).
// `?backend=webgpu|wasm|webgl|cpu` forces a backend (`&kernels=hans|tfjs` the WebGPU kernels, `&engine=active`
// no move of gradient work to wasm), `?offline=no`
// leaves the service worker out; `window.hansPage` lets a test drive the page.
import * as hans from "./dist/hans.js";

const DEFAULT_METHODS = ["gradient", "grad_cam", "integrated_gradients"];
const $ = (id) => document.getElementById(id);
const state = { loaded: undefined, classNames: [], images: [], methods: [] };

function status(id, text, error = false) {
  $(id).textContent = text;
  $(id).classList.toggle("error", error);
}

function className(k) {
  return state.classNames[k] ?? `class ${k}`;
}

/** Shows the classes in the P and Q pickers, and the methods that can run on the model. */
async function useModel(loaded, classNames, what) {
  if (state.loaded) hans.disposeLoaded(state.loaded);
  state.loaded = loaded;
  state.classNames = classNames.length === loaded.classes ? classNames : [];
  const classes = Array.from(
    { length: loaded.classes },
    (_, k) => `<option value="${k}">${escape(className(k))}</option>`,
  );
  $("p").innerHTML = `<option value="predicted">the predicted class</option>${classes.join("")}`;
  $("q").innerHTML =
    `<option value="none">none</option><option value="runner-up" selected>the runner-up class</option>` +
    classes.join("");
  const names = hans.METHODS.filter((m) => m.attribution).map((m) => m.name);
  const { methods, leftOut } = await hans.availableMethods(names, loaded.explainable, () => undefined, false);
  state.methods = methods;
  $("methods").innerHTML = methods.map((m) =>
    `<label title="${escape(m.description)}"><input type="checkbox" value="${m.name}"${
      DEFAULT_METHODS.includes(m.name) ? " checked" : ""
    }> ${escape(m.label)}</label>`
  ).join("");
  $("left-out").textContent = leftOut.length
    ? `Not available for this model: ${leftOut.map((m) => `${m.name} (${m.reason})`).join("; ")}`
    : "";
  const [h, w, c] = loaded.inputShape;
  status(
    "model-status",
    `${what}: ${h}×${w}×${c} input, ${loaded.classes} classes, explained on its ${loaded.outputs}.`,
  );
  await refitImages();
}

function escape(text) {
  return String(text).replace(
    /[&<>"]/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c],
  );
}

/** Loads the model from dropped files: model.json, its weights, and an optional labels.txt. */
async function modelFromFiles(files) {
  const list = [...files];
  const labels = list.find((f) => f.name === "labels.txt");
  const names = labels ? (await labels.text()).split(/\r?\n/).map((l) => l.trim()).filter(Boolean) : [];
  status("model-status", "reading the dropped model…");
  const loaded = await hans.loadModelFromFiles(list.filter((f) => f !== labels));
  await useModel(loaded, names, loaded.source);
}

async function modelFromUrl(url, classNames = []) {
  status("model-status", `loading ${url}…`);
  await useModel(await hans.loadModelFromUrl(url), classNames, url);
}

/** Keeps the dropped (or sample) images as files and fits them to the model's input. */
async function setImages(files, labels = []) {
  state.files = [...files];
  state.labels = labels;
  $("thumbs").innerHTML = "";
  for (const f of state.files) {
    const img = document.createElement("img");
    img.src = URL.createObjectURL(f);
    img.title = img.alt = f.name;
    $("thumbs").append(img);
  }
  await refitImages();
}

async function refitImages() {
  if (!state.loaded || !state.files) return;
  state.images = [];
  for (const f of state.files) {
    state.images.push({ name: f.name, pixels: await hans.imageFromBlob(f, state.loaded.inputShape) });
  }
  status("image-status", `${state.images.length} image(s), fitted to ${state.loaded.inputShape.join("×")}`);
  $("run").disabled = state.images.length === 0;
}

/** The class chosen in a picker for each image. */
function chosen(value, predictions, fallback) {
  return predictions.map((row, i) => {
    if (value === "predicted") return predictions.classes[i];
    if (value === "runner-up") return row.map((p, k) => [p, k]).sort((a, b) => b[0] - a[0])[1][1];
    if (value === "none") return fallback;
    return Number(value);
  });
}

/**
 * Predicts and explains the images: for each method, the maps of P and (when Q is set) of P − Q, each column
 * with its own scale. Returns the numbers (for tests) and the time of each method in ms. `options` (for tests and
 * timings) override the pickers: `methods`, `p`, `q`, and `count` (the first images only).
 */
async function run(options = {}) {
  const methods = options.methods ??
    [...document.querySelectorAll("#methods input:checked")].map((el) => el.value);
  const pChoice = options.p ?? $("p").value;
  const qChoice = options.q ?? $("q").value;
  const [h, w, c] = state.loaded.inputShape;
  const images = state.images.slice(0, options.count ?? state.images.length);
  const n = images.length;
  const x = hans.tf.tensor4d(new Float32Array(images.flatMap((im) => [...im.pixels])), [n, h, w, c]);
  const columns = [];
  const result = { backend: state.backend, maps: {}, timings: {} };
  try {
    status("run-status", "predicting…");
    const predicted = await hans.predict(state.loaded, x);
    const rows = Object.assign(predicted.probabilities, { classes: predicted.classes });
    const p = chosen(pChoice, rows);
    const q = qChoice === "none" ? undefined : chosen(qChoice, rows);
    result.predictions = predicted;
    result.p = p;
    result.q = q;
    showPredictions(images, predicted, p, q);
    for (const name of methods) {
      const info = hans.method(name);
      status("run-status", `${info.label}…`);
      await new Promise((r) => setTimeout(r, 0)); // let the status show
      const start = performance.now();
      const targets = q ? [p, { p, q }] : [p];
      const { maps } = await hans.explainTargets(name, state.loaded.explainable, x, targets);
      const values = await Promise.all(maps.map((m) => m.data()));
      result.timings[name] = performance.now() - start;
      result.maps[name] = { p: Array.from(values[0]), ...(q ? { contrast: Array.from(values[1]) } : {}) };
      columns.push({ title: `${info.label}: P`, maps: maps[0], signed: info.signed });
      if (q) columns.push({ title: `${info.label}: P − Q`, maps: maps[1], signed: true });
    }
    const engine = (choice) => choice ? choice.engine : state.backend;
    result.engines = {
      forward: engine(hans.forwardEngineOf(state.loaded.explainable)),
      gradient: engine(hans.gradientEngineOf(state.loaded.explainable)),
    };
    const moved = result.engines.gradient === state.backend
      ? ""
      : ` (gradients on ${result.engines.gradient}, measured faster)`;
    const labels = images.map((im, i) => `${im.name}: ${className(p[i])}${q ? ` − ${className(q[i])}` : ""}`);
    $("figure").innerHTML = columns.length ? await hans.mapsSvg(x, columns, labels) : "";
    const times = Object.entries(result.timings).map(([m, t]) => `${m} ${t.toFixed(0)} ms`).join(", ");
    status(
      "run-status",
      `${n} image(s) on ${state.backend}${moved}: ${times}. Each map is scaled by its own largest |value|, written under it.`,
    );
    return result;
  } finally {
    hans.tf.dispose([x, ...columns.map((col) => col.maps)]);
  }
}

function showPredictions(images, predicted, p, q) {
  const top = (row) =>
    row.map((v, k) => [v, k]).sort((a, b) => b[0] - a[0]).slice(0, 3)
      .map(([v, k]) => `${escape(className(k))} ${(100 * v).toFixed(1)}%`).join(", ");
  const body = images.map((im, i) => {
    const truth = state.labels?.[i] !== undefined ? escape(className(state.labels[i])) : "";
    return `<tr><td>${escape(im.name)}</td><td>${truth}</td><td>${top(predicted.probabilities[i])}</td>` +
      `<td>${escape(className(p[i]))}</td><td>${q ? escape(className(q[i])) : ""}</td></tr>`;
  }).join("");
  $("predictions").innerHTML = `<table><tr><th>image</th><th>true class</th><th>prediction (top 3)</th>` +
    `<th>P</th><th>Q</th></tr>${body}</table>`;
}

/** Lets a drop zone take files (and a folder's files, for the model). */
function dropZone(id, take) {
  const zone = $(id);
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", async (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const files = [];
    const walk = async (entry, path) => {
      if (entry.isFile) {
        const file = await new Promise((ok, fail) => entry.file(ok, fail));
        files.push(new File([file], file.name, { type: file.type }));
        Object.defineProperty(files.at(-1), "webkitRelativePath", { value: path + file.name });
      } else if (entry.isDirectory) {
        const entries = await new Promise((ok, fail) => entry.createReader().readEntries(ok, fail));
        for (const child of entries) await walk(child, `${path}${entry.name}/`);
      }
    };
    for (const item of e.dataTransfer.items) {
      const entry = item.webkitGetAsEntry?.();
      if (entry) await walk(entry, "");
    }
    await guarded(id === "model-drop" ? "model-status" : "image-status", () => take(files));
  });
}

async function guarded(statusId, fn) {
  try {
    await fn();
  } catch (e) {
    status(statusId, e.message, true);
    throw e;
  }
}

async function start() {
  const params = new URLSearchParams(location.search);
  // `?engine=active` keeps all work on the backend; by default hans moves gradient and forward-only work to
  // wasm where a probe measures it faster.
  if (params.get("engine")) hans.setForwardEnginePolicy(params.get("engine"));
  const info = await hans.startBackend({
    backend: params.get("backend") ?? "auto",
    kernels: params.get("kernels") ?? "auto",
  });
  state.backend = info.backend;
  status("backend-status", `backend: ${info.backend}${info.adapter !== "none" ? ` (${info.adapter})` : ""}`);
  const samples = await (await fetch("samples/samples.json")).json();
  await modelFromUrl("model/model.json", samples.classNames);
  const files = await Promise.all(samples.images.map(async (s) => {
    const blob = await (await fetch(`samples/${s.file}`)).blob();
    return new File([blob], s.file, { type: "image/png" });
  }));
  await setImages(files, samples.images.map((s) => s.label));
  dropZone("model-drop", modelFromFiles);
  dropZone("image-drop", (files) => setImages(files));
  $("model-files").addEventListener(
    "change",
    (e) => guarded("model-status", () => modelFromFiles(e.target.files)),
  );
  $("image-files").addEventListener(
    "change",
    (e) => guarded("image-status", () => setImages(e.target.files)),
  );
  $("model-load").addEventListener(
    "click",
    () => guarded("model-status", () => modelFromUrl($("model-url").value)),
  );
  $("run").addEventListener("click", () => guarded("run-status", () => run()));
  if ("serviceWorker" in navigator && params.get("offline") !== "no") {
    navigator.serviceWorker.register("sw.js").catch(() => {}); // offline use once loaded; optional
  }
  return info;
}

const ready = start();
ready.catch((e) => status("model-status", e.message, true));
globalThis.hansPage = { ready, run, state, hans };
