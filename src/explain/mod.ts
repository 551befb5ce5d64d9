/**
 * Saliency methods with one signature, their targets, and the registry.
 * @module
 */
export * from "./target.ts";
export * from "./explainable_model.ts";
export * from "./gradient.ts";
export * from "./gradient_input.ts";
export * from "./smoothgrad.ts";
export * from "./integrated_gradients.ts";
export * from "./grad_cam.ts";
export * from "./occlusion.ts";
export * from "./smoothgrad_sq.ts";
export * from "./vargrad.ts";
export * from "./graph.ts";
export * from "./graph_layers.ts";
export * from "./graph_graphdef.ts";
export * from "./guided_backprop.ts";
export * from "./guided_grad_cam.ts";
export * from "./lrp.ts";
export * from "./lrp_epsilon.ts";
export * from "./lrp_alpha_beta.ts";
export * from "./rise.ts";
export * from "./activations.ts";
export * from "./registry.ts";
