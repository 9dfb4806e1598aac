"""Jobs, arguments, variables and the batch JSON format — checked before anything runs."""

from __future__ import annotations

import json

import pytest
from batchjobs import three_job_batch

from nora_lab.batch import Arg, Batch, Job, get_job, register_job
from nora_lab.batch import variables as v
from nora_lab.errors import BatchError


def test_variables_are_found_in_the_script():
    assert v.find("cp $f1 ${o1} && echo $s2 $n1 $p1; echo $HOME $1 ${PATH}") == \
        ["f1", "o1", "p1", "s2", "n1"]
    assert v.find("escaped \\$f1 is not a variable") == []


@pytest.mark.parametrize("script, bad", [("cp $f0 $o1", "f0"), ("cp $f12 x", "f12"),
                                         ("echo $x1", "x1"), ("echo ${q3}", "q3")])
def test_lookalike_variables_are_unknown_variables(script, bad):
    with pytest.raises(BatchError, match=f"unknown variable '{bad}'"):
        Job.bash(script).validate()


def test_script_variables_without_an_argument_name_it():
    with pytest.raises(BatchError, match=r"uses \$o1 but the job gives no value"):
        Job.bash("cp $f1 $o1", f1="t1*").validate()


def test_an_argument_the_script_does_not_use_is_refused():
    with pytest.raises(BatchError, match=r"argument f2 is not used by the script \(no \$f2"):
        Job.bash("cat $f1", f1="t1*", f2="t2*").validate()


def test_an_argument_name_outside_the_convention_is_refused():
    with pytest.raises(BatchError, match="unknown variable 'input'"):
        Job.bash("cat $f1", f1="t1*", input="x").validate()


def test_arguments_are_typed_by_their_prefix():
    job = Job.bash("x $f1 $o1 $p1 $s1 $n1", f1="t1*/s0__.nii", o1="out/a.nii TAG(a, b)",
                   p1="outdir", s1="hello", n1="2.5").validate()
    kinds = {k: a.kind for k, a in job.args.items()}
    assert kinds == {"f1": "FILE", "o1": "OUT", "p1": "PATHOUT", "s1": "STRING", "n1": "NUMERIC"}
    assert job.args["o1"].value == "out/a.nii" and job.args["o1"].tags == ("a", "b")
    assert job.args["n1"].value == 2.5


@pytest.mark.parametrize("name", ["../../etc/passwd", "/abs/out.nii", "a/../../b.nii", "res*.nii"])
def test_an_out_outside_the_study_is_refused_before_launch(name):
    with pytest.raises(BatchError, match="o1"):
        Job.bash("cp $f1 $o1", f1="t1*", o1=name).validate()


def test_numeric_logical_and_option_values_are_checked():
    with pytest.raises(BatchError, match="NUMERIC value 'abc' is not a number"):
        Job.bash("echo $n1", n1="abc").validate()

    def f(mode: str, flag: bool = False) -> None: ...

    with pytest.raises(BatchError, match="option 'slow' is not one of fast, exact"):
        Job.call(f, mode=Arg.option("slow", ["fast", "exact"])).validate()
    with pytest.raises(BatchError, match="LOGICAL value 'maybe'"):
        Job.call(f, mode=Arg.option("fast", ["fast"]), flag="maybe").validate()


def test_builtin_jobs_come_from_the_registry():
    reg = get_job("report_size")
    assert reg.params == {"src": ("FILE", False, ()), "dst": ("OUT", False, ()),
                          "factor": ("NUMERIC", False, ())}
    with pytest.raises(BatchError, match="no registered job 'nope'"):
        Job.builtin("nope").validate()
    with pytest.raises(BatchError, match="needs argument 'dst'"):
        Job.builtin("report_size", src="x").validate()
    with pytest.raises(BatchError, match="takes no argument colour"):
        Job.builtin("report_size", src="x", dst="y", colour="red").validate()


