/**
 * The tasks' command lines, declared once: per task its flags (type, default, --quick default, range or
 * choices, help line), from which src/cli/args.ts generates the parser, the checks and --help; and the method
 * settings a task's default and --quick runs use.
 * @module
 */
import { DEFAULT_PRIOR_WEIGHT } from "../counterfactual/optimize.ts";
import { METHODS } from "../explain/registry.ts";
import { DEFAULT_CONTRAST_POWER } from "../model/contrast_norm.ts";
import { DEFAULT_STD_FLOOR } from "../model/standardize.ts";
import type { FlagSpec, TaskSpec } from "./args.ts";

/** Most images a size flag takes (`--train-size`, `--test-size`): more than any data set hans reads holds. */
const MAX_IMAGES = 10_000_000;

/** `--backend`, the same in every task that runs a model. */
const BACKEND_FLAG = {
  type: "string",
  metavar: "NAME",
  choices: ["webgpu", "cpu"],
  defaultText: "webgpu when an adapter exists",
  help: "webgpu or cpu",
} as const satisfies FlagSpec;

/** `--engine`, the same in every task that explains a model: where forward-only work and gradients run. */
const ENGINE_FLAG = {
  type: "string",
  metavar: "E",
  default: "auto",
  choices: ["auto", "active", "wasm"],
  help:
    "where forward-only work (predictions, occlusion, RISE, curves) and gradient methods run: auto (the " +
    "faster of --backend and tfjs's wasm, timed per model, so two runs can choose differently), active (all " +
    "on --backend) or wasm",
} as const satisfies FlagSpec;

/** The command line of `deno task bench`. */
export const BENCH_FLAGS = {
  name: "bench",
  summary:
    `Runs fixed workloads on the default CNN (28x28x1) with the hans path and the plain tfjs path in one
process and prints both rates and their ratio (hans / reference). Writes results/bench-<UTC time>/bench.json.`,
  flags: {
    quick: { type: "boolean", help: "smaller workloads (for tests)" },
    real: {
      type: "boolean",
      help: "also the real-size workloads R1–R6 of the PyTorch + Captum peer on a MobileNetV2 (224×224×3, " +
        "1,000 classes): prediction, gradient, Integrated Gradients, Grad-CAM, occlusion, SmoothGrad",
    },
    backend: BACKEND_FLAG,
    json: { type: "boolean", help: "print only the JSON" },
    profile: {
      type: "boolean",
      help:
        "instead: the adapter's ceiling (best matrix product and copy) and each workload kernel by kernel " +
        "(profile.json)",
    },
    out: { type: "string", metavar: "DIR", help: "results folder (must not exist)" },
    help: { type: "boolean", help: "this text" },
  },
} as const satisfies TaskSpec<Record<string, FlagSpec>>;

/** The command line of `deno task pretrain`. */
export const PRETRAIN_FLAGS = {
  name: "pretrain",
  summary:
    `Trains the default CNN on a data set and saves it (TF.js LayersModel) with pretrain.json: the command,
seed, sizes and test accuracy. The shipped model in fixtures/fashion-mnist-cnn/ was made with the defaults.`,
  flags: {
    dataset: {
      type: "string",
      metavar: "SPEC",
      default: "fashion-mnist",
      help: "fashion-mnist | mnist | cifar10:<path-or-url> | folder:<path>",
    },
    epochs: {
      type: "number",
      default: 4,
      min: 1,
      max: 1000,
      integer: true,
      help: "passes over the training data",
    },
    "train-size": {
      type: "number",
      min: 10,
      max: MAX_IMAGES,
      integer: true,
      defaultText: "all",
      help: "training images",
    },
    "test-size": {
      type: "number",
      min: 10,
      max: MAX_IMAGES,
      integer: true,
      defaultText: "all",
      help: "test images",
    },
    backend: BACKEND_FLAG,
    seed: { type: "number", default: 1, min: 0, max: 2 ** 31, integer: true, help: "seed" },
    out: {
      type: "string",
      metavar: "DIR",
      defaultText: "fixtures/<dataset>-cnn",
      help: "where to write (must not exist)",
    },
    help: { type: "boolean", help: "this text" },
  },
} as const satisfies TaskSpec<Record<string, FlagSpec>>;

