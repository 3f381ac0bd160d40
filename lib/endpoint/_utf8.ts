// Token ids of a byte-level BPE vocabulary (GGUF `tokenizer.ggml.model` "gpt2") whose bytes are
// not valid UTF-8 on their own. Text made only of the other tokens is always valid UTF-8.

/** The byte each character of a byte-level BPE token string stands for. */
function byteOfChar(): Map<string, number> {
  const map = new Map<string, number>();
  // Printable Latin-1 characters stand for their own byte; the other 68 bytes are shifted to
  // code points from 256 up, in byte order.
  const own = (b: number): boolean =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    if (own(b)) map.set(String.fromCharCode(b), b);
    else map.set(String.fromCharCode(256 + shifted++), b);
  }
  return map;
}

/**
 * The ids of normal tokens (type 1, or all when no types are given) whose bytes are not valid
 * UTF-8 by themselves. Tokens with characters outside the byte alphabet are left alone.
 */
export function invalidUtf8Tokens(
  tokens: readonly string[],
  types: readonly number[] = [],
): number[] {
  const bytes = byteOfChar();
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const out: number[] = [];
  for (const [id, token] of tokens.entries()) {
    if (types.length > 0 && types[id] !== 1) continue;
    const buffer = new Uint8Array(token.length);
    let ok = true;
    for (let i = 0; i < token.length; i++) {
      const b = bytes.get(token[i]!);
      if (b === undefined) {
        ok = false;
        break;
      }
      buffer[i] = b;
    }
    if (!ok) continue;
    try {
      decoder.decode(buffer);
    } catch {
      out.push(id);
    }
  }
  return out;
}
