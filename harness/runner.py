"""One run end to end: kernel -> guest image -> boot(s) -> probes -> verdicts -> run directory.

The run directory is created before anything slow happens and results.json
is rewritten at every step, so an interrupted, timed-out or crashed run still
says what happened.  Most runs are one boot; probes marked dangerous run in
boots of their own when the guest kind can be taken down by them (or when
asked), so one crash loses nothing else.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, paths
from .console import (
    GuestTranscript,
    e820_map,
    failed_modules,
    iomem_top_level,
    lines_by_probe,
    memory_encryption,
    normalize,
    parse_console,
    warnings_by_probe,
)
from .errors import BadInput, HarnessError
from .image import DiskImage
from .initramfs import build_initramfs
from .kconfig import config_version
from .kernel import Kernel, KernelCatalog, resolve_kernel
from .ktap import KtapDocument, KtapResult, parse_ktap
from .oracle import Oracle, Verdict, derive_facts
from .probe_binary import ProbeInfo, build_probe, list_probes, select_probes
from .profiles import Profile, load_profile
from .qemu_cmd import DEFAULT_QEMU, Timeouts, VMSpec, pick_accel
from .results import (
    SCHEMA_VERSION,
    counts,
    exit_code,
    overall_verdict,
    probe_entries,
    summary_table,
    write_json_atomic,
    write_junit,
    write_ktap,
)
from .rundir import create_run_dir, point_latest
from .vm import VMResult, run_vm

RUNNING = re.compile(r"^# running: \d+ (\S+)", re.M)
EMULATED_NOTE = "EMULATED confidential guest: no TDX/SEV-SNP hardware, nothing encrypted; policy only"
MAX_RESUMES = 8


@dataclass
class RunOptions:
    kernel: str | None = None
    kernel_config: str | None = None
    modules: str | None = None  # --modules DIR for a --kernel PATH
    append: list[str] = field(default_factory=list)
    probes: list[str] = field(default_factory=list)
    memory_mib: int | None = None  # default: the profile's
    vcpus: int = 1
    accel: str = "auto"
    qemu: str = DEFAULT_QEMU
    runs_dir: Path | None = None
    expectations: Path | None = None
    timeout_scale: float = 1.0
    boot_timeout: float | None = None
    profile: str = "plain"
    isolate: str = "auto"  # auto | always | never: dangerous probes in boots of their own
    source: str | None = None  # build the kernel from this tree (or deb:linux-source-*) ...
    kconfig: list[Path] = field(default_factory=list)  # ... with these fragments
    patches: list[Path] = field(default_factory=list)
    base: str = "tinyconfig"
    firmware: str | None = None  # confidential guests: TDVF / SNP OVMF (default: the profile's candidates)
    dry_run: bool = False  # print the QEMU command line and stop
    floor: bool = False  # boot to an init that powers off at once (the benchmark's floor)
    quiet: bool = False
    transport: str = "serial"  # serial: busybox initramfs, console; ssh: a disk image reached over SSH
    image: Path | None = None  # ssh: a user's qcow2 (default: the harness's Debian image for the kernel)
    ssh_user: str = "root"
    ssh_key: Path | None = None


@dataclass
class RunReport:
    run_dir: Path
    results: dict
    exit_code: int


@dataclass
class Boot:
    """One guest boot and what it printed."""

    name: str  # "main" or the isolated probe's name
    directory: Path
    probes: list[str]
    vm: VMResult
    transcript: GuestTranscript
    doc: KtapDocument
    terminated: str | None = None  # the probe the guest died under, if it died during the probes

    def died_under(self) -> str | None:
        """The probe that was running when the guest died, from the probe's "# running:" lines."""
        if self.vm.outcome in ("completed", "interrupted") or self.vm.stage != "probes":
            return None
        reported = set(self.doc.by_name())
        running = RUNNING.findall(self.transcript.sections.get("ktap", ""))
        # Only a probe that had started and not reported; a guest that died in its init died under none.
        return running[-1] if running and running[-1] not in reported else None


