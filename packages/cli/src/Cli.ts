/**
 * The `letta-pipeline` command tree.
 *
 * @since 0.1.0
 */
import { Command } from "@effect/cli"
import { agents } from "./commands/agents.js"
import { chat } from "./commands/chat.js"
import { doctor } from "./commands/doctor.js"
import { emulator } from "./commands/emulator.js"
import { serve } from "./commands/serve.js"

/** @category commands */
export const root = Command.make("letta-pipeline").pipe(
  Command.withDescription("Talk to Letta agents from the terminal, or serve them over HTTP"),
  Command.withSubcommands([chat, agents, serve, emulator, doctor])
)

/** @category commands */
export const run = Command.run(root, { name: "letta-pipeline", version: "0.1.0" })
