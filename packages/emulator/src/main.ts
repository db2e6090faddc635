#!/usr/bin/env node
/**
 * `letta-emulator`: the emulated Letta server on `EMULATOR_PORT` (default 8283).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Layer } from "effect"
import * as Emulator from "./Emulator.js"

Layer.launch(Emulator.announce.pipe(Layer.provide(Emulator.layerConfig))).pipe(NodeRuntime.runMain)
