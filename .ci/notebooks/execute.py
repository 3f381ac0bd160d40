"""Execute Jupyter notebooks headless with the project's Deno kernel, and check them.

Run with Debian's /usr/bin/python3 (python3-nbclient, jupyter-client, nbformat):

    JUPYTER_PATH=.ci/notebooks /usr/bin/python3 .ci/notebooks/execute.py OUT_DIR NB.ipynb...

Each notebook is executed top to bottom in its own kernel, started in the notebook's
folder, and written with its outputs to OUT_DIR under the same file name. A notebook
fails when:

- a cell raises (an `error` output or an `execute_reply` with status `error`),
- a cell writes to stderr,
- a code cell ends with no output, unless it has the cell tag `no-output`
  (every other cell is written to display something, so an empty one lost its output),
- a cell tagged `chart` has no SVG output (`image/svg+xml`, or `text/html` holding `<svg`),
- the notebook has no chart at all.

Deno 2.9's kernel sometimes publishes a cell's last output just after it reports the
cell idle; nbclient then drops it. Here every iopub message is routed to its cell by the
`msg_id` of the request it answers, and after each cell the runner keeps listening until
the kernel has been silent for GRACE_S seconds, so late outputs land in their cell.

Exit status: 0 when every notebook passes, 1 otherwise. One line per problem on stderr.
"""

import os
import queue
import sys
import time

import nbformat
from jupyter_client.manager import start_new_kernel

KERNEL_NAME = "deno"
CELL_TIMEOUT_S = float(os.environ.get("NOTEBOOK_CELL_TIMEOUT_S", "600"))
GRACE_S = 0.5
OUTPUT_TYPES = ("stream", "display_data", "execute_result", "error")


def to_output(msg):
    """Turn an iopub message into an nbformat output node."""
    kind = msg["msg_type"]
    content = msg["content"]
    if kind == "stream":
        return nbformat.v4.new_output("stream", name=content["name"], text=content["text"])
    if kind == "error":
        return nbformat.v4.new_output(
            "error",
            ename=content["ename"],
            evalue=content["evalue"],
            traceback=content["traceback"],
        )
    fields = {"data": content.get("data", {}), "metadata": content.get("metadata", {})}
    if kind == "execute_result":
        fields["execution_count"] = content.get("execution_count")
    return nbformat.v4.new_output(kind, **fields)


def merge_streams(outputs):
    """Join consecutive stream outputs of the same name, as Jupyter front ends do."""
    merged = []
    for out in outputs:
        last = merged[-1] if merged else None
        if (
            last is not None
            and out["output_type"] == "stream"
            and last["output_type"] == "stream"
            and last["name"] == out["name"]
        ):
            last["text"] += out["text"]
        else:
            merged.append(out)
    return merged


def has_svg(output):
    data = output.get("data", {})
    if "<svg" in str(data.get("image/svg+xml", "")):
        return True
    return "<svg" in str(data.get("text/html", ""))


class Executor:
    """One kernel, one notebook; iopub messages are routed by parent msg_id."""

    def __init__(self, cwd):
        self.km, self.kc = start_new_kernel(kernel_name=KERNEL_NAME, cwd=cwd)
        self.language_info = self.kc.kernel_info(reply=True)["content"].get("language_info", {})
        self.outputs = {}  # msg_id -> list of output nodes
        self.idle = set()  # msg_ids whose cell reported idle
        self.late = 0  # outputs that arrived after their cell reported idle

    def close(self):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)

    def pump(self, timeout):
        """Route one iopub message, waiting at most `timeout` s; False when none came."""
        try:
            msg = self.kc.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            return False
        parent = msg["parent_header"].get("msg_id")
        kind = msg["msg_type"]
        if parent not in self.outputs:
            return True
        if kind == "status" and msg["content"]["execution_state"] == "idle":
            self.idle.add(parent)
        elif kind == "clear_output":
            self.outputs[parent].clear()
        elif kind in OUTPUT_TYPES:
            if parent in self.idle:
                self.late += 1
            self.outputs[parent].append(to_output(msg))
        return True

    def run_cell(self, source):
        """Execute one cell; returns (msg_id, reply status, seconds)."""
        start = time.monotonic()
        msg_id = self.kc.execute(source, store_history=True)
        self.outputs[msg_id] = []
        reply = None
        deadline = start + CELL_TIMEOUT_S
        while reply is None or msg_id not in self.idle:
            if time.monotonic() > deadline:
                raise TimeoutError(f"cell did not finish within {CELL_TIMEOUT_S:.0f} s")
            if reply is None:
                try:
                    candidate = self.kc.get_shell_msg(timeout=0.01)
                    if candidate["parent_header"].get("msg_id") == msg_id:
                        reply = candidate
                except queue.Empty:
                    pass
            self.pump(0.05)
        # The lost-output fix: keep listening until the kernel has been quiet for GRACE_S.
        while self.pump(GRACE_S):
            pass
        return msg_id, reply["content"], time.monotonic() - start