/** The command line of `deno task counterfactual`. */
export const COUNTERFACTUAL_FLAGS = {
  name: "counterfactual",
  summary:
    `For a classifier's most confident mistakes, finds the smallest change (L1 + L2 penalty, searched per
image) that makes it predict the true class, and shows what had to change. The transfer rate says how often an
independently trained model of the same architecture also puts the counterfactual in the true class (high: a
meaningful edit; low: adversarial noise), and how well |x′ − x| follows the contrastive saliency map "predicted
rather than true" (Spearman ρ; against another mistake's map as a baseline). By default the search runs twice,
without and with an autoencoder prior (γ·‖AE(x′) − x′‖₂² added to the loss, the autoencoder trained here).`,
  flags: {
    model: {
      type: "string",
      metavar: "PATH|URL",
      defaultText: "the shipped Fashion-MNIST CNN",
      help: "TF.js model",
    },
    dataset: {
      type: "string",
      metavar: "SPEC",
      default: "fashion-mnist",
      help: "labelled data; its seeded test split is searched for mistakes",
    },
    "transfer-model": {
      type: "string",
      metavar: "P",
      defaultText: "one trained here, same CNN, seed + 1, 1 epoch on 12,000 training images of --dataset",
      help: "the independent model",
    },
    "input-range": {
      type: "string",
      metavar: "LO,HI",
      default: "0,1",
      help: "pixel range the model expects",
    },
    examples: {
      type: "number",
      default: 64,
      quick: 8,
      min: 1,
      max: 10000,
      integer: true,
      help: "mistakes optimized",
    },
    steps: {
      type: "number",
      default: 150,
      quick: 40,
      min: 1,
      max: 100000,
      integer: true,
      help: "Adam steps per round",
    },
    rounds: {
      type: "number",
      default: 3,
      quick: 2,
      min: 1,
      max: 20,
      integer: true,
      help: "rounds of the λ1 search",
    },
    "test-size": {
      type: "number",
      default: 2000,
      quick: 300,
      min: 10,
      max: MAX_IMAGES,
      integer: true,
      help: "test images searched for mistakes",
    },
    prior: { type: "boolean", help: "also run with the autoencoder prior (the default)" },
    "no-prior": {
      type: "boolean",
      help: "run without the prior only (no autoencoder is trained; withPrior is null)",
    },
    "prior-weight": {
      type: "number",
      metavar: "G",
      min: 0,
      max: 1e6,
      defaultText: String(DEFAULT_PRIOR_WEIGHT),
      help: "γ, the weight of the squared reconstruction error",
    },
    backend: BACKEND_FLAG,
    engine: ENGINE_FLAG,
    seed: {
      type: "number",
      default: 1,
      min: 0,
      max: 2 ** 31,
      integer: true,
      help: "seed of the split and the models trained here",
    },
    out: { type: "string", metavar: "DIR", help: "results folder (must not exist)" },
    quick: { type: "boolean", help: "a small run for tests" },
    help: { type: "boolean", help: "this text" },
  },
} as const satisfies TaskSpec<Record<string, FlagSpec>>;

/** The command line of `deno task contrastive`. */
export const CONTRASTIVE_FLAGS = {
  name: "contrastive",
  summary:
    `Runs a classifier over labelled test images, studies its most confident mistakes, and explains "why P
rather than Q" with every attribution method that can run on the model: maps for the predicted class P, the true
class Q, their difference, and the contrastive map (logit P − logit Q). Ranks the methods by how often removing
the top pixels of their contrastive map turns the prediction into the true class, against random maps.`,
  flags: {
    model: {
      type: "string",
      metavar: "PATH|URL",
      defaultText: "the shipped Fashion-MNIST CNN",
      help: "a TF.js LayersModel or GraphModel (model.json, its folder, or an http(s) URL)",
    },
    dataset: {
      type: "string",
      metavar: "SPEC",
      defaultText: "the shipped model's own test split of fashion-mnist",
      help: "labelled test data",
    },
    images: {
      type: "string",
      metavar: "DIR",
      help: "test images instead, one sub-folder per true class (needs --labels); PNG or JPEG of any size, " +
        "centre-cropped to the model's aspect and resized to its input",
    },
    labels: {
      type: "string",
      metavar: "FILE",
      help: "class names, one per line, in the model's output order",
    },
    "input-range": {
      type: "string",
      metavar: "LO,HI",
      default: "0,1",
      help: "pixel range the model expects",
    },
    "test-size": {
      type: "number",
      min: 10,
      max: MAX_IMAGES,
      integer: true,
      quick: 1000,
      defaultText: "all",
      help: "test images to run",
    },
    examples: {
      type: "number",
      default: 64,
      quick: 16,
      min: 1,
      max: 100000,
      integer: true,
      help: "misclassified images studied",
    },
    methods: {
      type: "string",
      metavar: "LIST",
      defaultText:
        "every attribution method that can run on the model; the report lists the others with the reason",
      help: "comma-separated methods",
    },
    layer: {
      type: "string",
      metavar: "NAME",
      defaultText:
        "the last convolutional activation: the last 4-D layer of at least 2×2 the logits depend on",
      help: "layer Grad-CAM, Guided Grad-CAM and activations read (a wrong name lists the candidates)",
    },
    budget: {
      type: "number",
      default: 15,
      min: 0.1,
      max: 100000,
      help:
        "minutes the run may take: each method's time per image is estimated first, expensive methods study " +
        "fewer mistakes and one that cannot afford one is left out (metrics.json's methodsLeftOut says why)",
    },
    backend: BACKEND_FLAG,
    engine: ENGINE_FLAG,
    seed: {
      type: "number",
      min: 0,
      max: 2 ** 31,
      integer: true,
      defaultText: "the shipped model's, else 1",
      help: "seed",
    },
    out: { type: "string", metavar: "DIR", help: "results folder (must not exist)" },
    quick: { type: "boolean", help: "fewer images and lighter method settings" },
    help: { type: "boolean", help: "this text" },
  },
} as const satisfies TaskSpec<Record<string, FlagSpec>>;

