/**
 * Random ids through the Web Crypto API, which Node (19+), Bun, Deno and browsers all have as `globalThis.crypto`;
 * `node:crypto` would tie core to Node.
 */

/** A random (v4) UUID, e.g. `"3b241101-e2bb-4255-8caf-4136c566a962"`. */
export const randomUUID = (): string => globalThis.crypto.randomUUID()
