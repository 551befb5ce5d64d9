/**
 * Picks and starts the TensorFlow.js backend: WebGPU when an adapter exists (a real GPU or Mesa's software
 * one), otherwise the cpu backend with a warning; in a browser, WebGPU on a real adapter, else wasm (see
 * {@link InitBackendOptions}). Says which adapter runs the work, and whether it is a software one.
 * @module
 */
import { importWasmBackend, tf, WebGPUBackend } from "./deps.ts";
import { useHansKernels } from "./kernels/register.ts";
import { HansError } from "./errors.ts";
import { keptMemory, memoryBudget, PROCESS_ALLOWANCE, residentBytes } from "./limits.ts";

/** What runs the tensor work; recorded in every metrics.json. */
export interface BackendInfo {
  /** The tfjs backend name: `webgpu`, `cpu`, or in a browser also `wasm` or `webgl`. */
  backend: string;
  /**
   * The adapter's description (e.g. `llvmpipe (LLVM 15.0.6, 256 bits)` or a GPU's name; a software adapter
   * that does not say so in its first field gets all its fields and `(software)`, as Chrome's SwiftShader:
   * `google swiftshader (software)`), or `none` off WebGPU.
   */
  adapter: string;
  /**
   * True for a software adapter (Mesa llvmpipe/lavapipe, SwiftShader, any adapter flagged as a fallback) and
   * for the CPU backends (cpu, wasm).
   */
  software: boolean;
  /**
   * Whose kernels run the convolutions, pooling, dense layers and bias sums: `hans` (the hand-written WGSL
   * of `src/kernels/`, chosen on Mesa's software adapter) or `tfjs` (its own, elsewhere).
   */
  kernels: "hans" | "tfjs";
}

/** Options of {@link initBackend}. */
export interface InitBackendOptions {
  /**
   * Force a backend; by default WebGPU when a usable adapter exists, else `fallback`. `wasm` and `webgl` are
   * for browsers (webgl does not start in Deno).
   */
  backend?: "webgpu" | "cpu" | "wasm" | "webgl";
  /** What runs without a usable WebGPU adapter: `cpu` (the default) or `wasm` (what a browser wants). */
  fallback?: "cpu" | "wasm";
  /**
   * Whether a software adapter counts as usable when no backend is forced (default true: on Mesa's, hans's
   * kernels beat the CPU backends). A browser passes false: there wasm is faster than SwiftShader's WebGPU.
   */
  softwareWebgpu?: boolean;
  /**
   * The folder (a URL ending in `/`) the wasm backend's `.wasm` files are served from, in a browser; Deno
   * reads them from its npm cache.
   */
  wasmFolder?: string;
  /** Print the warning about the fallback (default true). */
  warn?: boolean;
  /** `auto` (default): hans's kernels on Mesa's software adapter, tfjs's elsewhere; or force one. */
  kernels?: "auto" | "hans" | "tfjs";
}

let current: BackendInfo | undefined;
/** Whether the WebGPU adapter is one hans's kernels were measured to win on (Mesa's software one). */
let mesaAdapter = false;
/** The process's resident bytes when the backend first started. */
let startResident: number | undefined;
/** What `keepMemory` had recorded when the backend started. */
let keptAtStart = 0;