@dataclass
class GuestSetup:
    initrd: Path
    accel: str
    accel_reason: str
    timeouts: Timeouts
    all_probes: list[str]
    profile: Profile
    probe: Path | None = None
    disk: DiskImage | None = None  # transport ssh


def _spec_identity(opts: RunOptions) -> dict:
    return {
        "kernel": opts.kernel,
        "kernel_config": opts.kernel_config,
        "modules": opts.modules,
        "append": opts.append,
        "probes": opts.probes,
        "memory": opts.memory_mib,
        "vcpus": opts.vcpus,
        "accel": opts.accel,
        "profile": opts.profile,
        "floor": opts.floor,
        "qemu": opts.qemu,
        "isolate": opts.isolate,
        "source": opts.source,
        "kconfig": [str(k) for k in opts.kconfig],
        "patches": [str(p) for p in opts.patches],
        "base": opts.base,
        "transport": opts.transport,
        "image": str(opts.image) if opts.image else None,
    }


def _kernel_label(opts: RunOptions, default: str) -> str:
    if opts.source:
        return "build-" + "+".join(Path(k).stem for k in opts.kconfig) if opts.kconfig else "build-base"
    spec = opts.kernel or default
    if spec.startswith("deb:"):
        suite, _, package = spec[4:].rpartition("/")
        return (f"{suite}-" if suite else "") + package.removeprefix("linux-image-").removesuffix("-unsigned")
    return Path(spec).name


def _short_socket_path(directory: Path) -> Path:
    """Unix socket paths are limited to 107 bytes; fall back to /tmp for deep run dirs."""
    path = directory / "qmp.sock"
    if len(str(path)) < 100:
        return path
    return Path("/tmp") / f"devmem-harness-{abs(hash(str(directory))):x}.qmp"


def vm_spec(
    kernel: Kernel,
    initrd: Path,
    append: list[str],
    opts: RunOptions,
    accel: str,
    profile: Profile,
    qmp_socket: Path | None,
    pidfile: Path | None = None,
) -> VMSpec:
    """The QEMU spec for this run: the plain machine plus whatever the profile adds."""
    from .doctor import DEFAULT_CBITPOS, read_cbitpos
    from .profiles import find_firmware

    cbitpos = (read_cbitpos(Path("/")) or DEFAULT_CBITPOS) if "{cbitpos}" in "".join(profile.objects) else 0
    firmware = find_firmware(profile, opts.firmware) if profile.firmware_flag else None
    if profile.firmware_flag and firmware is None:
        firmware = profile.firmware_candidates[0] if profile.firmware_candidates else "OVMF.fd"
    return VMSpec(
        kernel=kernel.image,
        initrd=initrd,
        append=tuple(append),
        memory_mib=opts.memory_mib,
        vcpus=opts.vcpus,
        accel=accel,
        qemu=opts.qemu,
        qmp_socket=qmp_socket,
        cpu=profile.cpu,
        machine_options=profile.machine_options,
        objects=tuple(profile.object_args(opts.memory_mib, cbitpos)),
        firmware_flag=profile.firmware_flag,
        firmware=firmware,
        pidfile=pidfile,
    )


def plan_boots(selection: list[str], infos: list[ProbeInfo], isolate: bool) -> list[tuple[str, list[str]]]:
    """(boot name, probes) in order: the safe probes together first, then each dangerous one alone."""
    if not isolate:
        return [("main", list(selection))]
    dangerous = {p.name for p in infos if p.dangerous}
    safe = [n for n in selection if n not in dangerous]
    plan = [("main", safe)] if safe else []
    return plan + [(n, [n]) for n in selection if n in dangerous]


