// A fresh emulator per end-to-end test, serving the built demo page, with
// fault injection on.
import { startEmulator as start } from "../../support/emulator.mjs";
import { WWW_DIST } from "./paths.mjs";

/** @param {string[]} extraArgs  e.g. ["--token-ttl-seconds", "2"] */
export const startEmulator = (extraArgs = []) => start(["--www", WWW_DIST, "--faults", ...extraArgs]);