/**
 * Starts the backend once per process and returns what runs the work. WebGPU's device is requested with the
 * adapter's real storage-buffer limits (tfjs asks for the defaults, under which ops with 8+ inputs are wrong).
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  if (current && (!options.backend || options.backend === current.backend)) {
    if (current.backend === "webgpu" && options.kernels) {
      const kernels = pickKernels(options.kernels, mesaAdapter);
      useHansKernels(kernels === "hans");
      current = { ...current, kernels };
    }
    return current;
  }
  quietMesa();
  if (startResident === undefined) {
    startResident = residentBytes();
    keptAtStart = keptMemory(); // already in the resident size
  }
  // Before any use of the wasm backend (forward_engine.ts may try it beside WebGPU), so that it finds its files.
  if (options.wasmFolder !== undefined) await importWasmBackend(options.wasmFolder);
  if (options.backend === "wasm" || options.backend === "webgl") {
    current = await startCpuSide(options.backend);
    return current;
  }
  let adapter = options.backend === "cpu" ? null : await requestWebGpuAdapter();
  const named = adapter ? adapterName(adapter) : undefined;
  if (named?.software && options.softwareWebgpu === false && options.backend !== "webgpu") adapter = null;
  if (adapter && named) {
    const info = adapter.info;
    tf.removeBackend("webgpu");
    tf.registerBackend("webgpu", async () => {
      const limits = adapter.limits;
      const device = await adapter.requestDevice({
        requiredLimits: {
          maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
          maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
          maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
          maxBufferSize: limits.maxBufferSize,
          maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
          maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
          maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
        },
      });
      watchDevice(device);
      return new WebGPUBackend(device, info);
    }, 3);
    // Measured on lavapipe: a separate im2col pass is faster than tfjs's fused conv, and its gradients stay right.
    tf.env().set("WEBGPU_CONV_SEPARATE_IM2COL_SHADER", true);
    if (await tf.setBackend("webgpu")) {
      await tf.ready();
      mesaAdapter = named.mesa;
      const kernels = pickKernels(options.kernels ?? "auto", mesaAdapter);
      useHansKernels(kernels === "hans");
      capBufferPool(poolCap());
      current = { backend: "webgpu", adapter: named.description, software: named.software, kernels };
      return current;
    }
  }
  if (options.fallback === "wasm") {
    current = await startCpuSide("wasm");
    return current;
  }
  if (options.warn !== false && options.backend !== "cpu") {
    console.error(
      "hans: no WebGPU adapter found, falling back to the tfjs cpu backend (about 15x slower to train). " +
        (typeof Deno === "undefined"
          ? "This browser offers no WebGPU adapter"
          : wgpuBackends === "vulkan"
          ? "A Vulkan driver is installed but gave no adapter; DENO_WEBGPU_BACKEND=gl tries OpenGL instead"
          : "On Linux without a GPU, install Mesa's software driver: apt-get install -y mesa-vulkan-drivers"),
    );
  }
  await tf.setBackend("cpu");
  await tf.ready();
  current = { backend: "cpu", adapter: "none", software: true, kernels: "tfjs" };
  return current;
}

/** Starts tfjs's wasm or webgl backend; a HansError when it does not start. */
async function startCpuSide(name: "wasm" | "webgl"): Promise<BackendInfo> {
  if (name === "wasm") await importWasmBackend();
  let started = false;
  try {
    started = await tf.setBackend(name);
  } catch {
    // tfjs logs why; the message below says what to do
  }
  if (!started) {
    throw new HansError(
      `the ${name} backend did not start here` +
        (name === "webgl" ? " (it needs a browser with WebGL)" : "") + "; choose another backend.",
    );
  }
  await tf.ready();
  // webgl runs on the GPU (or on SwiftShader's GL); tfjs does not say which, so it is not named here.
  return { backend: name, adapter: "none", software: name === "wasm", kernels: "tfjs" };
}
/** What the WebGPU device reported on its own, as {@linkcode webgpuErrors} gives it. */
export interface WebGPUErrors {
  /** How many errors were reported in this process. */
  count: number;
  /** The first line of each of the first 100, oldest first. */
  first: readonly string[];
}

const deviceErrors = { count: 0, first: [] as string[] };

/**
 * Keeps what the WebGPU device reports on its own: a shader that does not compile, a validation error, a lost
 * device. tfjs raises none of them; its op then returns zeros or stale values, so a run would go on with
 * wrong numbers. The first one is also printed, as it happens.
 */
