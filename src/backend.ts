/**
 * Picks and starts the TensorFlow.js backend: WebGPU when an adapter exists (a real GPU or Mesa's software
 * one), otherwise the cpu backend with a warning. Says which adapter runs the work.
 * @module
 */
import { tf, WebGPUBackend } from "./deps.ts";
import { useHansKernels } from "./kernels/register.ts";

/** What runs the tensor work; recorded in every metrics.json. */
export interface BackendInfo {
  /** The tfjs backend name: `webgpu` or `cpu`. */
  backend: string;
  /** The adapter's description (e.g. `llvmpipe (LLVM 15.0.6, 256 bits)` or a GPU's name), or `none`. */
  adapter: string;
  /** True for a software adapter (Mesa llvmpipe/lavapipe) or the cpu backend. */
  software: boolean;
  /**
   * Whose kernels run the convolutions, pooling, dense layers and bias sums: `hans` (the hand-written WGSL
   * of `src/kernels/`, chosen on software adapters) or `tfjs` (its own, on real GPUs and the cpu backend).
   */
  kernels: "hans" | "tfjs";
}

/** Options of {@link initBackend}. */
export interface InitBackendOptions {
  /** Force a backend; by default WebGPU when an adapter exists, else cpu. */
  backend?: "webgpu" | "cpu";
  /** Print the warning about the cpu fallback (default true). */
  warn?: boolean;
  /** `auto` (default): hans's kernels on software adapters, tfjs's elsewhere; or force one. */
  kernels?: "auto" | "hans" | "tfjs";
}

let current: BackendInfo | undefined;

/**
 * Starts the backend once per process and returns what runs the work. WebGPU's device is requested with the
 * adapter's real storage-buffer limits (tfjs asks for the defaults, under which ops with 8+ inputs are wrong).
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  if (current && (!options.backend || options.backend === current.backend)) {
    if (current.backend === "webgpu" && options.kernels) {
      const kernels = pickKernels(options.kernels, current.software);
      useHansKernels(kernels === "hans");
      current = { ...current, kernels };
    }
    return current;
  }
  quietMesa();
  const adapter = options.backend === "cpu" ? null : await requestWebGpuAdapter();
  if (adapter) {
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
      const description = [info.description, info.device, info.vendor, info.architecture]
        .find((s) => s && s.length > 0) ?? "unknown adapter";
      const software = isSoftware(adapter, description);
      const kernels = pickKernels(options.kernels ?? "auto", software);
      useHansKernels(kernels === "hans");
      current = { backend: "webgpu", adapter: description, software, kernels };
      return current;
    }
  }
  if (options.warn !== false && options.backend !== "cpu") {
    console.error(
      "hans: no WebGPU adapter found, falling back to the tfjs cpu backend (about 15x slower to train). " +
        (wgpuBackends === "vulkan"
          ? "A Vulkan driver is installed but gave no adapter; DENO_WEBGPU_BACKEND=gl tries OpenGL instead"
          : "On Linux without a GPU, install Mesa's software driver: apt-get install -y mesa-vulkan-drivers"),
    );
  }
  await tf.setBackend("cpu");
  await tf.ready();
  current = { backend: "cpu", adapter: "none", software: true, kernels: "tfjs" };
  return current;
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
 * ```ts ignore
 * const before = (await webgpuErrors()).count;
 * await work();
 * const after = await webgpuErrors();
 * if (after.count > before) throw new Error(after.first.at(-1));
 * ```
 */
export async function webgpuErrors(): Promise<WebGPUErrors> {
  await new Promise((resolve) => setTimeout(resolve, 0));
  return { count: deviceErrors.count, first: deviceErrors.first.slice() };
}

/** The running backend's info (starts it if needed). */
export function backendInfo(): BackendInfo | undefined {
  return current;
}

/** Measured: hans's kernels win on Mesa's software adapter; tfjs's tiled ones are built for real GPUs. */
function pickKernels(choice: "auto" | "hans" | "tfjs", software: boolean): "hans" | "tfjs" {
  return choice === "auto" ? (software ? "hans" : "tfjs") : choice;
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
 * ```ts ignore
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
 * ```ts ignore
 * if (vulkanDriverInstalled()) console.log("WebGPU will run on Vulkan alone");
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

function isSoftware(adapter: GPUAdapter, description: string): boolean {
  const fallback = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  return fallback || /llvmpipe|lavapipe|swiftshader|software/i.test(description);
}
