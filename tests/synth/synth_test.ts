import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { encode as gpt2Encode } from "gpt-3-encoder";
import { getLlama, type Llama, LlamaLogLevel } from "node-llama-cpp";
import { readGguf } from "../../lib/gguf/reader.ts";
import { PRESETS, SYNTH_DTYPES, writeSyntheticModel } from "../../lib/synth/synth.ts";
import { Xoshiro128 } from "../../lib/synth/_prng.ts";
import { quantizeQ4_0, quantizeQ8_0 } from "../../lib/synth/_quant.ts";
import { buildVocab, TokenType } from "../../lib/synth/_tokenizer.ts";
import { testModel } from "../_models.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** First id that is not a GPT-2 word piece: `<|endoftext|>`, then control and padding tokens. */
const FIRST_SPECIAL = 50256;

let llamaPromise: Promise<Llama> | undefined;
function llama(): Promise<Llama> {
  llamaPromise ??= getLlama({
    gpu: false,
    build: "never",
    skipDownload: true,
    progressLogs: false,
    logLevel: LlamaLogLevel.error,
  });
  return llamaPromise;
}

async function sha256(path: string): Promise<string> {
  return createHash("sha256").update(await Deno.readFile(path)).digest("hex");
}

const native = { sanitizeOps: false, sanitizeResources: false };

for (const preset of ["llama-tiny", "lfm2-tiny"] as const) {
  Deno.test({
    name:
      `\`writeSyntheticModel()\` ${preset} loads in node-llama-cpp in every dtype and generates word pieces`,
    ...native,
    async fn() {
      const lib = await llama();
      for (const dtype of SYNTH_DTYPES) {
        const path = await testModel(preset, dtype);
        const model = await lib.loadModel({ modelPath: path });
        try {
          const context = await model.createContext({ contextSize: 256, threads: 1 });
          const tokens: number[] = [];
          for await (
            const token of context.getSequence().evaluate(model.tokenize("The weather today"), {
              temperature: 0.8,
              seed: 1,
            })
          ) {
            tokens.push(token);
            if (tokens.length === 32) break;
          }
          await context.dispose();
          assert.equal(tokens.length, 32, dtype);
          const special = tokens.filter((t) => t >= FIRST_SPECIAL);
          assert.deepEqual(special, [], `${dtype}: generated control or padding tokens`);
          assert.ok(new Set(tokens).size >= 4, `${dtype}: ${tokens.join(",")}`);
        } finally {
          await model.dispose();
        }
      }
    },
  });
}

Deno.test({
  name: "control and padding tokens get a negligible share of the next-token probability",
  ...native,
  async fn() {
    const model = await (await llama()).loadModel({ modelPath: await testModel("lfm2-tiny") });
    try {
      const context = await model.createContext({ contextSize: 256, threads: 1 });
      const sampling = { temperature: 1, topK: 0, topP: 1, minP: 0, seed: 2 };
      let steps = 0;
      for await (
        const { probabilities } of context.getSequence().evaluateWithMetadata(
          model.tokenize("The weather today"),
          { probabilities: true },
          sampling,
        )
      ) {
        assert.equal(probabilities.size, 65536);
        let special = 0;
        for (const [token, p] of probabilities) if (token >= FIRST_SPECIAL) special += p;
        assert.ok(special < 1e-4, `step ${steps}: ${special}`);
        if (++steps === 16) break;
      }
      await context.dispose();
    } finally {
      await model.dispose();
    }
  },
});

Deno.test({
  name: "`readGguf()` parameter count and tensor bytes match node-llama-cpp for synthetic models",
  ...native,
  async fn() {
    const lib = await llama();
    for (const preset of ["llama-tiny", "lfm2-tiny"] as const) {
      for (const dtype of ["f16", "q4_0"] as const) {
        const path = await testModel(preset, dtype);
        const info = await readGguf(path);
        const model = await lib.loadModel({ modelPath: path });
        try {
          assert.equal(info.parameterCount, model.fileInsights.totalParameters);
          assert.equal(info.tensorBytes, model.size);
          assert.equal(info.contextLength, model.trainContextSize);
        } finally {
          await model.dispose();
        }
      }
    }
  },
});

Deno.test({
  name: "tokenization is GPT-2's and `detokenize(tokenize(s))` round-trips ASCII and UTF-8",
  ...native,
  async fn() {
    const model = await (await llama()).loadModel({ modelPath: await testModel("lfm2-tiny") });
    try {
      for (
        const text of [
          "Hello, world! It's 2024: count 1 2 3.",
          "naïve café 東京 🚀",
          "  leading spaces\n\ttabs and\r\nnewlines  ",
          "Ünïcödé — “quotes” ½ ∑ 😀👍🏽 عربى",
        ]
      ) {
        const tokens = model.tokenize(text);
        assert.deepEqual(tokens, gpt2Encode(text), text);
        assert.equal(model.detokenize(tokens), text);
      }
      assert.deepEqual(model.tokenize("<|im_start|>", true), [50258]);
      assert.equal(model.tokens.bos, 50257);
      assert.equal(model.tokens.eos, 50259);
      assert.ok(model.isEogToken(model.tokens.eos ?? undefined));
    } finally {
      await model.dispose();
    }
  },
});