/** The command line of `deno task clever-hans`. */
export const CLEVER_HANS_FLAGS = {
  name: "clever-hans",
  summary:
    `Stamps shortcut artifacts into chosen classes, trains a small CNN that learns them, and proves with
reliance tests and saliency maps that it cheats. Writes results/clever-hans-<UTC time>/ (or --out).`,
  flags: {
    dataset: {
      type: "string",
      metavar: "SPEC",
      default: "mnist",
      help: "mnist | fashion-mnist | cifar10:<path-or-url> | folder:<path>",
    },
    "train-size": {
      type: "number",
      default: 6000,
      quick: 800,
      min: 10,
      max: MAX_IMAGES,
      integer: true,
      help: "training images, a seeded sample",
    },
    "test-size": {
      type: "number",
      default: 2000,
      quick: 400,
      min: 10,
      max: MAX_IMAGES,
      integer: true,
      help: "test images",
    },
    epochs: {
      type: "number",
      default: 4,
      quick: 1,
      min: 1,
      max: 1000,
      integer: true,
      help: "passes over the training data",
    },
    seed: {
      type: "number",
      default: 1,
      min: 0,
      max: 2 ** 31,
      integer: true,
      help: "seed of every random choice",
    },
    shortcut: {
      type: "string",
      metavar: "C=NAME",
      multiple: true,
      defaultText: "0=square 1=timestamp 3=gradient 8=watermark",
      help: "class C gets artifact NAME: square, timestamp, watermark, gradient; repeat per class; 'none' " +
        "trains a clean model",
    },
    rate: {
      type: "string",
      metavar: "C=SHARE",
      multiple: true,
      defaultText: "1",
      help: "share of class C's training images stamped, 0..1",
    },
    maps: {
      type: "number",
      default: 32,
      quick: 8,
      min: 1,
      max: 10000,
      integer: true,
      help: "stamped test images per class that get saliency maps",
    },
    methods: {
      type: "string",
      metavar: "LIST",
      defaultText: `every attribution method: ${
        METHODS.filter((m) => m.attribution).map((m) => m.name).join(",")
      }`,
      help: "comma-separated saliency methods",
    },
    "spray-method": {
      type: "string",
      metavar: "M",
      default: "gradient_input",
      help: "saliency method whose maps SpRAy clusters per class (none: skip SpRAy)",
    },
    control: { type: "boolean", help: "also train a control model with the same artifacts on every class" },
    head: {
      type: "string",
      metavar: "NAME",
      default: "flatten",
      choices: ["average", "flatten"],
      help: "flatten, or average (global average pooling before the dense layers)",
    },
    standardize: {
      type: "string",
      metavar: "KIND",
      default: "none",
      choices: ["pixel", "none"],
      help:
        "none (the CNN takes the pixels as they are) or pixel (its first layer standardizes every pixel " +
        "with the clean training images' mean and standard deviation)",
    },
    "std-floor": {
      type: "number",
      metavar: "X",
      default: DEFAULT_STD_FLOOR,
      min: 1e-6,
      max: 1,
      help: "floor under a pixel's standard deviation for --standardize pixel",
    },
    "contrast-norm": {
      type: "string",
      metavar: "P",
      default: "auto",
      help: "power in [0,1] of a contrast normalization after the first conv layer, which scales each " +
        "position's features towards unit size so a faint pattern counts more like a bold one (0: none; 1: " +
        `full); auto: ${DEFAULT_CONTRAST_POWER} when a planted artifact is faint (changes its pixels by 0.1 or ` +
        "less on average, as the watermark does), else 0",
    },
    backend: BACKEND_FLAG,
    engine: ENGINE_FLAG,
    kernels: {
      type: "string",
      metavar: "NAME",
      default: "auto",
      choices: ["auto", "hans", "tfjs"],
      help: "auto (hans's WGSL kernels on software adapters, tfjs's on GPUs), hans or tfjs",
    },
    out: { type: "string", metavar: "DIR", help: "results folder (must not exist)" },
    quick: {
      type: "boolean",
      help: "small data, one epoch, light saliency settings: for tests and a first look",
    },
    help: { type: "boolean", help: "this text" },
  },
} as const satisfies TaskSpec<Record<string, FlagSpec>>;
