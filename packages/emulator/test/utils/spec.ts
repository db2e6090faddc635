/**
 * Validation against the Letta OpenAPI document (OpenAPI 3.1 = JSON Schema 2020-12 component schemas).
 */
import { Ajv2020 } from "ajv/dist/2020.js"
import AjvFormats from "ajv-formats"
import { readFileSync } from "node:fs"

const spec: unknown = JSON.parse(readFileSync(new URL("../fixtures/letta-openapi.json", import.meta.url), "utf8"))

const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true })
// ajv-formats is CommonJS: its plugin is the module's `default`
AjvFormats.default(ajv)
ajv.addSchema(spec as object, "letta-openapi.json")

/** Errors of `value` against `#/components/schemas/<name>`; empty when it conforms. */
export const violations = (name: string, value: unknown): ReadonlyArray<string> => {
  const validate = ajv.getSchema(`letta-openapi.json#/components/schemas/${name}`)
  if (validate === undefined) throw new Error(`no schema ${name}`)
  return validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ""}`)
}