function watchDevice(device: GPUDevice): void {
  const keep = (message: string) => {
    const line = message.split("\n").find((l) => l.trim().length > 0)?.trim() ?? "no message";
    if (deviceErrors.count++ === 0) console.error(`hans: WebGPU reported an error: ${line}`);
    if (deviceErrors.first.length < 100) deviceErrors.first.push(line);
  };
  device.addEventListener("uncapturederror", (e) => keep((e as GPUUncapturedErrorEvent).error.message));
  device.lost.then((lost) => lost.reason !== "destroyed" && keep(`device lost: ${lost.message}`));
}

/**
 * The errors the WebGPU device has reported in this process, once the reports in flight have arrived (Deno
 * delivers them a task later). `withResultsDir` keeps no results of a run during which one was reported.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "./deps.ts";
 *
 * await tf.setBackend("cpu");
 * const before = (await webgpuErrors()).count;
 * const sum = tf.tidy(() => tf.ones([4]).sum().dataSync()[0]); // the work to check
 * const after = await webgpuErrors();
 * if (after.count > before) throw new Error(after.first.at(-1)); // off WebGPU, never
 * assert.equal(sum, 4);
 * ```
 */
export async function webgpuErrors(): Promise<WebGPUErrors> {
  await new Promise((resolve) => setTimeout(resolve, 0));
  return { count: deviceErrors.count, first: deviceErrors.first.slice() };
}

/**
 * Throws a HansError when the WebGPU device reported an error since `since` (a `count` of
 * {@linkcode webgpuErrors}) while `during` ran: tfjs goes on with zeros after a failed dispatch, so whatever
 * was computed meanwhile is wrong. Call it after reading back the results (the reports of work in flight
 * arrive once it is done).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "./deps.ts";
 *
 * await tf.setBackend("cpu");
 * const { count } = await webgpuErrors();
 * const product = tf.matMul(tf.eye(2), tf.ones([2, 2]));
 * const values = await product.data();
 * await checkWebgpuErrors(count, "the product"); // a HansError had the device reported an error
 * assert.deepEqual(Array.from(values), [1, 1, 1, 1]);
 * product.dispose();
 * ```
 */
export async function checkWebgpuErrors(since: number, during: string, consequence = ""): Promise<void> {
  const errors = await webgpuErrors();
  if (errors.count <= since) return;
  throw new HansError(
    `WebGPU reported ${errors.count - since} error(s) during ${during} (${
      errors.first[since] ?? errors.first.at(-1)
    }), so its numbers cannot be trusted${consequence}; --backend cpu runs without WebGPU.`,
  );
}

/** The running backend's info (starts it if needed). */
export function backendInfo(): BackendInfo | undefined {
  return current;
}

/** The cap of tfjs's buffer pool: an eighth of the memory budget (`HANS_MAX_MEMORY_MB`). */
export function poolCap(): number {
  return Math.floor(memoryBudget().bytes / 8);
}

/**
 * Measured: hans's kernels win on Mesa's software adapter; tfjs's tiled ones are built for real GPUs, and on
 * Chrome's SwiftShader hans's took over 200 s for one gradient where tfjs's take 0.6 s.
 */
function pickKernels(choice: "auto" | "hans" | "tfjs", mesa: boolean): "hans" | "tfjs" {
  return choice === "auto" ? (mesa ? "hans" : "tfjs") : choice;
}

/** Mesa prints an error line on every run when XDG_RUNTIME_DIR is unset; any existing folder quiets it. */
function quietMesa(): void {
  try {
    if (Deno.build.os === "linux" && !Deno.env.get("XDG_RUNTIME_DIR")) {
      Deno.env.set("XDG_RUNTIME_DIR", "/tmp");
    }
  } catch {
    // Without --allow-env the harmless line stays.
  }
}

/**
 * Requests the WebGPU adapter, on Linux from Vulkan alone where a Vulkan driver is installed
 * ({@linkcode preferVulkan}); null without one. Deno creates its WebGPU instance at the first request, so
 * everything that asks for an adapter goes through here.
 *
 * @example
 * ```ts
 * const adapter = await requestWebGpuAdapter();
 * console.log(adapter?.info.description ?? "no WebGPU");
 * ```
 */
