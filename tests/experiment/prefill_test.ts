import assert from "node:assert/strict";
import { ExperimentError } from "../../lib/experiment/inputs.ts";
import { type PrefillEstimate, runSuite } from "../../lib/experiment/run.ts";
import { testModel } from "../_models.ts";

const SUITE = {
  name: "deep",
  prompts: [{ id: "count", class: "simple", text: "Count 1 to 10", maxTokens: 2 }],
  repetitions: 1,
  warmup: 0,
};

Deno.test({
  name: "`runSuite()` asks confirmLongPrefill with a probe's estimate and writes nothing on no",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const model = await testModel("lfm2-small");
      const asked: PrefillEstimate[] = [];
      await assert.rejects(
        runSuite(model, SUITE, {
          out: `${dir}/traces`,
          gpu: "cpu",
          threads: 1,
          depth: [5000],
          longPrefillSeconds: 0.001,
          confirmLongPrefill: (estimate) => {
            asked.push(estimate);
            return false;
          },
        }),
        (error) =>
          error instanceof ExperimentError &&
          /^Cannot run the plan: its prefill alone would take about \d+ minutes \(5\d{3} input tokens at \d+ tokens\/s, measured by a probe\)/
            .test(error.message),
      );
      assert.equal(asked.length, 1);
      const [estimate] = asked;
      assert.ok(estimate!.tokens > 5000 && estimate!.tokensPerSecond > 0);
      assert.ok(Math.abs(estimate!.seconds - estimate!.tokens / estimate!.tokensPerSecond) < 1e-9);
      assert.equal(await Deno.stat(`${dir}/traces`).then(() => true, () => false), false);

      // A short plan (under 8 batches of input) runs no probe and is never asked about.
      const result = await runSuite(model, SUITE, {
        out: `${dir}/traces`,
        gpu: "cpu",
        threads: 1,
        longPrefillSeconds: 0.001,
        confirmLongPrefill: () => {
          throw new Error("asked about a short plan");
        },
      });
      assert.equal(result.status, "complete");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
