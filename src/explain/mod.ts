/**
 * Saliency methods with one signature, their targets, and the registry.
 * @module
 */
export * from "./target.ts";
export * from "./model_fn.ts";
export * from "./gradient.ts";
export * from "./gradient_input.ts";
export * from "./smoothgrad.ts";
export * from "./integrated_gradients.ts";
export * from "./grad_cam.ts";
export * from "./occlusion.ts";
export * from "./registry.ts";
