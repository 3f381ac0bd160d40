// Tensor-shape checks of the validator for the architectures it knows in depth (llama and
// lfm2): the geometry the hyperparameters give, every tensor llama.cpp creates for it with its
// shape, and the comparison with the file's tensor table.

import { GGML_MAX_DIMS } from "./_types.ts";
import type { Hyperparameters, Problems } from "./_check.ts";
import { formatShape, type GgufTensorInfo } from "./reader.ts";

/** Hyperparameters the tensor shapes follow, per layer where llama.cpp allows it. */
export interface Geometry {
  embedding: number;
  layers: number;
  vocab: number;
  heads: number[];
  headsKv: number[];
  feedForward: number[];
  headDimK: number;
  headDimV: number;
  experts: number;
  convCache: number;
}

interface ExpectedTensor {
  shape: readonly number[];
  required: boolean;
}

/** The tensors llama.cpp creates for a file, in the order it creates them, with their shapes. */
class TensorPlan {
  readonly expected: Map<string, ExpectedTensor> = new Map();

  /** `present`: the names in the file's tensor table, for the tensors that come in two forms. */
  constructor(readonly present: ReadonlySet<string>) {}

  add(name: string, shape: readonly number[], required = true): void {
    this.expected.set(name, { shape, required });
  }

  // llama_model_base::create_tensor_qkv: a fused attn_qkv, or separate attn_q, attn_k, attn_v.
  qkv(blk: string, embedding: number, q: number, k: number, v: number): void {
    if (this.present.has(`${blk}.attn_qkv.weight`)) {
      this.add(`${blk}.attn_qkv.weight`, [embedding, q + k + v]);
      this.add(`${blk}.attn_qkv.bias`, [q + k + v], false);
      return;
    }
    for (const [part, rows] of [["q", q], ["k", k], ["v", v]] as const) {
      this.add(`${blk}.attn_${part}.weight`, [embedding, rows]);
      this.add(`${blk}.attn_${part}.bias`, [rows], false);
    }
  }

  /** The gated feed-forward weights of a dense layer. */
  ffn(blk: string, embedding: number, feedForward: number): void {
    this.add(`${blk}.ffn_gate.weight`, [embedding, feedForward]);
    this.add(`${blk}.ffn_up.weight`, [embedding, feedForward]);
    this.add(`${blk}.ffn_down.weight`, [feedForward, embedding]);
  }
}

function llamaTensors(g: Geometry, plan: TensorPlan): void {
  const E = g.embedding;
  plan.add("token_embd.weight", [E, g.vocab]);
  plan.add("output_norm.weight", [E]);
  plan.add("output.weight", [E, g.vocab], false);
  plan.add("rope_freqs.weight", [Math.floor(g.headDimK / 2)], false);
  for (let i = 0; i < g.layers; i++) {
    const blk = `blk.${i}`;
    const q = g.headDimK * g.heads[i]!;
    plan.qkv(blk, E, q, g.headDimK * g.headsKv[i]!, g.headDimV * g.headsKv[i]!);
    plan.add(`${blk}.attn_norm.weight`, [E]);
    plan.add(`${blk}.attn_output.weight`, [q, E]);
    plan.add(`${blk}.attn_output.bias`, [E], false);
    plan.add(`${blk}.ffn_norm.weight`, [E]);
    if (g.experts === 0) {
      const F = g.feedForward[i]!;
      plan.ffn(blk, E, F);
      plan.add(`${blk}.ffn_gate.bias`, [F], false);
      plan.add(`${blk}.ffn_up.bias`, [F], false);
      plan.add(`${blk}.ffn_down.bias`, [E], false);
    }
  }
}

function lfm2Tensors(g: Geometry, plan: TensorPlan): void {
  const E = g.embedding;
  plan.add("token_embd.weight", [E, g.vocab]);
  plan.add("token_embd_norm.weight", [E]);
  plan.add("output.weight", [E, g.vocab], false);
  for (let i = 0; i < g.layers; i++) {
    const blk = `blk.${i}`;
    plan.add(`${blk}.attn_norm.weight`, [E]);
    plan.add(`${blk}.ffn_norm.weight`, [E]);
    plan.ffn(blk, E, g.feedForward[i]!);
    if (g.headsKv[i] === 0) {
      plan.add(`${blk}.shortconv.conv.weight`, [g.convCache, E]);
      plan.add(`${blk}.shortconv.in_proj.weight`, [E, 3 * E]);
      plan.add(`${blk}.shortconv.out_proj.weight`, [E, E]);
    } else {
      plan.add(`${blk}.attn_q_norm.weight`, [g.headDimK]);
      plan.add(`${blk}.attn_k_norm.weight`, [g.headDimK]);
      plan.qkv(blk, E, E, g.headDimK * g.headsKv[i]!, g.headDimV * g.headsKv[i]!);
      plan.add(`${blk}.attn_output.weight`, [E, E]);
    }
  }
}

/**
 * The geometry the tensor shapes follow, once the hyperparameters are known to be valid:
 * head counts that divide, and no size of 0 (a tensor dimension of 0 aborts the loader in
 * `GGML_ASSERT(t_meta.ne[dim] >= 1)`).
 */
