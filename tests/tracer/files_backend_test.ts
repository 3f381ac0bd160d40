// The tracer on files users have (llama-quantize's K- and IQ-quants), with a backend that is
// not there, and with a long prefill reported batch by batch.

import assert from "node:assert/strict";
import { BackendError } from "../../lib/tracer/backend.ts";
import { openSession } from "../../lib/tracer/tracer.ts";
import { testModel } from "../_models.ts";
import { llamaQuantized } from "../gguf/_quantized.ts";

const native = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "`openSession()` refuses gpu metal and vulkan here with a BackendError, then opens on cpu",
  ...native,
  async fn() {
    const model = await testModel("lfm2-tiny");
    // This machine (Linux x64, no GPU): node-llama-cpp loads its CPU binary for "metal" and
    // has no binary for "vulkan".
    await assert.rejects(
      openSession(model, { gpu: "metal", threads: 1 }),
      (error) =>
        error instanceof BackendError && error.requested === "metal" && error.loaded === "cpu" &&
        error.message ===
          'Cannot open session with gpu "metal": node-llama-cpp loaded the cpu backend on this machine; use gpu "auto" or "cpu"',
    );
    // The process now runs the CPU binding (one per process): vulkan is refused by it.
    await assert.rejects(
      openSession(model, { gpu: "vulkan", threads: 1 }),
      (error) =>
        error instanceof BackendError && error.requested === "vulkan" && error.loaded === "cpu",
    );
    const session = await openSession(model, { gpu: "cpu", threads: 1 });
    try {
      assert.equal(session.info.backend, "cpu");
      assert.equal(session.info.gpu_requested, "cpu");
    } finally {
      await session.close();
    }
  },
});

// lfm2-small's tied embedding (Q6_K in these mixes) holds most of its bytes.
for (const [fileType, dominant] of [["Q4_K_M", "Q6_K"], ["Q6_K", "Q6_K"], ["IQ4_XS", "Q6_K"]]) {
  Deno.test({
    name:
      `\`openSession()\` on llama-quantize's ${fileType} records model_quantization ${fileType} and traces`,
    ...native,
    async fn() {
      const session = await openSession(await llamaQuantized("lfm2-small", fileType!), {
        gpu: "cpu",
        threads: 1,
        contextSize: 256,
      });
      try {
        const info = session.info;
        assert.equal(info.model_quantization, fileType);
        assert.equal(info.model_dominant_type, dominant);
        const shares = info.model_type_shares.split(",").map((pair) => pair.split(":"));
        assert.equal(shares[0]![0], dominant);
        const sum = shares.reduce((a, [, share]) => a + Number(share), 0);
        assert.ok(Math.abs(sum - 1) < 1e-3, info.model_type_shares);
        const run = await session.trace("Count 1 to 10", { maxTokens: 4, mode: "raw" });
        assert.ok(run.summary.output_tokens >= 1);
      } finally {
        await session.close();
      }
    },
  });
}

Deno.test({
  name: "`countPromptTokens()` refuses gpu vulkan with a BackendError in a fresh process",
  ...native,
  async fn() {
    // A fresh process: node-llama-cpp has no vulkan binary here.
    const code = `
      import { countPromptTokens } from "./lib/tracer/tracer.ts";
      import { BackendError } from "./lib/tracer/backend.ts";
      try {
        await countPromptTokens(Deno.args[0], [{ text: "hi" }], { gpu: "vulkan" });
      } catch (error) {
        if (error instanceof BackendError) {
          console.log(error.loaded + " | " + error.message);
          Deno.exit(0);
        }
        throw error;
      }
      Deno.exit(1);`;
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", code, await testModel("lfm2-tiny")],
      cwd: new URL("../../", import.meta.url),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(run.stdout).trim();
    assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
    assert.equal(
      text,
      'none | Cannot count prompt tokens with gpu "vulkan": node-llama-cpp has no llama.cpp binary for it on this machine; use gpu "auto" or "cpu"',
    );
  },
});

Deno.test({
  name: "`TraceOptions.onPrefillBatch` reports every prefill batch but the last, in order",
  ...native,
  async fn() {
    const session = await openSession(await testModel("lfm2-small"), {
      gpu: "cpu",
      threads: 1,
      contextSize: 8192,
    });
    try {
      const reports: [number, number, number][] = [];
      const run = await session.trace("Count 1 to 10", {
        mode: "raw",
        depth: 4000,
        maxTokens: 2,
        onPrefillBatch: (done, total, ms) => reports.push([done, total, ms]),
      });
      const input = run.summary.depth_tokens + run.summary.prompt_tokens;
      assert.deepEqual(
        reports.map(([done, total]) => [done, total]),
        Array.from({ length: Math.ceil(input / 512) - 1 }, (_, i) => [512 * (i + 1), input]),
      );
      for (let i = 1; i < reports.length; i++) assert.ok(reports[i]![2] > reports[i - 1]![2]);
      assert.ok(reports.at(-1)![2] < run.summary.prefill_ms!);
      // Without the callback: no reports, same token counts.
      const plain = await session.trace("Count 1 to 10", { mode: "raw", depth: 600, maxTokens: 1 });
      assert.equal(plain.summary.depth_tokens, 600);
    } finally {
      await session.close();
    }
  },
});
