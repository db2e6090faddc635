/**
 * `@letta-pipeline/server`: Letta agents over OpenAI-compatible, Open WebUI Pipelines and native event-stream HTTP.
 *
 * @since 0.1.0
 */
export * as ApiError from "./ApiError.js"
export * as ChatThreads from "./ChatThreads.js"
export * as ConversationStore from "./ConversationStore.js"
export * as ChatTurn from "./ChatTurn.js"
export * as ChatUser from "./ChatUser.js"
export * as Http from "./Http.js"
export * as Metrics from "./Metrics.js"
export * as Middleware from "./Middleware.js"
export * as Models from "./Models.js"
export * as NativeRoutes from "./NativeRoutes.js"
export * as OpenAi from "./OpenAi.js"
export * as OpenAiRoutes from "./OpenAiRoutes.js"
export * as OpsRoutes from "./OpsRoutes.js"
export * as PageRoutes from "./PageRoutes.js"
export * as PipelinesRoutes from "./PipelinesRoutes.js"
export * as Server from "./Server.js"
export * as ServerConfig from "./ServerConfig.js"
export * as SseResponse from "./SseResponse.js"
export * as Telemetry from "./Telemetry.js"
export * as UserAgents from "./UserAgents.js"
export * as UserAgentStore from "./UserAgentStore.js"
export * as Valves from "./Valves.js"