export async function requestWebGpuAdapter(): Promise<GPUAdapter | null> {
  if (typeof navigator === "undefined" || !("gpu" in navigator)) return null;
  wgpuBackends ??= preferVulkan();
  try {
    return await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch {
    return null;
  }
}

/** The graphics APIs Deno's WebGPU may use in this process (`DENO_WEBGPU_BACKEND`; `all` when unset). */
let wgpuBackends: string | undefined;

/** Where the Vulkan loader finds installed drivers (their ICD manifests) on Linux. */
const VULKAN_DRIVER_DIRS = ["/usr/share/vulkan/icd.d", "/usr/local/share/vulkan/icd.d", "/etc/vulkan/icd.d"];

/**
 * Restricts Deno's WebGPU to Vulkan (`DENO_WEBGPU_BACKEND=vulkan`) on Linux when a Vulkan driver is
 * installed and the user has not chosen: wgpu picks the Vulkan adapter anyway, but with every API enabled it
 * also loads OpenGL (libEGL, Mesa's GL driver), and at exit `deno test` then aborted in library finalizers
 * racing Deno's exiting threads: 6 of 90 runs of one test file under load, against 0 of 110 with Vulkan alone
 * (docs/hardening.md). Without read access to the driver folders or `--allow-env=DENO_WEBGPU_BACKEND`,
 * nothing changes (and no permission is asked for). Returns the APIs in effect.
 */
function preferVulkan(): string {
  if (typeof Deno === "undefined") return "all"; // a browser chooses for itself
  const env = Deno.permissions.querySync({ name: "env", variable: "DENO_WEBGPU_BACKEND" });
  if (env.state !== "granted") return "all"; // asks no question
  const chosen = Deno.env.get("DENO_WEBGPU_BACKEND");
  if (chosen) return chosen;
  if (!vulkanDriverInstalled()) return "all";
  Deno.env.set("DENO_WEBGPU_BACKEND", "vulkan");
  return "vulkan";
}

/**
 * Whether a Vulkan driver is installed (Linux): a driver manifest in a folder the Vulkan loader reads and this
 * process may read. False elsewhere, and without read access (no permission is asked for).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * if (vulkanDriverInstalled()) console.log("WebGPU will run on Vulkan alone");
 * if (Deno.build.os !== "linux") assert.equal(vulkanDriverInstalled(), false);
 * ```
 */
export function vulkanDriverInstalled(): boolean {
  if (Deno.build.os !== "linux") return false;
  return VULKAN_DRIVER_DIRS.some((path) =>
    Deno.permissions.querySync({ name: "read", path }).state === "granted" && hasDriverManifest(path)
  );
}

function hasDriverManifest(dir: string): boolean {
  try {
    for (const entry of Deno.readDirSync(dir)) if (entry.name.endsWith(".json")) return true;
  } catch {
    // a missing or unreadable folder holds no driver
  }
  return false;
}

/** What an adapter is called, and whether it is a software one. */
export interface AdapterName {
  /** Its description (see {@link BackendInfo.adapter}). */
  description: string;
  /** A software adapter: flagged as a fallback, or Mesa's llvmpipe/lavapipe, or SwiftShader (vendor `google`). */
  software: boolean;
  /** Mesa's software adapter (llvmpipe/lavapipe), where hans's kernels are the faster ones. */
  mesa: boolean;
}

/**
 * Names a WebGPU adapter from its `info` and says whether it is a software one: the fallback flag (Chrome
 * sets it on `adapter.info`, older browsers on the adapter), or a name that says so (Mesa's llvmpipe or
 * lavapipe, SwiftShader, whose vendor is `google`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const swiftShader = { info: { vendor: "google", architecture: "swiftshader", device: "", description: "" } };
 * assert.deepEqual(adapterName(swiftShader as unknown as GPUAdapter), {
 *   description: "google swiftshader (software)",
 *   software: true,
 *   mesa: false,
 * });
 * ```
 */
export function adapterName(adapter: GPUAdapter): AdapterName {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const fields = [info.description, info.device, info.vendor, info.architecture]
    .filter((s): s is string => typeof s === "string" && s.length > 0);
  const all = fields.join(" ");
  const flagged = info.isFallbackAdapter === true ||
    (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  const mesa = /llvmpipe|lavapipe/i.test(all);
  const software = flagged || mesa || /swiftshader|software/i.test(all) || info.vendor === "google";
  const first = fields[0] ?? "unknown adapter";
  const description = software && !/llvmpipe|lavapipe|swiftshader|software/i.test(first)
    ? `${[...new Set(fields)].join(" ") || "unknown adapter"} (software)`
    : first;
  return { description, software, mesa };
}

/** The largest buffers the active backend can hold and bind, in bytes. */
export interface DeviceLimits {
  /** Largest storage buffer one shader may bind (WebGPU `maxStorageBufferBindingSize`). */
  maxBindingBytes: number;
  /** Largest buffer (WebGPU `maxBufferSize`). */
  maxBufferBytes: number;
  /** Where the limits come from: `webgpu` (the device's own) or the CPU backends' array limits. */
  source: string;
}

/** The WebGPU device behind tfjs's webgpu backend, when it is the active one. */
function activeDevice(): GPUDevice | undefined {
  if (tf.getBackend() !== "webgpu") return undefined;
  return (tf.backend() as unknown as { device?: GPUDevice }).device;
}

/**
 * The largest buffers the active backend can bind and hold: on WebGPU the device's limits (128 MB per binding
 * on Mesa's lavapipe), on the cpu and wasm backends 2 GiB − 1 (the largest typed array tfjs makes there).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "./deps.ts";
 *
 * await tf.setBackend("cpu");
 * const { maxBindingBytes, source } = deviceLimits();
 * console.log(`one tensor may have at most ${maxBindingBytes / 4} float32 values`);
 * assert.deepEqual([maxBindingBytes, source], [2 ** 31 - 1, "cpu"]); // the largest typed array tfjs makes
 * ```
 */
export function deviceLimits(): DeviceLimits {
  const device = activeDevice();
  const limits = device
    ? {
      maxBindingBytes: device.limits.maxStorageBufferBindingSize,
      maxBufferBytes: device.limits.maxBufferSize,
      source: "webgpu",
    }
    : { maxBindingBytes: 2 ** 31 - 1, maxBufferBytes: 2 ** 31 - 1, source: tf.getBackend() };
  return limitsOverride ? { ...limits, ...limitsOverride, source: "override" } : limits;
}

let limitsOverride: Partial<Pick<DeviceLimits, "maxBindingBytes" | "maxBufferBytes">> | undefined;

/**
 * Makes {@linkcode deviceLimits} report smaller limits than the device has (`undefined` restores the real
 * ones): for tests of the batch planner, and to rehearse on a small machine what a device with smaller buffers
 * would need.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * overrideDeviceLimits({ maxBindingBytes: 64 * 1024 }); // plan as if one binding took 64 KB at most
 * assert.deepEqual([deviceLimits().maxBindingBytes, deviceLimits().source], [64 * 1024, "override"]);
 * overrideDeviceLimits(undefined);
 * assert.notEqual(deviceLimits().source, "override");
 * ```
 */
export function overrideDeviceLimits(
  limits: Partial<Pick<DeviceLimits, "maxBindingBytes" | "maxBufferBytes">> | undefined,
): void {
  limitsOverride = limits;
}

/** tfjs's WebGPU buffer pool (its `BufferManager`): buffers freed by disposed tensors wait there for reuse. */
interface BufferPool {
  freeBuffers: Map<string, GPUBuffer[]>;
  numFreeBuffers: number;
  numBytesAllocated: number;
  numBytesUsed: number;
  releaseBuffer(buffer: GPUBuffer, reuse?: boolean): void;
  /** Set once the pool is capped ({@link capBufferPool}). */
  hansCap?: number;
}

function bufferPool(): BufferPool | undefined {
  if (!activeDevice()) return undefined;
  const pool = (tf.backend() as unknown as { bufferManager?: BufferPool }).bufferManager;
  return pool && pool.freeBuffers instanceof Map ? pool : undefined;
}

/**
 * Caps tfjs's WebGPU buffer pool at `bytes`: a buffer freed while the pool holds that much is destroyed instead
 * of kept. tfjs keys the pool by exact size and never frees it, so one forward pass of a 224×224 MobileNetV2
 * leaves all of its about 90 MB of activations per image there (each layer's buffers have a size of their own);
 * with the cap, the run holds its live tensors plus at most `bytes`. Small models stay under any sensible cap,
 * so their passes keep reusing every buffer. Returns false off WebGPU.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "./deps.ts";
 *
 * await tf.setBackend("cpu");
 * const capped = capBufferPool(256 * 2 ** 20); // on WebGPU: keep at most 256 MB of freed buffers
 * assert.equal(capped, false); // the cpu backend has no pool
 * ```
 */
export function capBufferPool(bytes: number): boolean {
  const pool = bufferPool();
  if (!pool) return false;
  if (pool.hansCap === undefined) {
    const release = pool.releaseBuffer.bind(pool);
    pool.releaseBuffer = (buffer: GPUBuffer, reuse = true) => {
      const free = pool.numBytesAllocated - pool.numBytesUsed;
      release(buffer, reuse && free + buffer.size <= pool.hansCap!);
    };
  }
  pool.hansCap = bytes;
  return true;
}

/**
 * Destroys the buffers waiting in tfjs's WebGPU pool (those no tensor uses) and returns their bytes: the memory
 * planner calls it before a pass the pool would otherwise crowd out, as at 299×299, where one backward pass
 * needs more than the pool's cap and the pool's buffers have other sizes. Returns 0 off WebGPU.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "./deps.ts";
 *
 * await tf.setBackend("cpu");
 * const freed = releasePooledBuffers(); // bytes of the WebGPU buffers destroyed
 * assert.equal(freed, 0); // the cpu backend has no pool
 * ```
 */
export function releasePooledBuffers(): number {
  const pool = bufferPool();
  if (!pool) return 0;
  let freed = 0;
  // The keys stay (with empty lists): tfjs's releaseBuffer drops every buffer once the map is empty.
  for (const buffers of pool.freeBuffers.values()) {
    for (const buffer of buffers.splice(0)) {
      freed += buffer.size;
      buffer.destroy();
    }
  }
  pool.numBytesAllocated -= freed;
  pool.numFreeBuffers = 0;
  return freed;
}

/**
 * What the process holds besides the next pass, as the memory planner counts it: its size when the backend
 * started, an allowance for compiled shaders and the allocator, the data sets loaded since (`keepMemory` in
 * `src/limits.ts`), live tensors, tfjs's WebGPU buffer pool, and
 * the heap of tfjs's wasm backend when another backend is active (a WebAssembly heap never shrinks). The
 * resident size itself is no measure: memory freed to the allocator is reused by the next pass but stays
 * resident.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "./deps.ts";
 *
 * await tf.setBackend("cpu");
 * const held = heldBytes();
 * console.log(`held: ${(held / 2 ** 20).toFixed(0)} MB`);
 * assert.ok(held > 0); // the process itself, at least
 * ```
 */
export function heldBytes(): number {
  const wasm = tf.getBackend() === "wasm"
    ? 0
    : (tf.engine().registry["wasm"] as unknown as { wasm?: { HEAPU8?: Uint8Array } } | undefined)?.wasm
      ?.HEAPU8
      ?.byteLength ?? 0;
  return (startResident ?? residentBytes()) + PROCESS_ALLOWANCE + Math.max(0, keptMemory() - keptAtStart) +
    tf.memory().numBytes + pooledBytes() + wasm;
}

/** Bytes in tfjs's WebGPU pool that no tensor uses (0 off WebGPU). */
export function pooledBytes(): number {
  const pool = bufferPool();
  return pool ? pool.numBytesAllocated - pool.numBytesUsed : 0;
}
