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

function llamaTensors(g: Geometry, present: ReadonlySet<string>): Map<string, ExpectedTensor> {
  const expected = new Map<string, ExpectedTensor>();
  const add = (name: string, shape: readonly number[], required = true) =>
    expected.set(name, { shape, required });
  const E = g.embedding;
  add("token_embd.weight", [E, g.vocab]);
  add("output_norm.weight", [E]);
  add("output.weight", [E, g.vocab], false);
  add("rope_freqs.weight", [Math.floor(g.headDimK / 2)], false);
  for (let i = 0; i < g.layers; i++) {
    const blk = `blk.${i}`;
    const q = g.headDimK * g.heads[i]!;
    addQkv(add, present, i, E, q, g.headDimK * g.headsKv[i]!, g.headDimV * g.headsKv[i]!);
    add(`${blk}.attn_norm.weight`, [E]);
    add(`${blk}.attn_output.weight`, [q, E]);
    add(`${blk}.attn_output.bias`, [E], false);
    add(`${blk}.ffn_norm.weight`, [E]);
    if (g.experts === 0) {
      const F = g.feedForward[i]!;
      add(`${blk}.ffn_gate.weight`, [E, F]);
      add(`${blk}.ffn_up.weight`, [E, F]);
      add(`${blk}.ffn_down.weight`, [F, E]);
      add(`${blk}.ffn_gate.bias`, [F], false);
      add(`${blk}.ffn_up.bias`, [F], false);
      add(`${blk}.ffn_down.bias`, [E], false);
    }
  }
  return expected;
}

function lfm2Tensors(g: Geometry, present: ReadonlySet<string>): Map<string, ExpectedTensor> {
  const expected = new Map<string, ExpectedTensor>();
  const add = (name: string, shape: readonly number[], required = true) =>
    expected.set(name, { shape, required });
  const E = g.embedding;
  add("token_embd.weight", [E, g.vocab]);
  add("token_embd_norm.weight", [E]);
  add("output.weight", [E, g.vocab], false);
  for (let i = 0; i < g.layers; i++) {
    const blk = `blk.${i}`;
    const F = g.feedForward[i]!;
    add(`${blk}.attn_norm.weight`, [E]);
    add(`${blk}.ffn_norm.weight`, [E]);
    add(`${blk}.ffn_gate.weight`, [E, F]);
    add(`${blk}.ffn_up.weight`, [E, F]);
    add(`${blk}.ffn_down.weight`, [F, E]);
    if (g.headsKv[i] === 0) {
      add(`${blk}.shortconv.conv.weight`, [g.convCache, E]);
      add(`${blk}.shortconv.in_proj.weight`, [E, 3 * E]);
      add(`${blk}.shortconv.out_proj.weight`, [E, E]);
    } else {
      add(`${blk}.attn_q_norm.weight`, [g.headDimK]);
      add(`${blk}.attn_k_norm.weight`, [g.headDimK]);
      addQkv(add, present, i, E, E, g.headDimK * g.headsKv[i]!, g.headDimV * g.headsKv[i]!);
      add(`${blk}.attn_output.weight`, [E, E]);
    }
  }
  return expected;
}

// llama_model_base::create_tensor_qkv: a fused attn_qkv, or separate attn_q, attn_k, attn_v.
function addQkv(
  add: (name: string, shape: readonly number[], required?: boolean) => void,
  present: ReadonlySet<string>,
  layer: number,
  embedding: number,
  q: number,
  k: number,
  v: number,
): void {
  const blk = `blk.${layer}`;
  if (present.has(`${blk}.attn_qkv.weight`)) {
    add(`${blk}.attn_qkv.weight`, [embedding, q + k + v]);
    add(`${blk}.attn_qkv.bias`, [q + k + v], false);
    return;
  }
  for (const [part, rows] of [["q", q], ["k", k], ["v", v]] as const) {
    add(`${blk}.attn_${part}.weight`, [embedding, rows]);
    add(`${blk}.attn_${part}.bias`, [rows], false);
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
  const present = new Set(byName.keys());
  const expected = arch === "llama"
    ? llamaTensors(geometry, present)
    : lfm2Tensors(geometry, present);
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
