// Token text after a run: each generated token's piece and its own byte length, computed from
// the detokenizer with the preceding tokens as context, so that characters split over several
// tokens (multi-byte UTF-8) come out whole. Runs once per run, after timing has ended.

/** Detokenizes `tokens` as text that follows `context` (the tokens before them). */
export type Detokenize = (tokens: readonly number[], context: readonly number[]) => string;

/** The pieces of a run's tokens. */
export interface Pieces {
  /** Text each token completes; "" for a token that ends inside a multi-byte character. */
  piece: string[];
  /** UTF-8 byte length of each token's own bytes. */
  pieceBytes: Int32Array;
}

const REPLACEMENT = "\uFFFD";
// A UTF-8 character has at most 4 bytes and each token holds at least one byte, so a character
// split over tokens is complete after at most 4 of them.
const MAX_SPLIT = 4;
// Tokens of context given to the detokenizer (leading-space rules look back a few tokens).
const CONTEXT_TOKENS = 8;

const encoder = new TextEncoder();

/** UTF-8 byte length of a string. */
export function utf8Length(text: string): number {
  return encoder.encode(text).length;
}

/**
 * Splits generated tokens into pieces. Tokens are grouped until the group's text no longer ends
 * in U+FFFD (an incomplete character), at most 4 tokens; the group's text is the last token's
 * piece and the others get "". A token's byte length is the UTF-8 length of its text when that
 * text is clean; inside a group, or where the text holds U+FFFD (bytes that are not valid UTF-8),
 * it is `vocabBytes(token)`, the byte length the vocabulary gives.
 */
export function tokenPieces(
  tokens: ArrayLike<number>,
  prefix: readonly number[],
  detokenize: Detokenize,
  vocabBytes: (token: number) => number,
): Pieces {
  const n = tokens.length;
  const all = [...prefix, ...Array.from(tokens)];
  const piece = new Array<string>(n).fill("");
  const pieceBytes = new Int32Array(n);
  let start = 0;
  for (let i = 0; i < n; i++) {
    const at = prefix.length + start;
    const group = all.slice(at, prefix.length + i + 1);
    const text = detokenize(group, all.slice(Math.max(0, at - CONTEXT_TOKENS), at));
    const incomplete = text.endsWith(REPLACEMENT);
    if (incomplete && group.length < MAX_SPLIT && i < n - 1) continue;
    piece[i] = text;
    if (group.length === 1) {
      pieceBytes[i] = text.includes(REPLACEMENT) ? vocabBytes(group[0]!) : utf8Length(text);
    } else {
      let partial = 0;
      for (let k = start; k < i; k++) {
        pieceBytes[k] = vocabBytes(group[k - start]!);
        partial += pieceBytes[k]!;
      }
      pieceBytes[i] = text.includes(REPLACEMENT)
        ? vocabBytes(group[group.length - 1]!)
        : utf8Length(text) - partial;
    }
    start = i + 1;
  }
  return { piece, pieceBytes };
}

/**
 * Byte length of each vocabulary entry as the detokenizer emits it (special tokens off), from the
 * GGUF vocabulary: byte-level BPE (`gpt2`) spells each byte as one character; SentencePiece
 * (`llama`) spells single bytes `<0xNN>` and spaces `▁`. Control tokens emit nothing. Other
 * tokenizer models fall back to the UTF-8 length of the entry's text.
 */
export function vocabByteLengths(
  tokenizerModel: string,
  vocab: readonly string[],
  tokenTypes: readonly number[],
): Int32Array {
  const CONTROL = 3;
  const lengths = new Int32Array(vocab.length);
  for (let id = 0; id < vocab.length; id++) {
    const text = vocab[id]!;
    if (tokenTypes[id] === CONTROL) lengths[id] = 0;
    else if (tokenizerModel === "gpt2") lengths[id] = [...text].length;
    else if (tokenizerModel === "llama" && /^<0x[0-9A-Fa-f]{2}>$/.test(text)) lengths[id] = 1;
    else if (tokenizerModel === "llama") lengths[id] = utf8Length(text.replaceAll("\u2581", " "));
    else lengths[id] = utf8Length(text);
  }
  return lengths;
}