def test_register_job_needs_the_type_of_untyped_parameters():
    with pytest.raises(BatchError, match="give the type of parameter 'image'"):
        register_job("broken", lambda image: None)


def test_study_references_are_checked():
    with pytest.raises(BatchError, match="unknown attribute 'XTAG:'"):
        Job.bash("cat $f1", f1=Arg.file("t1*", study="last XTAG:ct")).validate()
    with pytest.raises(BatchError, match="only applies to FILE, OUT and PATHOUT"):
        Arg("STRING", "x", study="first").check("job")


def test_batch_json_round_trip_and_format():
    b = three_job_batch()
    data = json.loads(b.to_json())
    assert data["format"] == "nora_lab.batch/1" and data["level"] == "study"
    assert data["jobs"][0]["args"]["o1"] == {"type": "OUT", "value": "derived/t1copy.nii",
                                              "tags": ["copied"]}
    again = Batch.from_json(b.to_json())
    assert again.to_dict() == b.to_dict()
    # shorthand arguments are accepted too
    short = Batch.from_dict({"name": "s", "jobs": [{"type": "bash", "script": "cp $f1 $o1",
                                                     "args": {"f1": "t1*", "o1": "x.nii TAG(t)"}}]})
    assert short.validate().jobs[0].args["o1"].tags == ("t",)


@pytest.mark.parametrize("data, msg", [
    ({"name": "b", "jobs": "x"}, "'jobs' must be a list"),
    ({"name": "b", "jobs": [], "colour": 1}, "unknown key"),
    ({"name": "b", "format": "other/2", "jobs": []}, "format 'other/2'"),
    ({"name": "b c", "jobs": []}, "batch name 'b c'"),
    ({"name": "b", "level": "series", "jobs": []}, "level 'series'"),
    ({"name": "b", "jobs": [{"type": "perl", "script": "x"}]}, "unknown job type 'perl'"),
    ({"name": "b", "jobs": [{"type": "bash", "script": "x", "extra": 1}]}, "unknown key"),
])
def test_malformed_batches_say_what_is_wrong(data, msg):
    with pytest.raises(BatchError, match=msg):
        Batch.from_dict(data).validate()


def test_not_json_names_the_source(tmp_path):
    p = tmp_path / "b.json"
    p.write_text("{not json")
    with pytest.raises(BatchError, match=f"{p}: not valid JSON"):
        Batch.from_file(p)


def test_unregistered_callables_cannot_be_saved():
    def f(x: int = 1) -> None: ...

    with pytest.raises(BatchError, match="register it"):
        Batch("b", [Job.call(f)]).to_json()


def test_resolved_scripts_set_their_variables():
    assert v.bash_block({"f1": ["/a b/x.nii"], "n1": 2}) == "f1='/a b/x.nii'\nn1=2"
    assert v.python_block({"f1": ["/x"], "f2": ["/a", "/b"], "n1": 2.5}) == \
        "f1 = '/x'\nf2 = ['/a', '/b']\nn1 = 2.5"
    assert v.python_text("open($f1); print(${o1})") == "open(f1); print(o1)"


def test_the_docstring_examples_run():
    import doctest
    import importlib

    for name in ("args", "batch", "jobs", "registry", "variables", "run", "submit", "config"):
        mod = importlib.import_module(f"nora_lab.batch.{name}")
        res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
        assert res.failed == 0, f"nora_lab.batch.{name}: {res.failed} docstring example(s) failed"


def test_a_fresh_process_finds_the_jobs_that_installed_packages_ship():
    """``segment_apply`` lives in nora_lab.segment; a worker that never imported it finds it
    through the ``nora_lab.jobs`` entry points."""
    import subprocess
    import sys

    code = ("import sys; from nora_lab.batch import get_job; "
            "print(get_job('segment_apply').name, 'nora_lab.segment.jobs' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["segment_apply", "True"]