export function checkGeometry(
  hyper: Hyperparameters,
  vocab: number,
  problems: Problems,
): Geometry | undefined {
  const { arch, scalar, value, layers, heads, headsKv, feedForward } = hyper;
  if (
    layers === undefined || heads === undefined || headsKv === undefined ||
    feedForward === undefined
  ) {
    return undefined;
  }
  for (let i = 0; i < layers; i++) {
    const [h, hKv] = [heads[i]!, headsKv[i]!];
    if (h === 0) {
      problems.key(
        `${arch}.attention.head_count`,
        `is 0 for layer ${i}; architecture "${arch}" requires at least 1 head`,
      );
    } else if (arch === "llama" && hKv === 0) {
      problems.key(
        `${arch}.attention.head_count_kv`,
        `is 0 for layer ${i}; architecture "llama" requires at least 1 KV head`,
      );
    } else if (hKv !== 0 && h % hKv !== 0) {
      problems.key(
        `${arch}.attention.head_count_kv`,
        `is ${hKv} for layer ${i}; llama.cpp requires a divisor of head_count (${h})`,
      );
    } else if (feedForward[i] === 0) {
      problems.key(
        `${arch}.feed_forward_length`,
        `is 0 for layer ${i}; architecture "${arch}" requires a dense feed-forward size`,
      );
    } else {
      continue;
    }
    return undefined;
  }
  const embedding = scalar("embedding_length")!;
  const headDimK = scalar("attention.key_length") ?? Math.floor(embedding / heads[0]!);
  const headDimV = scalar("attention.value_length") ?? Math.floor(embedding / heads[0]!);
  const convCache = scalar("shortconv.l_cache") ?? 0;
  const sizes: [string, number][] = [
    ["embedding_length", embedding],
    ["attention.key_length", headDimK],
    ["attention.value_length", headDimV],
  ];
  if (arch === "lfm2") sizes.push(["shortconv.l_cache", convCache]);
  for (const [suffix, size] of sizes) {
    if (size >= 1) continue;
    if (value(suffix) !== undefined) {
      problems.key(`${arch}.${suffix}`, `is ${size}; llama.cpp requires at least 1`);
    } else {
      problems.key(
        `${arch}.attention.head_count`,
        `is ${
          heads[0]
        }, more than embedding_length (${embedding}); llama.cpp requires a head size of at least 1`,
      );
    }
    return undefined;
  }
  if (vocab === 0) {
    problems.key(
      value("vocab_size") === undefined ? "tokenizer.ggml.tokens" : `${arch}.vocab_size`,
      "holds no token; llama.cpp requires at least one",
    );
    return undefined;
  }
  if (arch === "lfm2" && headDimK * heads[0]! !== embedding) {
    // The attention graph reshapes Q [E] into [head size, heads]: a mismatch aborts at decode.
    problems.key(
      `${arch}.attention.head_count`,
      `is ${
        heads[0]
      } with head size ${headDimK}; architecture "lfm2" requires head_count × head size = embedding_length (${embedding})`,
    );
    return undefined;
  }
  const rot = scalar("rope.dimension_count");
  if (arch === "llama" && rot !== undefined && rot !== headDimK) {
    problems.key(
      `${arch}.rope.dimension_count`,
      `is ${rot}; architecture "llama" requires the head size (${headDimK})`,
    );
    return undefined;
  }
  return {
    embedding,
    layers,
    vocab,
    heads,
    headsKv,
    feedForward,
    headDimK,
    headDimV,
    experts: hyper.experts,
    convCache,
  };
}

/** Every tensor the architecture needs, with the shape the geometry gives, and no unused tensor. */
export function checkTensorShapes(
  tensors: readonly GgufTensorInfo[],
  arch: string,
  geometry: Geometry,
  problems: Problems,
): void {
  const byName = new Map(tensors.map((tensor) => [tensor.name, tensor]));
  const plan = new TensorPlan(new Set(byName.keys()));
  if (arch === "llama") llamaTensors(geometry, plan);
  else lfm2Tensors(geometry, plan);
  const { expected } = plan;
  for (const [name, { shape, required }] of expected) {
    const tensor = byName.get(name);
    if (tensor === undefined) {
      if (required) {
        problems.tensor(name, `is missing; llama.cpp requires it for architecture "${arch}"`);
      }
    } else if (!sameShape(tensor.shape, shape)) {
      problems.tensor(
        name,
        `has shape ${formatShape(tensor.shape)}; llama.cpp expects ${
          formatShape(shape)
        } for architecture "${arch}"`,
      );
    }
  }
  // Mixture-of-experts tensors are not modelled here, so unused tensors are only known without experts.
  if (geometry.experts > 0) return;
  for (const tensor of tensors) {
    if (!expected.has(tensor.name)) {
      problems.tensor(
        tensor.name,
        `is not used by architecture "${arch}"; llama.cpp refuses files with unused tensors`,
      );
    }
  }
}

// ggml pads missing trailing dimensions with 1 (llama_model_loader::check_tensor_dims).
function sameShape(found: readonly number[], expected: readonly number[]): boolean {
  for (let d = 0; d < GGML_MAX_DIMS; d++) {
    if ((found[d] ?? 1) !== (expected[d] ?? 1)) return false;
  }
  return true;
}