class Run:
    def __init__(self, opts: RunOptions, profile: Profile | None = None):
        self.opts = opts
        self.profile = profile
        self.profile_kind = profile.kind if profile else opts.profile
        self.results: dict = {}
        self.run_dir: Path | None = None
        self.started = time.time()

    def log(self, msg: str) -> None:
        if not self.opts.quiet:
            print(f"harness: {msg}", file=sys.stderr, flush=True)

    def save(self) -> None:
        if self.run_dir is not None:
            write_json_atomic(self.run_dir / "results.json", self.results)

    def prepare_dir(self, default_kernel: str) -> Path:
        runs_dir = (self.opts.runs_dir or paths.default_runs_dir()).resolve()
        self.run_dir = create_run_dir(
            runs_dir, self.opts.profile, _kernel_label(self.opts, default_kernel), _spec_identity(self.opts)
        )
        self.results = {
            "schema_version": SCHEMA_VERSION,
            "verdict": "error",
            "outcome": "preparing",
            "cause": None,
            "detail": "the run stopped before the guest was started",
            "profile": self.opts.profile,
            "emulated": bool(self.profile and self.profile.emulated),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started)),
            "harness": {
                "version": __version__,
                "command": shlex.join(["devmem-harness", *sys.argv[1:]]),
                "host": socket.gethostname(),
            },
            "probes": [],
        }
        self.save()
        point_latest(runs_dir, self.run_dir)
        return self.run_dir

    def setup_guest(self, kernel: Kernel, profile: Profile) -> GuestSetup:
        opts = self.opts
        for warning in kernel.warnings:
            self.warn(warning)
        probe = build_probe()
        initrd = build_initramfs(probe, kernel.modules, kernel.load)
        disk = self.disk_image(kernel) if opts.transport == "ssh" else None
        if profile.accelerator == "kvm":
            accel, accel_reason = "kvm", f"profile {profile.name} needs KVM"
        else:
            accel, accel_reason = pick_accel(opts.accel, opts.qemu)
        timeouts = Timeouts.sized(opts.memory_mib, opts.vcpus, accel, opts.timeout_scale, ssh=disk is not None)
        if opts.boot_timeout is not None:
            timeouts = Timeouts(boot=opts.boot_timeout, probes=timeouts.probes, shutdown=timeouts.shutdown)
        self.results.update(
            outcome="running",
            detail="the guest was started; the harness did not finish",
            kernel={
                "release": kernel.release,
                "version": kernel.version,
                "source": kernel.source,
                "image": str(kernel.image),
                "config": str(kernel.config_path),
                "packages": ["=".join(p) for p in kernel.packages],
                "modules": [m.name for m in kernel.modules],
                "modules_from": kernel.modules_from,
            },
            accel=accel,
            accel_reason=accel_reason,
            timeouts={"boot": timeouts.boot, "probes": timeouts.probes, "shutdown": timeouts.shutdown},
            initramfs=str(initrd),
            transport=opts.transport,
        )
        if disk is not None:
            self.results["image"] = {
                "path": str(disk.path),
                "initrd": str(disk.initrd) if disk.initrd else None,
                "user": disk.user,
                "host_key": disk.host_key or "trust on first use",
                "built_by_harness": disk.built,
            }
        all_probes = [p.name for p in list_probes(probe)]
        return GuestSetup(initrd, accel, accel_reason, timeouts, all_probes, profile, probe, disk)

    def disk_image(self, kernel: Kernel) -> DiskImage:
        """The harness's Debian image for this kernel (built once), or the user's --image."""
        from .image import DiskImage, build_image

        opts = self.opts
        if opts.image is None:
            self.log("disk image: the harness's Debian bookworm image for this kernel (built once, then cached)")
            image, built, seconds = build_image(kernel)
            if built:
                self.log(f"disk image built in {seconds:.0f} s: {image.path}")
            return image
        return DiskImage(opts.image.resolve(), None, opts.ssh_user, opts.ssh_key, None, None, built=False)

    def boot(self, kernel: Kernel, setup: GuestSetup, name: str, probes: list[str]) -> Boot:
        opts = self.opts
        if name == "main":
            directory = self.run_dir
        elif name.startswith("resume-"):
            directory = self.run_dir / name
        else:
            directory = self.run_dir / "isolated" / name
        directory.mkdir(parents=True, exist_ok=True)
        append = [*setup.profile.append, *opts.append]
        if probes != setup.all_probes:
            append.append("harness.probes=" + ",".join(probes))
        if opts.floor:
            append.append("harness.mode=floor")
        spec = vm_spec(
            kernel,
            setup.initrd,
            append,
            opts,
            setup.accel,
            setup.profile,
            _short_socket_path(directory),
            directory / "qemu.pid",
        )
        if setup.disk is not None:
            return self.boot_over_ssh(kernel, setup, name, probes, directory, spec)
        (directory / "repro.sh").write_text(
            "#!/bin/sh\n# The exact QEMU command of this boot; the serial console is on stdio.\n"
            f'exec {spec.shell()} "$@"\n'
        )
        (directory / "repro.sh").chmod(0o755)
        if name == "main" or "cmdline" not in self.results:
            self.results.update(cmdline=spec.cmdline, qemu={"binary": opts.qemu, "argv": spec.argv()})
        self.save()
        what = "" if name == "main" else f" [isolated: {name}]"
        what += " [EMULATED confidential guest]" if setup.profile.emulated else ""
        self.log(
            f"booting {kernel.label} ({setup.accel}, {opts.memory_mib} MiB, {opts.vcpus} vCPU){what} in {directory}"
        )
        vm = run_vm(spec, directory, setup.timeouts)
        console_text = (directory / "console.log").read_bytes().decode(errors="replace")
        t = parse_console(console_text)
        _write_dmesg(directory, t, console_text)
        ktap_text = t.sections.get("ktap", "")
        (directory / "probe.ktap").write_text(normalize(ktap_text).strip() + "\n")
        return Boot(name, directory, probes, vm, t, parse_ktap(ktap_text))

    def boot_over_ssh(
        self, kernel: Kernel, setup: GuestSetup, name: str, probes: list[str], directory: Path, spec: VMSpec
    ) -> Boot:
        """A disk-image guest: the same probes and sections, reached over SSH (harness/disk_guest.py)."""
        from .disk_guest import run_disk_guest
        from .qemu_cmd import SPARE_PCI_ID
        from .transport import REMOTE_DIR

        probe_args = [f"{REMOTE_DIR}/devmem-probe", "--spare-pci", SPARE_PCI_ID]
        if probes != setup.all_probes:
            probe_args += ["--only", ",".join(probes)]
        files = {
            f"{REMOTE_DIR}/devmem-probe": setup.probe,
            f"{REMOTE_DIR}/collect-facts.sh": paths.GUEST_IMAGES / "collect-facts.sh",
        }
        spare = [m for m in kernel.modules if m.name == "e1000.ko"]
        if spare and setup.disk.built:  # the probes bind the spare device with it (a user's kernel has its own)
            files["/lib/modules/e1000.ko"] = spare[0]
        self.results.setdefault("ssh", {})
        self.save()
        self.log(f"booting {kernel.label} from {setup.disk.path} ({setup.accel}, over SSH) in {directory}")
        facts_args = [] if setup.disk.built else ["--kconfig"]
        vm, session, dspec = run_disk_guest(
            spec, directory, setup.timeouts, setup.disk, probe_args, files, facts_args, self.warn
        )
        (directory / "repro.sh").write_text(
            "#!/bin/sh\n# The exact QEMU command of this boot; the console goes to console.log.\n"
            f'exec {dspec.shell()} "$@"\n'
        )
        (directory / "repro.sh").chmod(0o755)
        if name == "main" or "cmdline" not in self.results:
            self.results.update(cmdline=dspec.cmdline, qemu={"binary": self.opts.qemu, "argv": dspec.argv()})
        self.results["ssh"][name] = {"port": session.port if session else None, "reached": session is not None}
        ssh_text = session.text if session else ""
        (directory / "ssh-session.log").write_text(ssh_text)
        console_text = (directory / "console.log").read_bytes().decode(errors="replace")
        # Panics and oopses from the console, the sections from the SSH session.
        t = parse_console(console_text + "\n" + ssh_text)
        _write_dmesg(directory, t, console_text)
        if not setup.disk.built:  # a user's image: its kernel's config comes from the guest
            kconfig = t.sections.get("kconfig", "").strip()
            if kconfig in ("", "absent"):
                self.warn("the guest has no /proc/config.gz or /boot/config-<release>: every CONFIG_ reads unset")
                kconfig = ""
            (directory / "guest.config").write_text(kconfig + "\n")
        ktap_text = t.sections.get("ktap", "")
        (directory / "probe.ktap").write_text(normalize(ktap_text).strip() + "\n")
        return Boot(name, directory, probes, vm, t, parse_ktap(ktap_text))

    def warn(self, message: str) -> None:
        self.results.setdefault("warnings", []).append(message)
        self.log(f"warning: {message}")

    def conclude(self, oracle: Oracle, kernel: Kernel, selection: list[str], boots: list[Boot]) -> int:
        main = boots[0]
        t, vm = main.transcript, main.vm
        guest_cmdline = t.sections.get("cmdline", "").strip() or self.results.get("cmdline", "")
        version, version_from = kernel_version(kernel, t.sections.get("uname", ""))
        dmesg = t.sections.get("dmesg", "")
        p = self.profile
        facts = derive_facts(
            kernel.symbols,
            guest_cmdline,
            version,
            kind=self.profile_kind,
            confidential=bool(p and p.confidential),
            emulated=bool(p and p.emulated),
        )
        facts["memory_encryption"] = memory_encryption(dmesg)
        facts["modules_from"] = kernel.modules_from
        verdicts: list[Verdict] = []
        if not self.opts.floor:
            verdicts = [self._judge_probe(oracle, name, boots, facts) for name in selection]
        proof = self._confidential_proof(t)
        if proof:
            for v in verdicts:
                v.verdict, v.reason = "error", f"the guest did not prove it is confidential: {proof}"
        interrupted = any(b.vm.outcome == "interrupted" for b in boots)
        last = boots[-1].vm
        recovered = all(b.vm.outcome == "completed" or b.terminated for b in boots)
        outcome = "interrupted" if interrupted else ("completed" if recovered else last.outcome)
        if self.opts.floor:
            verdict = "pass" if vm.outcome == "completed" else "error"
        else:
            verdict = overall_verdict(verdicts, outcome)
        lockdown_seen = t.sections.get("lockdown", "").strip() or None
        self.results.update(
            verdict=verdict,
            outcome=outcome,
            cause=vm.cause if not interrupted else "host",
            detail=vm.detail,
            stage=vm.stage,
            kernel={
                **self.results.get("kernel", {}),
                "release": (t.sections.get("uname") or "").strip() or kernel.release,
            },
            cmdline=guest_cmdline,
            facts={
                "lockdown_expected": facts["lockdown"],
                "lockdown_observed": lockdown_seen,
                "iomem": facts["iomem"],
                "kind": facts["kind"],
                "confidential": facts["confidential"],
                "emulated": facts["emulated"],
                "version": version,
                "version_from": version_from,
                "memory_encryption": facts["memory_encryption"],
                "panic": t.panic,
                "oopses": t.oopses[:20],
                "e820": e820_map(dmesg),
                "iomem_layout": iomem_top_level(t.sections.get("iomem", "")),
            },
            exit={"qemu": vm.qemu_exit, "qemu_signal": vm.qemu_signal, "probe": t.probe_exit},
            durations={**vm.durations, "all_boots": round(sum(b.vm.durations.get("total", 0) for b in boots), 3)},
            events=vm.events,
            counts=counts(verdicts),
            probes=probe_entries(verdicts),
            boots=[_boot_summary(b, self.run_dir) for b in boots],
            terminations=[_termination(b) for b in boots if b.terminated],
            confidential_proof=None if not self.profile or not self.profile.confidential else (proof or "proven"),
        )
        warnings = list(self.results.get("warnings") or [])
        if version is None:
            warnings.append(
                "the kernel's version is unknown (no version in its config header or image, no uname -r from the"
                " guest): every probe whose expectation depends on the version is an error"
            )
        warnings += [f"the guest's init could not load {failed}" for failed in failed_modules(t)]
        if lockdown_seen and f"[{facts['lockdown']}]" not in lockdown_seen:
            warnings.append(
                f"lockdown: expected [{facts['lockdown']}] from config and cmdline, guest shows {lockdown_seen}"
            )
        for b in boots:
            if b.doc.garbage:
                warnings.append(f"{b.name}: {len(b.doc.garbage)} non-KTAP line(s) inside the probe output")
            if b.transcript.probe_exit not in (0, None):
                warnings.append(f"{b.name}: the probe binary exited with status {b.transcript.probe_exit}")
        self.results["warnings"] = warnings
        self.save()
        suite = f"devmem-harness.{self.opts.profile}"
        props = {
            "kernel": self.results["kernel"]["release"] or "",
            "cmdline": guest_cmdline,
            "outcome": outcome,
            "accel": self.results.get("accel", ""),
            "emulated": "yes" if facts["emulated"] else "no",
        }
        write_junit(self.run_dir / "junit.xml", verdicts, suite, props)
        header = [f"devmem-harness {self.opts.profile} kernel {props['kernel']} outcome {outcome}"]
        if facts["emulated"]:
            header.append(EMULATED_NOTE)
        write_ktap(self.run_dir / "results.ktap", verdicts, header)
        return exit_code(verdict, outcome)

    def _judge_probe(self, oracle: Oracle, name: str, boots: list[Boot], facts: dict) -> Verdict:
        ran = [b for b in boots if name in b.probes]
        if not ran:
            return oracle.judge(name, None, facts, "not run: the run was interrupted before its boot")
        boot = next((b for b in ran if name in b.doc.by_name() or b.terminated == name), ran[-1])
        result = boot.doc.by_name().get(name)
        if result is None and boot.terminated == name:
            # The guest died under this probe: that is the observation.
            result = KtapResult(
                number=0,
                name=name,
                ok=False,
                observation={"outcome": "guest-terminated", "how": boot.vm.outcome, "boot": boot.name},
            )
        dmesg = boot.transcript.sections.get("dmesg", "")
        warnings = warnings_by_probe(dmesg).get(name)
        log = lines_by_probe(dmesg).get(name)
        return oracle.judge(name, result, facts, _missing_reason(boot.vm, boot.transcript), warnings, log)

    def _confidential_proof(self, t: GuestTranscript) -> str | None:
        """None when the guest proved what the profile says it is, else what was missing."""
        p = self.profile
        if not p or not p.confidential:
            return None
        missing = []
        dmesg = t.sections.get("dmesg", "")
        missing += [f"dmesg lacks {line!r}" for line in p.proof_dmesg if line not in dmesg]
        if p.proof_device and p.proof_device not in t.sections.get("ccdevices", ""):
            missing.append(f"{p.proof_device} is absent")
        return "; ".join(missing) or None

    def fail_early(self, outcome: str, cause: str, detail: str) -> None:
        self.results.update(verdict="error", outcome=outcome, cause=cause, detail=detail)
        self.save()