def execute_notebook(path, out_dir):
    """Execute one notebook; returns (problems, summary line)."""
    name = os.path.basename(path)
    nb = nbformat.read(path, as_version=4)
    problems = []
    executor = Executor(os.path.dirname(os.path.abspath(path)))
    started = time.monotonic()
    cells = []
    try:
        count = 0
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            count += 1
            msg_id, reply, seconds = executor.run_cell(cell.source)
            cells.append((index, cell, msg_id, reply, seconds))
            if reply.get("status") != "ok":
                problems.append(
                    f"{name}: cell {index} failed: {reply.get('ename', '')}: {reply.get('evalue', '')}"
                )
                break
        # Outputs of any cell may still trickle in; one last quiet period.
        while executor.pump(GRACE_S):
            pass
    finally:
        executor.close()
    charts = 0
    for index, cell, msg_id, reply, seconds in cells:
        outputs = merge_streams(executor.outputs[msg_id])
        cell.outputs = outputs
        cell.execution_count = reply.get("execution_count")
        tags = cell.metadata.get("tags", [])
        for out in outputs:
            if out["output_type"] == "error":
                problems.append(f"{name}: cell {index} raised {out['ename']}: {out['evalue']}")
            if out["output_type"] == "stream" and out["name"] == "stderr":
                problems.append(f"{name}: cell {index} wrote to stderr: {out['text'].strip()[:300]}")
        if not outputs and "no-output" not in tags:
            problems.append(
                f"{name}: cell {index} has no output; it was lost, or tag the cell 'no-output'"
            )
        if "chart" in tags:
            if any(has_svg(out) for out in outputs):
                charts += 1
            else:
                problems.append(f"{name}: cell {index} is tagged 'chart' but has no SVG output")
    if charts == 0 and not problems:
        problems.append(f"{name}: no chart; tag the cells that draw one 'chart'")
    if executor.language_info:
        nb.metadata["language_info"] = executor.language_info
    os.makedirs(out_dir, exist_ok=True)
    nbformat.write(nb, os.path.join(out_dir, name))
    slowest = max((c[4] for c in cells), default=0.0)
    summary = (
        f"{name}: {len(cells)} code cells, {charts} charts, {executor.late} late outputs kept, "
        f"{time.monotonic() - started:.1f} s (slowest cell {slowest:.1f} s)"
    )
    return problems, summary


def main(argv):
    if len(argv) < 2:
        print("Usage: execute.py OUT_DIR NOTEBOOK.ipynb...", file=sys.stderr)
        return 2
    out_dir, paths = argv[0], argv[1:]
    failed = False
    for path in paths:
        try:
            problems, summary = execute_notebook(path, out_dir)
        except Exception as error:  # a kernel that dies or hangs fails this notebook only
            problems, summary = [f"{os.path.basename(path)}: {error}"], ""
        if summary:
            print(summary, flush=True)
        for problem in problems:
            print(problem, file=sys.stderr, flush=True)
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