Deno.test("`writeSyntheticModel()` is deterministic: same seed same bytes, other seed other bytes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = await writeSyntheticModel(join(dir, "a.gguf"), {
      preset: "lfm2-tiny",
      dtype: "q4_0",
      seed: 7,
    });
    const b = await writeSyntheticModel(join(dir, "b.gguf"), {
      preset: "lfm2-tiny",
      dtype: "q4_0",
      seed: 7,
    });
    const c = await writeSyntheticModel(join(dir, "c.gguf"), {
      preset: "lfm2-tiny",
      dtype: "q4_0",
      seed: 8,
    });
    assert.equal(await sha256(a.path), await sha256(b.path));
    assert.notEqual(await sha256(a.path), await sha256(c.path));
    assert.equal(a.bytes, c.bytes);
    assert.equal(a.parameters, 2_148_896);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`writeSyntheticModel()` marks the file synthetic and records preset, dtype and seed", async () => {
  const info = await readGguf(await testModel("lfm2-tiny", "q8_0", 0));
  assert.equal(info.synthetic, true);
  assert.deepEqual(info.metadata["tokentrace.synthetic"], { type: "bool", value: true });
  assert.deepEqual(info.metadata["tokentrace.preset"], { type: "string", value: "lfm2-tiny" });
  assert.deepEqual(info.metadata["tokentrace.dtype"], { type: "string", value: "q8_0" });
  assert.deepEqual(info.metadata["tokentrace.seed"], { type: "uint32", value: 0 });
  assert.equal(info.name, "tokentrace synthetic lfm2-tiny");
  assert.deepEqual(info.layerKinds, ["shortconv", "attention", "shortconv", "attention"]);
  const types = new Map(info.tensors.map((t) => [t.name, t.dtype]));
  assert.equal(types.get("blk.0.shortconv.conv.weight"), "F32");
  assert.equal(types.get("token_embd_norm.weight"), "F32");
  assert.equal(types.get("blk.1.attn_q.weight"), "Q8_0");
});

Deno.test("`writeSyntheticModel()` rejects an unknown preset, dtype or seed", async () => {
  await assert.rejects(
    // @ts-expect-error: testing a bad preset
    writeSyntheticModel("x.gguf", { preset: "gpt-5" }),
    new RangeError(
      'Cannot write a synthetic model: preset must be one of lfm2-350m, lfm2-700m, lfm2-1.2b, lfm2-small, lfm2-tiny, llama-tiny, found "gpt-5"',
    ),
  );
  await assert.rejects(
    // @ts-expect-error: testing a bad dtype
    writeSyntheticModel("x.gguf", { dtype: "q5_k" }),
    new RangeError(
      'Cannot write a synthetic model: dtype must be one of f32, f16, q8_0, q4_0, q4_k_m, q6_k, found "q5_k"',
    ),
  );
  await assert.rejects(
    writeSyntheticModel("x.gguf", { seed: -1 }),
    new RangeError(
      "Cannot write a synthetic model: seed must be an integer from 0 to 4294967295, found -1",
    ),
  );
});

Deno.test("`buildVocab()` pads GPT-2's vocabulary with control and unused tokens", async () => {
  const vocab = await buildVocab(PRESETS["lfm2-350m"].vocabSize);
  assert.equal(vocab.tokens.length, 65536);
  assert.equal(vocab.merges.length, 50000);
  assert.equal(vocab.normalCount, FIRST_SPECIAL);
  assert.deepEqual(vocab.tokens.slice(50256, 50261), [
    "<|endoftext|>",
    "<|startoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|pad_0|>",
  ]);
  assert.deepEqual([...vocab.types.slice(50255, 50261)], [
    TokenType.NORMAL,
    TokenType.CONTROL,
    TokenType.CONTROL,
    TokenType.CONTROL,
    TokenType.CONTROL,
    TokenType.UNUSED,
  ]);
  assert.equal(new Set(vocab.tokens).size, vocab.tokens.length);
  await assert.rejects(
    buildVocab(50000),
    new RangeError(
      "Cannot build a vocabulary: size must be an integer of at least 50260, found 50000",
    ),
  );
});