def kernel_version(kernel: Kernel, uname: str) -> tuple[str | None, str | None]:
    """The kernel's version and where it came from: its config header or image, else the guest's uname -r."""
    if kernel.version:
        return kernel.version, "kernel"
    uname = uname.strip()
    if uname and uname != "absent" and re.match(r"\d+\.\d+", uname):
        return uname, "uname -r"
    return None, None


def _termination(b: Boot) -> dict:
    console = normalize((b.directory / "console.log").read_bytes().decode(errors="replace")).strip().split("\n")
    return {
        "probe": b.terminated,
        "boot": b.name,
        "outcome": b.vm.outcome,
        "detail": b.vm.detail,
        "qemu_exit": b.vm.qemu_exit,
        "qemu_signal": b.vm.qemu_signal,
        "events": b.vm.events,
        "last_console_lines": console[-15:],
    }


def _boot_summary(b: Boot, run_dir: Path) -> dict:
    return {
        "name": b.name,
        "dir": str(b.directory.relative_to(run_dir)) if b.directory != run_dir else ".",
        "probes": b.probes,
        "outcome": b.vm.outcome,
        "cause": b.vm.cause,
        "detail": b.vm.detail,
        "exit": {"qemu": b.vm.qemu_exit, "probe": b.transcript.probe_exit},
        "durations": b.vm.durations,
    }


