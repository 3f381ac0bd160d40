// The project's test command (`deno task test`): every gate in one run, in order, each
// step's output streamed. Exits non-zero if any step fails and ends with one
// "N passed, N failed" line counting the test cases of `deno test` plus the gate steps.

const deno = Deno.execPath();
const root = new URL("..", import.meta.url).pathname;

interface Step {
  name: string;
  cmd: string[];
  env?: Record<string, string>;
}

const steps: Step[] = [
  { name: "system packages", cmd: ["bash", ".ci/system_deps.sh"] },
  { name: "install", cmd: [deno, "install", "--quiet"] },
  { name: "llama.cpp tools", cmd: ["bash", ".ci/llama_tools.sh"] },
  { name: "fmt", cmd: [deno, "fmt", "--check"] },
  { name: "lint", cmd: [deno, "lint"] },
  { name: "check", cmd: [deno, "check", "--quiet", "mod.ts", "lib/", "tests/", ".ci/"] },
  { name: "doc lint", cmd: [deno, "doc", "--lint", "mod.ts"] },
  { name: "publish dry run", cmd: [deno, "publish", "--dry-run", "--allow-dirty", "--quiet"] },
  { name: "tests", cmd: [deno, "test", "-A", "--doc", "mod.ts", "lib/", "tests/"] },
];

const only = Deno.args.length > 0 ? new Set(Deno.args) : undefined;
let passed = 0;
let failed = 0;
const failures: string[] = [];
const path = `${deno.replace(/\/[^/]+$/, "")}:${Deno.env.get("PATH") ?? ""}`;

for (const step of steps) {
  if (only !== undefined && !only.has(step.name)) continue;
  console.log(`\n=== ${step.name}: ${step.cmd.map((a) => a === deno ? "deno" : a).join(" ")}`);
  const started = performance.now();
  const child = new Deno.Command(step.cmd[0]!, {
    args: step.cmd.slice(1),
    cwd: root,
    env: { ...step.env, PATH: path, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let tail = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    await Deno.stdout.write(chunk);
    tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4000);
  }
  const { code } = await child.status;
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (step.name === "tests") {
    // deno test closes with e.g. "ok | 57 passed (3 steps) | 0 failed (12s)".
    const m = [...tail.matchAll(/(\d+) passed(?: \([^)]*\))? \| (\d+) failed/g)].at(-1);
    if (m === undefined) {
      failed++;
      failures.push("tests (no deno test summary line)");
    } else {
      passed += Number(m[1]);
      failed += Number(m[2]);
      if (Number(m[2]) > 0 || code !== 0) failures.push(`tests (${m[2]} failed, exit ${code})`);
    }
  } else if (code === 0) {
    passed++;
  } else {
    failed++;
    failures.push(`${step.name} (exit ${code})`);
  }
  console.log(`=== ${step.name}: ${code === 0 ? "ok" : `FAILED (exit ${code})`} in ${seconds} s`);
}

console.log("");
if (failures.length > 0) console.log(`failed steps: ${failures.join(", ")}`);
console.log(`tokentrace: ${passed} passed, ${failed} failed`);
Deno.exit(failures.length > 0 ? 1 : 0);
