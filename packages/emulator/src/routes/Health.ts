/**
 * `GET /v1/health/`: open, unless a fault is armed for the request (see `Middleware.guardWhenArmed`).
 *
 * @since 0.1.0
 */
import { HttpLayerRouter } from "@effect/platform"
import { Effect } from "effect"
import * as Http from "../internal/http.js"
import * as Wire from "../Wire.js"

/** @category layers */
export const layer = HttpLayerRouter.add(
  "GET",
  "/health/",
  Effect.sync(() => Wire.jsonResponse({ version: "0.16.8", status: "ok" }))
)

/** `/health` redirects to `/health/`. @category layers */
export const redirects = Http.redirectSlash("GET", "/health")
