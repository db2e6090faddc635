/**
 * The chat page: `GET /` answers browsers (`Accept: text/html`) with a small playground that streams from
 * `POST /v1/pipe`, and every other client with the Pipelines status `{"status": true}`. Its files live in `page/`
 * and are read once at start; `eventsource-parser` (the page's SSE parser) is served from its package. No key is needed
 * for the files: the page itself asks for `PIPELINE_API_KEY` when the API wants one.
 *
 * @since 0.1.0
 */
import { FileSystem, HttpLayerRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { createHash } from "node:crypto"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import type * as Http from "./Http.js"
import type * as Metrics from "./Metrics.js"
import * as Middleware from "./Middleware.js"
import * as PipelinesRoutes from "./PipelinesRoutes.js"
import type * as ServerConfig from "./ServerConfig.js"

/** The page's directory: `packages/server/page`, from `src/` and from `dist/` alike. */
const pageDirectory = fileURLToPath(new URL("../page/", import.meta.url))
const parserDirectory = dirname(createRequire(import.meta.url).resolve("eventsource-parser"))

/** Only the page's own origin: its script, styles, icon and the API calls; no inline code, no framing. */
const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join("; ")

interface Asset {
  readonly path: Http.Path
  readonly file: string
  readonly contentType: string
}

const javascript = "text/javascript; charset=utf-8"

const page: Asset = { path: "/", file: join(pageDirectory, "index.html"), contentType: "text/html; charset=utf-8" }

const assets: ReadonlyArray<Asset> = [
  { path: "/assets/app.js", file: join(pageDirectory, "app.js"), contentType: javascript },
  { path: "/assets/style.css", file: join(pageDirectory, "style.css"), contentType: "text/css; charset=utf-8" },
  { path: "/assets/icon.svg", file: join(pageDirectory, "icon.svg"), contentType: "image/svg+xml" },
  // stream.js imports ./index.js: both keep their names
  { path: "/assets/eventsource-parser/index.js", file: join(parserDirectory, "index.js"), contentType: javascript },
  { path: "/assets/eventsource-parser/stream.js", file: join(parserDirectory, "stream.js"), contentType: javascript }
]

/** A file as an answer: revalidated on every load (`no-cache` + ETag), so an upgraded server is seen at once. */
const serveFile = (asset: Asset, body: Uint8Array, extraHeaders: Readonly<Record<string, string>> = {}): Http.Handler => {
  const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`
  const headers = { "cache-control": "no-cache", etag, "x-content-type-options": "nosniff", ...extraHeaders }
  return Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
    request.headers["if-none-match"] === etag
      ? HttpServerResponse.empty({ status: 304, headers })
      : HttpServerResponse.uint8Array(body, { contentType: asset.contentType, headers }))
}

/** Browsers navigating to a page ask for HTML first; Open WebUI and scripts do not. */
const wantsHtml = Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
  (request.headers.accept ?? "").includes("text/html"))

/**
 * The page and its files, open to any client without the key (`Middleware.open`).
 *
 * @category layers
 */
export const layer: Layer.Layer<
  never,
  never,
  HttpLayerRouter.HttpRouter | Metrics.Metrics | ServerConfig.ServerConfig
> = HttpLayerRouter.addAll(Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const read = (asset: Asset) =>
    fs.readFile(asset.file).pipe(
      Effect.orDieWith((error) => new Error(`The chat page's file ${asset.file} cannot be read: ${error.message}`))
    )
  const pageFile = serveFile(page, yield* read(page), {
    "content-security-policy": contentSecurityPolicy,
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY"
  })
  const files = yield* Effect.forEach(assets, (asset) =>
    Effect.map(read(asset), (body) => HttpLayerRouter.route("GET", asset.path, serveFile(asset, body))))
  return [
    HttpLayerRouter.route("GET", page.path, Effect.flatMap(wantsHtml, (html) => html ? pageFile : PipelinesRoutes.status)),
    ...files
  ]
})).pipe(Layer.provide([NodeFileSystem.layer, Middleware.open.layer]))