def _write_dmesg(directory: Path, t: GuestTranscript, console_text: str) -> None:
    dmesg = t.sections.get("dmesg")
    if dmesg is not None and "dmesg" not in t.incomplete:
        text = normalize(dmesg).strip() + "\n"
    else:
        # The guest never dumped dmesg: what the kernel printed on the console is all there is.
        text = "# dmesg was not dumped by the guest; this is the kernel's console output so far\n" + normalize(
            console_text
        )
    (directory / "dmesg.txt").write_text(text)


def _missing_reason(vm: VMResult, t: GuestTranscript) -> str:
    if vm.outcome == "completed":
        if t.probe_exit not in (0, None):
            return f"no result: the probe binary exited with status {t.probe_exit} before reporting it"
        return "no result: the probe binary did not report this probe"
    return f"no result: the guest ended ({vm.outcome}: {vm.detail}) before this probe reported"


def print_summary(results: dict) -> None:
    verdicts = [Verdict(**{k: v for k, v in p.items() if k in Verdict.__dataclass_fields__}) for p in results["probes"]]
    if verdicts:
        print(summary_table(verdicts))
    if results.get("emulated"):
        print(EMULATED_NOTE)
    for warning in results.get("warnings") or []:
        print(f"warning: {warning}")
    c = results.get("counts", {})
    print(
        f"verdict: {results['verdict']}  outcome: {results['outcome']} ({results['detail']})  "
        f"pass {c.get('pass', 0)}, fail {c.get('fail', 0)}, known-issue {c.get('known-issue', 0)}, "
        f"skip {c.get('skip', 0)}, not-run {c.get('not-run', 0)}, error {c.get('error', 0)}  "
        f"[{results.get('durations', {}).get('all_boots', 0):.1f} s]"
    )


