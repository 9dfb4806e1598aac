"""Built-in jobs and batches the batch tests share (importable by the jobs' processes)."""

from __future__ import annotations

import json
import os

from nora_lab.batch import Batch, Job, register_job


@register_job("report_size", args={"src": "FILE", "dst": "OUT"})
def report_size(src: str, dst: str, factor: float = 1.0) -> None:
    """Write the size of ``src`` times ``factor`` as JSON."""
    print(f"sizing {src}")
    with open(dst, "w") as fh:
        json.dump({"bytes": os.path.getsize(src) * factor}, fh)


def three_job_batch(name: str = "three") -> Batch:
    """copy (bash) → check and summarize (Python; fails on a FAIL input) → size (built-in)."""
    return Batch(name, [
        Job.bash("cp $f1 $o1\necho copied $f1", name="copy",
                 f1="t1*/s0*.nii", o1="derived/t1copy.nii TAG(copied)"),
        Job.python("import json\n"
                   "text = open($f1).read()\n"
                   "if 'FAIL' in text:\n"
                   "    raise SystemExit(f'bad input in {$f1}')\n"
                   "json.dump({'chars': len(text) * $n1}, open($o1, 'w'))\n",
                   name="check", f1="derived/t1copy*", n1=2,
                   o1="derived/summary.json TAG(summary)"),
        Job.builtin("report_size", name="size", src="derived/summary.json",
                    dst="derived/size.json TAG(sized,final)", factor=0.5),
    ])


@register_job("write_many", args={"outdir": "PATHOUT", "mode": "OPTION(fast|exact)"})
def write_many(outdir: str, mode: str, flag: bool = False, count: int = 2) -> None:
    """Write ``count`` files into ``outdir``."""
    for i in range(int(count)):
        with open(os.path.join(outdir, f"{mode}{i}.txt"), "w") as fh:
            fh.write(f"{flag}")
