/**
 * Shortcut artifacts and the stamping plan.
 * @module
 */
export * from "./shortcut.ts";
export * from "./square.ts";
export * from "./timestamp.ts";
export * from "./watermark.ts";
export * from "./gradient.ts";
export * from "./plan.ts";
