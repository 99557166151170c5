import { defineConfig } from "@trigger.dev/sdk";

// Your project's ref ("proj_…", on the project's settings page in the
// Trigger.dev dashboard), from the environment so nothing is committed.
const project = process.env.TRIGGER_PROJECT_REF ?? "proj_set_TRIGGER_PROJECT_REF";

export default defineConfig({
  project,
  dirs: ["./src/trigger"],
  maxDuration: 3600,
});
