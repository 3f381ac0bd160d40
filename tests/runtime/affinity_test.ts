import assert from "node:assert/strict";
import { allowedCpus, canPinThreads, openSession, pinProcessThreads } from "../../mod.ts";
import { testModel } from "../_models.ts";

/** Each thread's allowed CPUs as the kernel reports them (`Cpus_allowed_list`), by tid. */
function threadCpus(): Map<number, string> {
  const out = new Map<number, string>();
  for (const entry of Deno.readDirSync("/proc/self/task")) {
    try {
      const status = Deno.readTextFileSync(`/proc/self/task/${entry.name}/status`);
      out.set(Number(entry.name), /Cpus_allowed_list:\s*(\S+)/.exec(status)![1]!);
    } catch {
      // the thread exited meanwhile
    }
  }
  return out;
}

const linux = Deno.build.os === "linux";

Deno.test({
  name: "`pinProcessThreads()` pins every thread to one CPU and `restore()` undoes it",
  ignore: !linux, // affinity is read and set through Linux's sched_setaffinity and /proc
  fn: () => {
    assert.equal(canPinThreads(), true);
    const allowed = allowedCpus()!;
    assert.ok(allowed.length >= 1);
    const before = threadCpus();
    const pin = pinProcessThreads()!;
    try {
      assert.equal(pin.cpus.length, 1);
      assert.ok(allowed.includes(pin.cpus[0]!));
      // Threads may start or exit meanwhile (idle pool threads expire), so no exact count.
      assert.ok(pin.threads >= 1, `${pin.threads} threads`);
      for (const [tid, cpus] of threadCpus()) {
        assert.equal(cpus, String(pin.cpus[0]), `thread ${tid} may run on ${cpus}`);
      }
      assert.deepEqual(allowedCpus(), pin.cpus);
    } finally {
      pin.restore();
    }
    const after = threadCpus();
    for (const [tid, cpus] of before) {
      if (after.has(tid)) assert.equal(after.get(tid), cpus, `thread ${tid} after restore`);
    }
    assert.deepEqual(allowedCpus(), allowed);
    pin.restore(); // a second call changes nothing
    assert.deepEqual(allowedCpus(), allowed);
  },
});

Deno.test({
  name: "threads started while pinned inherit the pin and get the former CPUs back",
  ignore: !linux,
  fn: async () => {
    const allowed = allowedCpus()!;
    const before = new Set(threadCpus().keys());
    const pin = pinProcessThreads([allowed.at(-1)!])!;
    const worker = new Worker(
      `data:application/javascript,${encodeURIComponent("postMessage('up')")}`,
      { type: "module" },
    );
    try {
      await new Promise((resolve) => worker.onmessage = resolve);
      const started = [...threadCpus()].filter(([tid]) => !before.has(tid));
      assert.ok(started.length >= 1, "the worker started no thread");
      for (const [, cpus] of started) assert.equal(cpus, String(allowed.at(-1)));
      pin.restore();
      const whole = threadCpus().get(Deno.pid)!;
      for (const [tid] of started) {
        const now = threadCpus().get(tid);
        if (now !== undefined) assert.equal(now, whole, `thread ${tid} after restore`);
      }
    } finally {
      pin.restore();
      worker.terminate();
    }
  },
});

Deno.test({
  name: "`pinProcessThreads()` refuses a CPU the process may not use",
  ignore: !linux,
  fn: () => {
    const allowed = allowedCpus()!;
    assert.throws(() => pinProcessThreads([4096]), {
      name: "RangeError",
      message: `Cannot pin threads to CPU 4096: this process may run on CPUs ${
        allowed.join(",")
      } only`,
    });
    assert.deepEqual(allowedCpus(), allowed);
  },
});

Deno.test({
  name: "`session.trace()` pins one-thread runs for their duration and records the CPU",
  ignore: !linux,
  fn: async () => {
    const allowed = allowedCpus()!;
    const session = await openSession(await testModel("lfm2-tiny"), { threads: 1, gpu: "cpu" });
    try {
      // During the run (seen from the token events), every thread may use the pinned CPU only.
      const seen: string[] = [];
      const live = session.stream("Hello", { mode: "raw", maxTokens: 4 });
      for await (const event of live) {
        if (event.index === 1) seen.push(...new Set(threadCpus().values()));
      }
      const auto = (await live.result).summary;
      if (allowed.length > 1) {
        assert.match(auto.cpu_affinity, /^\d+$/);
        assert.deepEqual(seen, [auto.cpu_affinity]);
      } else {
        assert.equal(auto.cpu_affinity, ""); // one CPU: nothing to pin
      }
      assert.deepEqual(allowedCpus(), allowed, "the process's CPUs after the run");

      const off = await session.trace("Hello", { mode: "raw", maxTokens: 4, cpuAffinity: "off" });
      assert.equal(off.summary.cpu_affinity, "");
      const two = await session.trace("Hello", { mode: "raw", maxTokens: 4, threads: 2 });
      assert.equal(two.summary.cpu_affinity, "", "multi-thread runs are not pinned by auto");
      const given = await session.trace("Hello", {
        mode: "raw",
        maxTokens: 4,
        threads: 2,
        cpuAffinity: allowed,
      });
      assert.equal(given.summary.cpu_affinity, allowed.join(","));
      assert.deepEqual(allowedCpus(), allowed);

      await assert.rejects(session.trace("Hello", { cpuAffinity: [4096] }), {
        name: "RangeError",
        message: `Cannot trace pinned to CPU 4096: this process may run on CPUs ${
          allowed.join(",")
        } only`,
      });
      await assert.rejects(
        session.trace("Hello", { cpuAffinity: "all" as "auto" }),
        { name: "RangeError", message: /cpuAffinity must be "auto", "off" or a list of CPUs/ },
      );
    } finally {
      await session.close();
    }
  },
});
