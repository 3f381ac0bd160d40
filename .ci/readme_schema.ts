// Rewrites the README's schema section from lib/schema/schema.ts (tests/schema/schema_test.ts checks it).
import { README_SCHEMA_BEGIN, README_SCHEMA_END, spliceSchema } from "../tests/_readme.ts";

const path = new URL("../README.md", import.meta.url);
const text = await Deno.readTextFile(path);
await Deno.writeTextFile(path, spliceSchema(text));
console.log(
  `README.md: schema section between ${README_SCHEMA_BEGIN} and ${README_SCHEMA_END} rewritten`,
);
await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", path.pathname] }).output();
