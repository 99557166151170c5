// Polling for a condition in Node test code, with a deadline.

/**
 * Calls `fn` (sync or async) every `every` ms until it returns a truthy value,
 * which it returns; throws after `ms` with the last value or error seen.
 */
export async function eventually(fn, what, ms = 10_000, every = 25) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const seen = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${seen})`);
    }
    await new Promise((r) => setTimeout(r, every));
  }
}