// Expected bytes from ggml's own quantize_row_q8_0_ref / quantize_row_q4_0_ref (ggml-quants.c
// of the llama.cpp source bundled with node-llama-cpp 3.21.1, compiled with gcc) on the same
// five blocks: zeros, exact q8 ties, exact q4 ties, mixed values, and values whose f16 scale
// underflows to a subnormal.
const QUANT_INPUT = new Float32Array([
  ...Array.from({ length: 32 }, () => 0),
  ...Array.from({ length: 32 }, (_, j) => (j - 16) * 127 / 16),
  ...Array.from({ length: 32 }, (_, j) => j - 16),
  ...Array.from(
    { length: 32 },
    (_, j) => [0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.001, -7.25, 3.0, 0.3][j % 10]! * (1 + j / 7),
  ),
  ...Array.from({ length: 32 }, (_, j) => (j - 15.5) * 1e-5),
]);
const GGML_Q8_0 =
  "00000000000000000000000000000000000000000000000000000000000000000000003c81899199a1a9b1b9c0c8d0d8e0e8f0f8000810182028303840474f575f676f77083081899199a1a9b1b9c0c8d0d8e0e8f0f8000810182028303840474f575f676f77703402fe07f80ef100cc170204fb0ff11be400a6270407f916e928d7008136060af614008189919aa2aab2bac3cbd3dbe3ecf4fc040c141d252d353d464e565e666f777f";
const GGML_Q4_0 =
  "008088888888888888888888888888888888f04b809191a2a2b3b3c4c4d5d5e6e6f7f7f80040809191a2a2b3b3c4c4d5d5e6e6f7f7f867448828a88889879875b9588808b9879a764501809191a2a2b3b3c4c4d5d5e6e6f7f7f8";

Deno.test("`Xoshiro128.fillNormal()` is seeded and gives mean 0 and the requested spread", () => {
  const a = new Float32Array(1 << 16);
  const b = new Float32Array(1 << 16);
  new Xoshiro128(42).fillNormal(a, 0.02);
  new Xoshiro128(42).fillNormal(b, 0.02);
  assert.deepEqual(a, b);
  new Xoshiro128(43).fillNormal(b, 0.02);
  assert.notDeepEqual(a, b);
  let sum = 0, sq = 0, within1 = 0;
  for (const x of a) {
    sum += x;
    sq += x * x;
    if (Math.abs(x) < 0.02) within1++;
  }
  const mean = sum / a.length;
  const sd = Math.sqrt(sq / a.length - mean * mean);
  assert.ok(Math.abs(mean) < 0.0005, `mean ${mean}`);
  assert.ok(Math.abs(sd - 0.02) < 0.0005, `sd ${sd}`);
  assert.ok(Math.abs(within1 / a.length - 0.6827) < 0.01, `within 1 sd ${within1 / a.length}`);
});

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("`quantizeQ8_0()` and `quantizeQ4_0()` match ggml's reference quantizers bit for bit", () => {
  const q8 = new Uint8Array(5 * 34);
  quantizeQ8_0(QUANT_INPUT, q8);
  assert.equal(hex(q8), GGML_Q8_0);
  const q4 = new Uint8Array(5 * 18);
  quantizeQ4_0(QUANT_INPUT, q4);
  assert.equal(hex(q4), GGML_Q4_0);
});

async function synthCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "lib/cli.ts", "synth", ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

Deno.test("`tokentrace synth` rejects bad input with one line and exit 2, writing nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = join(dir, "m.gguf");
    const cases: [string[], string][] = [
      [["--preset", "gpt-5"], "Cannot parse --preset: expected one of"],
      [["--dtype", "q5_k"], "Cannot parse --dtype: expected one of f32, f16, q8_0, q4_0"],
      [["--sed", "1"], "Cannot parse arguments: unknown option --sed (did you mean --seed?)"],
      [["--seed", "-3"], "Cannot parse --seed: expected an integer >= 0"],
      [["--out", "/dev/null/x.gguf"], 'Cannot write synthetic model to "/dev/null/x.gguf"'],
    ];
    for (const [args, message] of cases) {
      const r = await synthCli([
        "--preset",
        "llama-tiny",
        ...(args[0] === "--out" ? [] : ["--out", out]),
        ...args,
      ]);
      assert.equal(r.code, 2, args.join(" "));
      assert.equal(r.stdout, "");
      assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
      assert.ok(r.stderr.startsWith(message), r.stderr);
    }
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`tokentrace synth` writes the model and prints path, size, parameters and seconds", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = join(dir, "sub", "m.gguf");
    const r = await synthCli(["--preset", "llama-tiny", "--dtype", "f16", "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const { size } = await Deno.stat(out);
    assert.match(r.stdout, new RegExp(`wrote ${out}\n`));
    assert.match(r.stdout, new RegExp(`size +${size.toLocaleString("en-US")} bytes`));
    assert.match(r.stdout, /parameters +1,659,168\n/);
    assert.match(r.stdout, /seconds +\d+\.\d\d\n/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
