/**
 * Name matching shared by every layer: the known name nearest to a misspelt one, for "did you
 * mean" hints in one-line errors (CLI flags, suite names).
 *
 * @module
 */

/** Levenshtein distance between two strings. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The candidate nearest to `word` when it is a likely typo: at most a third of the
 * word's length (and at least 1) edits away, or a candidate that starts with the word.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  if (bestDistance <= Math.max(1, Math.floor(word.length / 3))) return best;
  const prefixed = candidates.filter((c) => lower.length >= 2 && c.startsWith(lower));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}