def _require_kernel_symbols(profile: Profile, kernel: Kernel) -> None:
    from .errors import RequirementMissing

    symbols = kernel.symbols
    missing = [s for s in profile.kernel_symbols if symbols.get(s, "n") == "n"]
    if missing:
        raise RequirementMissing(
            f"profile {profile.name}: the guest kernel lacks {', '.join('CONFIG_' + m for m in missing)}",
            f"build one with --source ... --kconfig {profile.kind}-guest"
            if profile.kind in ("tdx", "sev-snp")
            else (f"drop --kernel: profile {profile.name} builds its own kernel" if profile.build else None),
        )


def _dry_run(opts: RunOptions, kernel: Kernel, profile: Profile) -> RunReport:
    """Print the exact QEMU command a run would use, without booting or checking the host."""
    initrd = build_initramfs(build_probe(), kernel.modules, kernel.load)
    accel = "kvm" if profile.accelerator == "kvm" else pick_accel(opts.accel, opts.qemu)[0]
    spec = vm_spec(kernel, initrd, [*profile.append, *opts.append], opts, accel, profile, Path("qmp.sock"))
    print(spec.shell())
    return RunReport(Path("."), {"dry_run": True, "argv": spec.argv()}, 0)


def apply_profile_build(opts: RunOptions, profile: Profile) -> None:
    """A profile that builds its kernel (cc-sim): its source unless the run names a kernel or a tree,
    and always its fragments and patches first (kbuild skips a patch a user's tree already carries)."""
    from .kbuild import resolve_fragment, resolve_patch

    if profile.build is None or opts.kernel:
        return
    opts.source = opts.source or profile.build.source
    fragments = [resolve_fragment(k) for k in profile.build.kconfig]
    patches = [resolve_patch(p) for p in profile.build.patches]
    opts.kconfig = fragments + [k for k in opts.kconfig if k not in fragments]
    opts.patches = patches + [p for p in opts.patches if p not in patches]


