import { schemaMarkdown } from "../mod.ts";

export const README_SCHEMA_BEGIN = "<!-- schema:begin -->";
export const README_SCHEMA_END = "<!-- schema:end -->";

/** Returns the README text with its schema section replaced by the rendered schema. */
export function spliceSchema(readme: string): string {
  const begin = readme.indexOf(README_SCHEMA_BEGIN);
  const end = readme.indexOf(README_SCHEMA_END);
  if (begin < 0 || end < begin) {
    throw new Error(`README.md has no ${README_SCHEMA_BEGIN} ... ${README_SCHEMA_END} section`);
  }
  return readme.slice(0, begin + README_SCHEMA_BEGIN.length) + "\n\n" + schemaMarkdown() +
    "\n" + readme.slice(end);
}
