# SPDX-License-Identifier: GPL-2.0-only
"""`harness lava-run JOB`: a rendered LAVA job run by a real LAVA dispatcher on this machine.

The labs run `lava-run` (Debian's lava-dispatcher) with a device dictionary their
server renders.  Here the dictionary and the dispatcher configuration come from
tuxrun's templates (the same ones `tuxrun --runtime null` renders; its own command
line only runs the jobs it writes), so a job from `harness lava-job` is dispatched
as a lab would dispatch it, and its log (lava-run's stderr, one YAML entry a line)
lands where `harness judge --lava` reads it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from ..errors import BadInput, RequirementMissing
from ..host_packages import install_hint

LOG_NAME = "logs.yaml"


def _templates():
    try:
        # An optional dependency (the [lava] extra): imported only by this command.
        from tuxlava import templates as devices
        from tuxrun import templates as dispatchers
    except ImportError:
        raise RequirementMissing("lava-run needs tuxrun's templates", "pip install tuxrun (or .[dev])") from None
    return devices.devices(), dispatchers.dispatchers()


def run_job(job_file: Path, out: Path) -> tuple[Path, int]:
    """Dispatch `job_file` with lava-run; the job's YAML log in `out` and lava-run's exit status.

    The job's own timeouts bound it: LAVA ends a job that overruns them, and says so in the log."""
    if shutil.which("lava-run") is None:
        raise RequirementMissing("lava-run not found", install_hint("lava"))
    try:
        job = yaml.safe_load(job_file.read_text())
        context = dict(job["context"])
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise BadInput(f"{job_file}: not a LAVA job with a context ({exc.__class__.__name__})") from None
    devices, dispatchers = _templates()
    out.mkdir(parents=True, exist_ok=True)
    (out / "device.yaml").write_text(devices.get_template("qemu.yaml.jinja2").render(**context))
    download = out / "dispatcher-tmp"
    download.mkdir(exist_ok=True)
    dispatcher = dispatchers.get_template("dispatcher.yaml.jinja2").render(
        dispatcher_download_dir=str(download), prefix="devmem-harness", dispatcher_ip=None
    )
    (out / "dispatcher.yaml").write_text(dispatcher)
    shutil.copyfile(job_file, out / "job.yaml")
    argv = ["lava-run", "--device", str(out / "device.yaml"), "--dispatcher", str(out / "dispatcher.yaml")]
    argv += ["--job-id", "1", "--output-dir", str(out / "output"), str(out / "job.yaml")]
    log = out / LOG_NAME
    with open(log, "w") as sink, open(out / "lava-run.out", "w") as other:
        # lava-run writes its log on stderr, one YAML flow mapping a line: a YAML list once each gets "- ".
        proc = subprocess.Popen(argv, stdout=other, stderr=subprocess.PIPE, text=True, errors="replace")
        for line in proc.stderr:
            if line.startswith("{"):
                sink.write("- " + line.rstrip("\n") + "\n")
                sink.flush()
            else:
                other.write(line)
        status = proc.wait()
    return log, status
