// Traces and writes runs into a dataset until it is killed: `dataset_test.ts` runs it as a
// subprocess and sends SIGKILL mid-session. Prints "wrote <order>" after each finished run.
// Usage: deno run -A tests/_dataset_child.ts <dataset dir> <model.gguf>

import { DatasetWriter, openSession } from "../../mod.ts";

const [dir, model] = Deno.args;
if (dir === undefined || model === undefined) {
  throw new TypeError("Usage: _dataset_child.ts <dataset dir> <model.gguf>");
}
const session = await openSession(model, { threads: 1, gpu: "cpu" });
const writer = await DatasetWriter.create(dir, session.info, { suite: "kill-test" });
for (let order = 0;; order++) {
  const run = await session.trace("Count 1 to 10", { mode: "raw", maxTokens: 40 });
  await writer.writeRun(
    { ...run.summary, order_index: order, repetition: order, warmup: false },
    run.tokens,
  );
  console.log(`wrote ${order}`);
}
