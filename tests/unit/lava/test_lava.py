# SPDX-License-Identifier: GPL-2.0-only
"""The LAVA job and log, as parsers: a job's QEMU line is `run`'s, and a log's end is told right.

The log under golden/lava/ was recorded from a real lava-run of a `harness lava-job` job
(tests/integration/test_lava.py runs that whole path); the variants here cut it where a
guest or a dispatcher could have stopped.
"""

import gzip
from pathlib import Path

import pytest
import yaml

from harness.errors import BadInput
from harness.guests.qemu_cmd import VMSpec
from harness.judging.console import parse_console
from harness.lava.job import PROMPT, JobInputs, qemu_context, read_test_definition, render_job
from harness.lava.judge import lava_disagreements, vm_result
from harness.lava.log import read_lava_log
from harness.vocabulary import Cause, Outcome, Stage

RECORDED = Path(__file__).parents[1] / "golden" / "lava" / "complete-6.12.107.yaml.gz"


@pytest.fixture
def recorded(tmp_path) -> Path:
    path = tmp_path / "logs.yaml"
    path.write_bytes(gzip.decompress(RECORDED.read_bytes()))
    return path


def cut(path: Path, keep) -> Path:
    """The recorded log with only the entries `keep(entry)` accepts, as another log file."""
    entries = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
    out = path.with_name("cut.yaml")
    out.write_text(yaml.safe_dump([e for e in entries if keep(e)]))
    return out


def test_a_complete_job_is_read_whole(recorded):
    log = read_lava_log(recorded)
    assert log.job_result == "pass" and log.error_type is None
    assert len([c for c in log.cases if c != "probe-exit"]) == 60 and log.cases["probe-exit"] == "pass"
    assert set(log.cases.values()) == {"pass"}
    assert log.qemu_version and log.boot_command.startswith("/usr/bin/qemu-system-x86_64 ")
    t = parse_console(log.console)
    assert t.done and t.probe_exit == 0 and "ktap" in t.sections and "dmesg" in t.sections
    vm = vm_result(log, t)
    assert (vm.outcome, vm.cause, vm.stage) == (Outcome.COMPLETED, None, Stage.SHUTDOWN)
    assert lava_disagreements(log, {c for c in log.cases if c != "probe-exit"}) == []


def test_a_guest_that_stops_under_a_probe_is_a_hang_in_the_probes(recorded):
    entries = yaml.load(recorded.read_text(), Loader=yaml.CSafeLoader)
    stop = next(i for i, e in enumerate(entries) if e["lvl"] == "target" and "# running: 20 " in str(e["msg"]))
    timed_out = {"definition": "lava", "case": "job", "result": "fail", "error_type": "Test"}
    timed_out["error_msg"] = "lava-test-shell timed out after 600 seconds"
    short = recorded.with_name("cut.yaml")
    short.write_text(
        yaml.safe_dump([*entries[: stop + 1], {"dt": entries[stop]["dt"], "lvl": "results", "msg": timed_out}])
    )
    log = read_lava_log(short)
    t = parse_console(log.console)
    vm = vm_result(log, t)
    assert (vm.outcome, vm.cause, vm.stage) == (Outcome.HANG, Cause.KERNEL, Stage.PROBES)
    assert "timed out" in vm.detail and "ktap" in t.incomplete


def test_a_dispatcher_that_never_booted_the_guest_is_the_hosts_fault(recorded):
    short = cut(recorded, lambda e: e["lvl"] != "target" and not (e["lvl"] == "results" and e["msg"]["case"] == "job"))
    with open(short, "a") as f:
        f.write("- {dt: '2026-12-02T10:30:00', lvl: results, msg: {definition: lava, case: job, result: fail, ")
        f.write("error_type: Infrastructure, error_msg: 'Connection closed'}}\n")
    log = read_lava_log(short)
    vm = vm_result(log, parse_console(log.console))
    assert (vm.outcome, vm.cause, vm.stage) == (Outcome.QEMU_FAILED, Cause.HOST, Stage.BOOT)
    assert "Infrastructure: Connection closed" in vm.detail


def test_a_lost_test_case_is_said(recorded):
    log = read_lava_log(recorded)
    del log.cases["devmem.open"]
    (warning,) = lava_disagreements(log, {"devmem.open", *log.cases} - {"probe-exit"})
    assert "devmem.open" in warning


