/**
 * `@letta-pipeline/server`: the HTTP face of the pipeline.
 *
 * @since 0.1.0
 */
export * as EventStreamResponse from "./EventStreamResponse.js"
export * as Routes from "./Routes.js"
export * as Server from "./Server.js"
