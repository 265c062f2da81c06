# SPDX-License-Identifier: GPL-2.0-only
"""One run end to end: plan (options, kernel, probes) -> boot loop -> assemble (verdicts, results).

Everything that can be refused is refused in the plan, before the run directory
exists or anything slow happens.  The run directory and its results.json
(records/record.py) are made next, so an interrupted, timed-out or crashed run still
says what happened.  The boot loop (boots.py) boots the guest as often as the
plan and the guest's deaths need; judging is a pure function (judging/conclusion.py).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths
from ..cache import take_warnings
from ..errors import BadInput, HarnessError, HostFault, RequirementMissing
from ..judging.conclusion import Conclusion, RunFacts, conclude
from ..judging.observed import Boot
from ..judging.oracle import LOCKDOWN_LEVELS, Oracle, cmdline_params
from ..judging.verdicts import exit_code
from ..kernels.kbuild import BuildRequest, build_kernel, resolve_fragment, resolve_patch
from ..kernels.kconfig import config_version
from ..kernels.kernel import Kernel, KernelCatalog, resolve_kernel
from ..kernels.spare import SpareChoice, for_kernel, for_unknown_kernel, guest_modules
from ..records.record import RunRecord
from ..records.results import print_summary, write_reports
from ..records.rundir import create_run_dir, kernel_label, point_latest, run_identity
from ..vocabulary import Cause, Outcome, Verdict
from . import firmware, kvm_memory
from .boots import BootContext, boot, kvm_failed_early, plan_boots
from .guest_setup import fall_back_to_tcg, prepare_guest, vm_spec
from .host_checks import require_profile
from .initramfs import build_initramfs
from .probe_binary import build_probe, list_probes, select_probes
from .profiles import Profile, load_profile
from .qemu_cmd import BASE_APPEND, DEFAULT_QEMU, pick_accel

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
    shutdown_timeout: float | None = None
    profile: str = "plain"
    isolate: str = "auto"  # auto | always | never: dangerous probes in boots of their own
    host_memory_check: str = "auto"  # auto | always | never: the host looks for the guest's marker (auto: cc)
    source: str | None = None  # build the kernel from this tree (or deb:linux-source-*) ...
    kconfig: list[Path] = field(default_factory=list)  # ... with these fragments
    patches: list[Path] = field(default_factory=list)
    base: str = "tinyconfig"
    firmware: str | None = None  # confidential guests: TDVF / SNP OVMF (default: from QEMU's firmware descriptors)
    dry_run: bool = False  # print the QEMU command line and stop
    floor: bool = False  # boot to an init that powers off at once (the benchmark's floor)
    quiet: bool = False
    transport: str = "serial"  # serial: busybox initramfs, console; ssh: a disk image reached over SSH
    image: Path | None = None  # ssh: a user's qcow2 (default: the harness's Debian image for the kernel)
    ssh_user: str = "root"
    ssh_key: Path | None = None
    spare: str | None = None  # --spare: force this spare PCI device (harness/data/spares.yaml)

    @property
    def user_image(self) -> bool:
        return self.transport == "ssh" and self.image is not None


@dataclass
class RunReport:
    run_dir: Path
    results: dict
    exit_code: int


@dataclass
class RunPlan:
    """What a run will do, decided before anything boots."""

    profile: Profile
    oracle: Oracle
    selection: list[str]
    kernel: Kernel
    boots: list[tuple[str, list[str]]]
    default_kernel: str
    spare: SpareChoice


# ------------------------------------------------------------------ plan


def validate(opts: RunOptions) -> None:
    """The options that exclude or need each other, checked together: BadInput names the way out."""
    if opts.image is not None and opts.transport != "ssh":
        raise BadInput("--image needs --transport ssh")
    if opts.modules and (opts.source or not opts.kernel or opts.kernel.startswith("deb:")):
        raise BadInput("--modules goes with --kernel PATH", "packaged and built kernels bring their own modules")
    if opts.user_image:
        if opts.ssh_key is None:
            raise BadInput("--image needs --ssh-key (the private key that logs in as --ssh-user)")
        if opts.kernel or opts.source:
            raise BadInput("--image boots the image's own kernel", "drop --kernel/--source, or drop --image")
    if opts.kernel and opts.source:
        raise BadInput("--kernel and --source exclude each other", "boot a prebuilt kernel or build one, not both")


def plan_run(opts: RunOptions) -> RunPlan:
    """Everything a run can refuse, refused here (HarnessError) before the run directory exists."""
    catalog = KernelCatalog.load()
    profile = load_profile(opts.profile)
    if opts.memory_mib is None:
        opts.memory_mib = profile.memory_mib
    require_guest_fits(opts, profile)  # before a kernel is fetched or built
    if not opts.dry_run:
        require_profile(profile, opts.qemu, opts.firmware)
    firmware.choose(profile.firmware, profile.name, opts.firmware, opts.qemu)  # --dry-run too: never a guessed path
    oracle = Oracle.load(opts.expectations)
    infos = list_probes(build_probe())
    selection = select_probes(opts.probes, [p.name for p in infos])
    apply_profile_build(opts, profile)
    validate(opts)
    kernel = choose_kernel(opts, catalog)
    if not opts.user_image:
        require_kernel_symbols(profile, kernel)
        require_lockdown_honoured(kernel, [*profile.append, *opts.append])
    spare = for_unknown_kernel(opts.spare) if opts.user_image else for_kernel(kernel, opts.spare)
    # Dangerous probes can only take down a guest that hardware protects.
    isolate = opts.isolate == "always" or (opts.isolate == "auto" and profile.confidential and not profile.emulated)
    boots = [("main", selection)] if opts.floor else plan_boots(selection, infos, isolate)
    return RunPlan(profile, oracle, selection, kernel, boots, catalog.default, spare)


def choose_kernel(opts: RunOptions, catalog: KernelCatalog) -> Kernel:
    if opts.user_image:
        # Its config is read from the guest (/proc/config.gz or /boot/config-*) once it is up.
        return Kernel(image=opts.image, config_path=Path("/nonexistent"), source=f"image:{opts.image}")
    if opts.source:
        return build_for_run(opts)
    return resolve_kernel(opts.kernel, opts.kernel_config, catalog, opts.modules)


def apply_profile_build(opts: RunOptions, profile: Profile) -> None:
    """A profile that builds its kernel (cc-sim): its source unless the run names a kernel or a tree,
    and always its fragments and patches first (kbuild skips a patch a user's tree already carries)."""
    if profile.build is None or opts.kernel:
        return
    opts.source = opts.source or profile.build.source
    fragments = [resolve_fragment(k) for k in profile.build.kconfig]
    patches = [resolve_patch(p) for p in profile.build.patches]
    opts.kconfig = fragments + [k for k in opts.kconfig if k not in fragments]
    opts.patches = patches + [p for p in opts.patches if p not in patches]


def build_for_run(opts: RunOptions) -> Kernel:
    _log(opts, f"building the kernel from {opts.source} (cached when unchanged)")
    result = build_kernel(
        BuildRequest(opts.source, tuple(opts.kconfig), tuple(opts.patches), opts.base), None, not opts.quiet
    )
    _log(opts, f"kernel {'cache hit' if result.cached else 'built'} in {result.seconds:.1f} s: {result.kernel.image}")
    return result.kernel


def require_kernel_symbols(profile: Profile, kernel: Kernel) -> None:
    missing = [s for s in profile.kernel_symbols if kernel.symbols.get(s, "n") == "n"]
    if missing:
        raise RequirementMissing(
            f"profile {profile.name}: the guest kernel lacks {', '.join('CONFIG_' + m for m in missing)}",
            f"build one with --source ... --kconfig {profile.kind}-guest"
            if profile.kind in ("tdx", "sev-snp")
            else (f"drop --kernel: profile {profile.name} builds its own kernel" if profile.build else None),
        )


# x86's COMMAND_LINE_SIZE: the kernel keeps 2047 bytes and a NUL, and drops the rest without a word.
CMDLINE_MAX = 2047
# Below this the busybox guest does not reach its init under TCG (measured: 128 MiB boots; 16 panics).
MIN_MEMORY_MIB = 128
# What the harness adds besides the user's words, at most: the spare device's words (its PCI id, name,
# driver, BAR and modules) and a boot's own (harness.marker=...).
HARNESS_WORDS = 320


def require_guest_fits(opts: RunOptions, profile: Profile) -> None:
    """The machine the user asked for can run the guest: bad input, said before the boot, never a kernel verdict."""
    if opts.memory_mib is not None and opts.memory_mib < MIN_MEMORY_MIB:
        raise BadInput(
            f"--memory {opts.memory_mib}: the guest needs at least {MIN_MEMORY_MIB} MiB",
            f"use --memory {MIN_MEMORY_MIB} or more (the default is {profile.memory_mib})",
        )
    length = len(" ".join([*BASE_APPEND, *profile.append, *opts.append])) + HARNESS_WORDS
    if length > CMDLINE_MAX:
        raise BadInput(
            f"--append: the kernel command line would be {length} bytes, {length - CMDLINE_MAX} over x86's"
            f" {CMDLINE_MAX + 1}-byte COMMAND_LINE_SIZE (the kernel would cut the harness's own words)",
            "shorten --append",
        )


def require_lockdown_honoured(kernel: Kernel, append: list[str]) -> None:
    """`lockdown=` asked of a kernel that cannot honour it is bad input, refused before the boot: judged, its
    unlocked guest would pass every probe (and fail run.asked.lockdown for the user's mistake)."""
    params = cmdline_params(" ".join(append))
    level = params.get("lockdown")
    if level is None:
        return
    if level not in LOCKDOWN_LEVELS:
        raise BadInput(
            f"--append lockdown={level}: not a lockdown level", "use lockdown=integrity or lockdown=confidentiality"
        )
    if level == "none" or not kernel.symbols:  # a kernel without a config: the guest's report decides
        return
    if kernel.symbols.get("SECURITY_LOCKDOWN_LSM", "n") != "y":
        raise BadInput(
            f"--append lockdown={level}: kernel {kernel.label} is built without CONFIG_SECURITY_LOCKDOWN_LSM,"
            " so nothing would lock it down",
            "drop lockdown= or boot a kernel built with CONFIG_SECURITY_LOCKDOWN_LSM=y (--kconfig lockdown-forced)",
        )
    lsms = params.get("lsm")
    early = kernel.symbols.get("SECURITY_LOCKDOWN_LSM_EARLY") == "y"
    if lsms is not None and "lockdown" not in lsms.split(",") and not early:
        raise BadInput(
            f"--append lockdown={level} with lsm={lsms}: the lockdown LSM is not in the list, so it never starts",
            "add lockdown to lsm= or drop lsm=",
        )


def dry_run(opts: RunOptions, plan: RunPlan) -> RunReport:
    """Print the exact QEMU command a run would use, without booting or checking the host."""
    kernel, profile = plan.kernel, plan.profile
    initrd = build_initramfs(build_probe(), guest_modules(kernel, plan.spare), kernel.load)
    accel = "kvm" if profile.accelerator == "kvm" else pick_accel(opts.accel, opts.qemu)[0]
    append = [*profile.append, *opts.append]
    spec = vm_spec(kernel, initrd, append, opts, accel, profile, Path("qmp.sock"), spare=plan.spare)
    print(spec.shell())
    return RunReport(Path("."), {"dry_run": True, "argv": spec.argv()}, 0)


# ------------------------------------------------------------------ boot loop and assembly


def boot_all(ctx: BootContext, plan: list[tuple[str, list[str]]]) -> list[Boot]:
    """Every planned boot; when the guest dies under a probe, the probes after it run on in a fresh boot."""
    boots: list[Boot] = []
    pending = list(plan)
    resumes = 0
    while pending:
        name, probes = pending.pop(0)
        b = boot(ctx, name, probes)
        if ctx.opts.accel == "auto" and ctx.setup.accel == "kvm" and kvm_failed_early(b):
            ctx.log(f"KVM could not run the guest ({b.vm.detail}); booting again under TCG")
            kvm_memory.remember(ctx.opts.qemu, b.vm.detail)
            fall_back_to_tcg(ctx.setup, ctx.opts, ctx.record, f"the guest died before the kernel spoke ({b.vm.detail})")
            b = boot(ctx, name, probes)
        boots.append(b)
        if b.vm.outcome == Outcome.INTERRUPTED:
            break
        b.terminated = b.died_under()
        if b.terminated:
            rest = [p for p in probes if p not in b.doc.by_name() and p != b.terminated]
            ctx.log(f"the guest died under {b.terminated} ({b.vm.outcome}: {b.vm.detail})")
            if rest and resumes < MAX_RESUMES:
                resumes += 1
                pending.insert(0, (f"resume-{resumes}", rest))
    return boots


def assemble(record: RunRecord, plan: RunPlan, opts: RunOptions, boots: list[Boot]) -> int:
    """Judge the boots and record it all: results.json, junit.xml, results.ktap. The exit code."""
    kernel = plan.kernel
    guest_config = record.run_dir / "guest.config"
    if opts.user_image and guest_config.is_file():
        kernel = dataclasses.replace(kernel, config_path=guest_config, version=config_version(guest_config.read_text()))
    facts = RunFacts(
        opts.profile, plan.profile, opts.floor, record.data.get("cmdline", ""), record.run_dir, plan.spare.record()
    )
    c: Conclusion = conclude(plan.oracle, kernel, plan.selection, boots, facts)
    record.update(
        **c.results,
        kernel={**record.data.get("kernel", {}), "release": c.release},
        warnings=list(record.data.get("warnings") or []) + c.warnings,
    )
    write_reports(record.run_dir, c.verdicts, record.data, EMULATED_NOTE)
    return c.code


def run(opts: RunOptions) -> RunReport:
    """The `run` command. Raises HarnessError for bad input before anything boots."""
    plan = plan_run(opts)
    if opts.dry_run:
        return dry_run(opts, plan)
    runs_dir = (opts.runs_dir or paths.default_runs_dir()).resolve()
    run_dir = create_run_dir(runs_dir, opts.profile, kernel_label(opts, plan.default_kernel), run_identity(opts))
    record = RunRecord.create(run_dir, opts.profile, plan.profile.emulated, time.time())
    point_latest(runs_dir, run_dir)

    def warn(message: str) -> None:
        record.warn(message)
        _log(opts, f"warning: {message}")

    try:
        setup = prepare_guest(opts, plan.kernel, plan.profile, plan.spare, record, lambda m: _log(opts, m), warn)
        for message in take_warnings():  # cached artifacts that failed their seal and were made again
            record.warn(message)
        ctx = BootContext(plan.kernel, setup, opts, record, lambda m: _log(opts, m), warn)
        code = assemble(record, plan, opts, boot_all(ctx, plan.boots))
    except HarnessError as exc:
        outcome = Outcome.QEMU_FAILED if record.started_guest else Outcome.NOT_STARTED
        cause = Cause.INPUT if isinstance(exc, BadInput) else Cause.HOST
        record.fail(Outcome.HOST_FAULT if isinstance(exc, HostFault) else outcome, cause, exc.line(), plan.selection)
        raise
    except OSError as exc:  # the disk filled up or went read-only under the run
        fault = HostFault.from_os_error(exc, "running the guest")
        fault.run_dir = run_dir
        record.fail_quietly(Outcome.HOST_FAULT, Cause.HOST, fault.line(), plan.selection)
        raise fault from None
    except KeyboardInterrupt:
        record.fail(Outcome.INTERRUPTED, Cause.HOST, "interrupted (SIGINT, SIGTERM or SIGHUP) before the guest started")
        return RunReport(run_dir, record.data, exit_code(Verdict.ERROR, Outcome.INTERRUPTED))
    record.close()
    if not opts.quiet:
        if not opts.floor:
            print_summary(record.data, EMULATED_NOTE)
        print(f"results: {run_dir}")
    return RunReport(run_dir, record.data, code)


def _log(opts: RunOptions, message: str) -> None:
    if not opts.quiet:
        print(f"harness: {message}", file=sys.stderr, flush=True)