@pytest.mark.parametrize(
    "text, words",
    [
        ("just: a mapping\n", "not a LAVA job log (a YAML list"),
        ("- [unclosed\n", "line 2: not a LAVA job log (YAML)"),
        ("- {dt: x, msg: y}\n", "not a LAVA job log (a YAML list"),
    ],
)
def test_a_file_that_is_not_a_log_is_one_line_naming_it(tmp_path, text, words):
    path = tmp_path / "log.yaml"
    path.write_text(text)
    with pytest.raises(BadInput) as exc:
        read_lava_log(path)
    assert str(path) in exc.value.line() and words in exc.value.line()


def spec(**kw) -> VMSpec:
    return VMSpec(kernel=Path("/k/vmlinuz"), initrd=Path("/k/initrd.cpio"), append=("lockdown=integrity",), **kw)


def test_the_jobs_qemu_line_is_runs_less_what_lava_writes_itself():
    s = spec()
    ctx = qemu_context(s)
    assert (ctx["machine"], ctx["cpu"], ctx["memory"], ctx["no_kvm"]) == ("q35", "max", 512, True)
    extra = " ".join(ctx["extra_options"])
    for word in ("-device e1000,netdev=spare0", "-device pvpanic", "-action panic=exit-failure", "-nodefaults"):
        assert word in extra
    assert "-serial stdio" in extra  # -nodefaults would otherwise take LAVA's console away
    for owned in ("-kernel", "-initrd", "-append", "-display", "-accel"):
        assert owned not in extra.split()
    # Every option of run's argv is in the job, in the context or in extra_options.
    options = {w for w in s.argv()[1:] if w.startswith("-")}
    assert options - set(extra.split()) <= {
        "-machine",
        "-cpu",
        "-m",
        "-accel",
        "-kernel",
        "-initrd",
        "-append",
        "-serial",
        "-display",
    }


def test_a_confidential_profiles_machine_and_objects_go_to_the_job():
    s = spec(
        accel="kvm",
        cpu="host",
        machine_options=("confidential-guest-support=tdx0",),
        objects=('{"qom-type":"tdx-guest","id":"tdx0"}',),
        firmware_flag="-bios",
        firmware="/fw/OVMF.fd",
    )
    ctx = qemu_context(s)
    assert ctx["machine"] == "q35,confidential-guest-support=tdx0" and ctx["no_kvm"] is False
    assert '-object {"qom-type":"tdx-guest","id":"tdx0"}' in ctx["extra_options"]
    assert "-bios /fw/OVMF.fd" in ctx["extra_options"]


def test_the_job_boots_to_inits_prompt_and_runs_the_repos_definition():
    inputs = JobInputs(spec(), "deb:linux-image-x", "", "plain", "x", ("lockdown=integrity",))
    job = render_job(inputs, "file:///k/vmlinuz", "file:///k/rd.cpio.gz")
    deploy, boot, test = (next(iter(a.values())) for a in job["actions"])
    assert "harness.mode=lava" in deploy["images"]["kernel"]["image_arg"]
    assert "lockdown=integrity" in deploy["images"]["kernel"]["image_arg"]
    assert boot["prompts"] == [PROMPT]
    (definition,) = test["definitions"]
    assert definition["repository"] == read_test_definition()
    steps = "\n".join(definition["repository"]["run"]["steps"])
    assert "/bin/harness-suite" in steps and "lava-test-case" in steps
    assert job["metadata"]["devmem-harness.kernel"] == "deb:linux-image-x"


def test_a_job_that_reached_userspace_but_never_ran_the_suite_is_not_the_kernels_fault(recorded):
    entries = yaml.load(recorded.read_text(), Loader=yaml.CSafeLoader)
    begin = next(i for i, e in enumerate(entries) if e["lvl"] == "target" and "@@harness begin uname" in e["msg"])
    failed = {"definition": "lava", "case": "job", "result": "fail", "error_type": "Job"}
    failed["error_msg"] = "wait for prompt timed out"
    short = recorded.with_name("cut.yaml")
    short.write_text(yaml.safe_dump([*entries[:begin], {"dt": entries[begin]["dt"], "lvl": "results", "msg": failed}]))
    log = read_lava_log(short)
    vm = vm_result(log, parse_console(log.console))
    assert (vm.outcome, vm.cause) == (Outcome.HOST_FAULT, Cause.HOST)
    assert "never started the suite" in vm.detail and "wait for prompt timed out" in vm.detail
