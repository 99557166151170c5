// The emulator for the fault tests: fault injection on, replies paced at
// 1 ms a chunk so a fault can land mid-reply.
import { startEmulator as start } from "../../support/emulator.mjs";

export { ROOT } from "../../support/emulator.mjs";

/** @param {string[]} extraArgs */
export const startEmulator = (extraArgs = []) => start(["--faults", "--chunk-delay-ms", "1", ...extraArgs]);
