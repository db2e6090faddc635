/**
 * `@letta-pipeline/core`: Letta chat turns as typed Effect streams. Platform-neutral: the clients take an
 * `HttpClient` and a `Socket.WebSocketConstructor` from the context; the Node wiring is `@letta-pipeline/core/node`.
 *
 * @since 0.1.0
 */
export * as AppServerClient from "./AppServerClient.js"
export * as ChatStream from "./ChatStream.js"
export * as EnvConfig from "./EnvConfig.js"
export * as JsonText from "./JsonText.js"
export * as LettaBackend from "./LettaBackend.js"
export * as LettaCheck from "./LettaCheck.js"
export * as LettaClient from "./LettaClient.js"
export * as LettaConfig from "./LettaConfig.js"
export * as LettaRuns from "./LettaRuns.js"
export * as LettaError from "./LettaError.js"
export * as LettaIdentities from "./LettaIdentities.js"
export * as LettaSchema from "./LettaSchema.js"
export * as OpenWebUITask from "./OpenWebUITask.js"
export * as PipeRequest from "./PipeRequest.js"
export * as Pipeline from "./Pipeline.js"
export * as PipelineHooks from "./PipelineHooks.js"
export * as SchemaText from "./SchemaText.js"
export * as StreamEvent from "./StreamEvent.js"
export * as StreamStage from "./StreamStage.js"
export * as Ticker from "./Ticker.js"
