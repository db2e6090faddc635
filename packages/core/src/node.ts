/**
 * `@letta-pipeline/core/node`: the Node wiring of core. Needs the optional peer dependency `@effect/platform-node`;
 * nothing else in core loads it.
 *
 * @since 0.1.0
 */
export * as HoldingHttpServer from "./node/HoldingHttpServer.js"
export * as HttpTransport from "./node/HttpTransport.js"
