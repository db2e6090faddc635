/**
 * The `letta-pipeline` command tree.
 *
 * @since 0.1.0
 */
import { Command, HelpDoc, Usage } from "@effect/cli"
import { agents } from "./commands/agents.js"
import { chat } from "./commands/chat.js"
import { doctor } from "./commands/doctor.js"
import { emulator } from "./commands/emulator.js"
import { serve } from "./commands/serve.js"
import { subcommandUsages, users } from "./commands/users.js"

const commands = [chat, agents, users, serve, emulator, doctor] as const

/** @category commands */
export const root = Command.make("letta-pipeline").pipe(
  Command.withDescription("Talk to Letta agents from the terminal, or serve them over HTTP"),
  Command.withSubcommands(commands)
)

/** @category commands */
export const run = Command.run(root, { name: "letta-pipeline", version: "0.1.0" })

const usageOf = <Name extends string, R, E, A>(command: Command.Command<Name, R, E, A>) => ({
  names: [...Command.getNames(command)],
  usage: HelpDoc.toAnsiText(Usage.getHelp(Command.getUsage(command)))
})
const usages = [
  usageOf(chat),
  usageOf(agents),
  // a command with subcommands: the options of all of them
  { names: [...Command.getNames(users)], usage: subcommandUsages.map((usage) => HelpDoc.toAnsiText(Usage.getHelp(usage))).join("\n") },
  usageOf(serve),
  usageOf(emulator),
  usageOf(doctor)
]

/** Options of every command (@effect/cli's own). */
const builtIn = ["--help", "--version", "--wizard", "--completions", "--log-level"]

/**
 * The first `--option` of `argv` (after the node and script paths) that its command does not have, read from the
 * command's usage. @effect/cli would take it for the message, or report the next word instead of it.
 *
 * @category commands
 */
export const unknownOption = (argv: ReadonlyArray<string>): { readonly command: string; readonly option: string } | undefined => {
  const [name, ...rest] = argv.slice(2)
  const command = usages.find((candidate) => candidate.names.includes(name ?? ""))
  if (name === undefined || command === undefined) return undefined
  const known = new Set([...builtIn, ...(command.usage.match(/--[a-z][a-z-]*/g) ?? [])])
  const end = rest.indexOf("--")
  const option = (end === -1 ? rest : rest.slice(0, end)).map((word) => word.split("=")[0] ?? word).find((word) =>
    word.startsWith("--") && word !== "--" && !known.has(word)
  )
  return option === undefined ? undefined : { command: name, option }
}

/** @effect/cli's help names each option's type in words that say nothing ("A user-defined piece of text."). */
export const withoutTypeWords = (help: string): string =>
  help.replace(/\n[ \t]*A user-defined piece of text( that is confidential)?\.[ \t]*\n\n/g, "\n")