def build_for_run(opts: RunOptions) -> Kernel:
    from .kbuild import BuildRequest, build_kernel

    if opts.kernel:
        raise BadInput("--kernel and --source exclude each other", "boot a prebuilt kernel or build one, not both")
    if not opts.quiet:
        print(f"harness: building the kernel from {opts.source} (cached when unchanged)", file=sys.stderr, flush=True)
    result = build_kernel(BuildRequest(opts.source, tuple(opts.kconfig), tuple(opts.patches), opts.base))
    if not opts.quiet:
        how = "cache hit" if result.cached else "built"
        print(f"harness: kernel {how} in {result.seconds:.1f} s: {result.kernel.image}", file=sys.stderr, flush=True)
    return result.kernel


def run(opts: RunOptions) -> RunReport:
    """The `run` command. Raises HarnessError for bad input before anything boots."""
    catalog = KernelCatalog.load()
    profile = load_profile(opts.profile)
    if opts.memory_mib is None:
        opts.memory_mib = profile.memory_mib
    if not opts.dry_run:
        from .doctor import require_profile

        require_profile(profile, opts.qemu, opts.firmware)
    oracle = Oracle.load(opts.expectations)
    infos = list_probes(build_probe())
    selection = select_probes(opts.probes, [p.name for p in infos])
    apply_profile_build(opts, profile)
    user_image = opts.transport == "ssh" and opts.image is not None
    if opts.image is not None and opts.transport != "ssh":
        raise BadInput("--image needs --transport ssh")
    if opts.modules and (opts.source or not opts.kernel or opts.kernel.startswith("deb:")):
        raise BadInput("--modules goes with --kernel PATH", "packaged and built kernels bring their own modules")
    if user_image:
        if opts.ssh_key is None:
            raise BadInput("--image needs --ssh-key (the private key that logs in as --ssh-user)")
        if opts.kernel or opts.source:
            raise BadInput("--image boots the image's own kernel", "drop --kernel/--source, or drop --image")
        # Its config is read from the guest (/proc/config.gz or /boot/config-*) once it is up.
        kernel = Kernel(image=opts.image, config_path=Path("/nonexistent"), source=f"image:{opts.image}")
    elif opts.source:
        kernel = build_for_run(opts)
    else:
        kernel = resolve_kernel(opts.kernel, opts.kernel_config, catalog, opts.modules)
    if not user_image:
        _require_kernel_symbols(profile, kernel)
    if opts.dry_run:
        return _dry_run(opts, kernel, profile)
    # Dangerous probes can only take down a guest that hardware protects.
    isolate = opts.isolate == "always" or (opts.isolate == "auto" and profile.confidential and not profile.emulated)
    plan = [("main", selection)] if opts.floor else plan_boots(selection, infos, isolate)
    r = Run(opts, profile)
    r.prepare_dir(catalog.default)
    try:
        setup = r.setup_guest(kernel, profile)
        boots: list[Boot] = []
        pending = list(plan)
        resumes = 0
        while pending:
            name, probes = pending.pop(0)
            boot = r.boot(kernel, setup, name, probes)
            boots.append(boot)
            if boot.vm.outcome == "interrupted":
                break
            boot.terminated = boot.died_under()
            if boot.terminated:
                # The guest died under a probe: that is its observation; the rest go on in a fresh boot.
                rest = [p for p in probes if p not in boot.doc.by_name() and p != boot.terminated]
                r.log(f"the guest died under {boot.terminated} ({boot.vm.outcome}: {boot.vm.detail})")
                if rest and resumes < MAX_RESUMES:
                    resumes += 1
                    pending.insert(0, (f"resume-{resumes}", rest))
        guest_config = r.run_dir / "guest.config"
        if user_image and guest_config.is_file():
            kernel = dataclasses.replace(
                kernel, config_path=guest_config, version=config_version(guest_config.read_text())
            )
        code = r.conclude(oracle, kernel, selection, boots)
    except HarnessError as exc:
        r.fail_early("qemu-failed" if r.results.get("outcome") == "running" else "not-started", "host", exc.line())
        raise
    except KeyboardInterrupt:
        r.fail_early("interrupted", "host", "interrupted by the user before the guest started")
        return RunReport(r.run_dir, r.results, exit_code("error", "interrupted"))
    if not opts.quiet:
        if not opts.floor:
            print_summary(r.results)
        print(f"results: {r.run_dir}")
    return RunReport(r.run_dir, r.results, code)
