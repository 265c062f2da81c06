# SPDX-License-Identifier: GPL-2.0-only
"""`harness lava-job`: the probe suite as a LAVA QEMU job, for labs that test kernels at scale.

The job boots the same machine `run` boots: the QEMU command line comes from the same
`VMSpec`, split into what LAVA's qemu device type owns (machine, CPU, memory, kernel,
initrd, console) and `extra_options` for the rest (the spare e1000, pvpanic, a
profile's objects).  The guest is the harness's initramfs booted with
`harness.mode=lava`: init waits at a shell, LAVA's test shell runs the test definition
guest-images/lava/devmem-probes.yaml, and `harness judge --lava` judges the job log.
"""

from __future__ import annotations

import dataclasses
import gzip
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from .. import paths
from ..errors import BadInput
from ..guests.guest_setup import vm_spec
from ..guests.initramfs import SUITE_SCRIPT, build_initramfs
from ..guests.probe_binary import build_probe
from ..guests.qemu_cmd import VMSpec
from ..guests.runner import RunOptions, plan_run
from ..kernels.spare import guest_modules
from ..records.rundir import kernel_label

TEST_DEFINITION = paths.GUEST_IMAGES / "lava" / "devmem-probes.yaml"
PROMPT = "devmem-harness# "  # init.sh's PS1 in harness.mode=lava
LAVA_MODE = "harness.mode=lava"
KERNEL_NAME = "vmlinuz"
RAMDISK_NAME = "devmem-initramfs.cpio.gz"
OVERLAY_NAME = "devmem-overlay.tar.gz"  # the suite for a lab's own rootfs
ROOTFS_PROMPTS = ["root@(.*):[/~]#", "[/~] #"]  # a lab rootfs's root shell (tuxrun's, KernelCI's)
COMPRESSIONS = {".gz": "gz", ".xz": "xz", ".zst": "zstd", ".bz2": "bz2"}
METADATA_PREFIX = "devmem-harness."

# QEMU options LAVA's qemu device type writes itself (-nographic puts the console on stdio).
OWNED = {"-machine", "-cpu", "-m", "-accel", "-kernel", "-initrd", "-append", "-serial", "-display", "-qmp", "-pidfile"}
# -nodefaults also drops the serial console LAVA reads (its -nographic only redirects a default one).
NODEFAULTS = ["-nodefaults", "-serial stdio"]


@dataclass(frozen=True)
class JobInputs:
    """What a job is made of: the boot spec, and what `harness judge` needs to know about it."""

    spec: VMSpec
    kernel_spec: str  # the --kernel the job boots ("" for the default or a profile's build), for judge
    kernel_config: str
    profile: str
    label: str
    append: tuple[str, ...] = ()
    rootfs: str | None = None  # a lab's cpio ramdisk (URL) instead of the harness's initramfs
    login: str = "root"  # its login prompt's user
    prompts: tuple[str, ...] = ()  # its shell prompts, beside the usual ones
    modules: tuple[Path, ...] = ()  # the kernel's spare-device and pvpanic modules, for that rootfs
    spare: str = ""  # --spare, when the job forces a spare device


def job_inputs(
    opts: RunOptions, rootfs: str | None = None, login: str = "root", prompts: tuple[str, ...] = ()
) -> JobInputs:
    """The machine `run` would boot for these options, planned the same way (nothing is booted)."""
    opts = dataclasses.replace(opts, dry_run=True)  # the lab has the hardware, not necessarily this host
    plan = plan_run(opts)
    kernel = plan.kernel
    modules = guest_modules(kernel, plan.spare)
    initrd = build_initramfs(build_probe(), modules, kernel.load)
    accel = "kvm" if plan.profile.accelerator == "kvm" else "tcg"
    append = [*plan.profile.append, *opts.append]
    if opts.probes:
        append.append("harness.probes=" + ",".join(plan.selection))
    spec = vm_spec(kernel, initrd, append, opts, accel, plan.profile, None, spare=plan.spare)
    kernel_spec = opts.kernel or (kernel.source if kernel.source.startswith("deb:") else "")
    label = kernel_label(opts, plan.default_kernel)
    if rootfs is not None:
        rootfs_compression(rootfs)  # refused now, not in the lab
    return JobInputs(
        spec,
        kernel_spec,
        opts.kernel_config or "",
        opts.profile,
        label,
        tuple(opts.append),
        rootfs,
        login,
        prompts,
        modules,
        opts.spare or "",
    )


def rootfs_compression(url: str) -> str | None:
    """A rootfs must be a cpio ramdisk (LAVA adds the overlays to it): its compression, from its name."""
    name = url.rsplit("/", 1)[-1]
    suffix = next((s for s in COMPRESSIONS if name.endswith(s)), "")
    if not name.removesuffix(suffix).endswith(".cpio"):
        raise BadInput(f"--rootfs {url}: not a cpio ramdisk (NAME.cpio[.gz|.xz|.zst])", "give the lab's ramdisk")
    return COMPRESSIONS.get(suffix)


def qemu_context(spec: VMSpec) -> dict:
    """LAVA's job context for the spec's machine, with the spec's other options as extra_options."""
    pairs: list[list[str]] = []
    for word in spec.argv()[1:]:  # every option is a "-word", and no value of one starts with "-"
        if word.startswith("-"):
            pairs.append([word])
        else:
            pairs[-1].append(word)
    context = {"arch": "x86_64", "no_kvm": spec.accel != "kvm", "no_network": True}
    extra: list[str] = []
    for option, *value in pairs:
        if option == "-machine":
            context["machine"] = value[0]
        elif option == "-cpu":
            context["cpu"] = value[0]
        elif option == "-m":
            context["memory"] = int(value[0])
        elif option == "-nodefaults":
            extra += NODEFAULTS
        elif option not in OWNED:
            extra.append(" ".join([option, *value]))
    context["extra_options"] = extra
    return context


def read_test_definition() -> dict:
    return yaml.safe_load(TEST_DEFINITION.read_text())


def rootfs_image(inputs: JobInputs, ramdisk_url: str, overlay_url: str | None) -> dict:
    """The harness's initramfs, or the lab's rootfs with the suite as an overlay; LAVA adds its test
    overlay to either cpio before the boot."""
    if inputs.rootfs is None:
        image = {"url": ramdisk_url, "compression": "gz"}
        overlays = {"lava": True}
    else:
        image = {"url": inputs.rootfs}
        if compression := rootfs_compression(inputs.rootfs):
            image["compression"] = compression
        overlays = {"lava": True, "devmem": {"url": overlay_url, "format": "tar", "compression": "gz", "path": "/"}}
    return {"image_arg": "-initrd {rootfs}", **image, "format": "cpio.newc", "overlays": overlays}


def boot_action(inputs: JobInputs) -> dict:
    """To init's prompt (the harness's initramfs), or through the lab rootfs's login prompt."""
    boot = {"method": "qemu", "media": "tmpfs", "timeout": {"minutes": 5}}
    if inputs.rootfs is None:
        return {**boot, "prompts": [PROMPT]}
    return {
        **boot,
        "auto_login": {"login_prompt": "login:", "username": inputs.login},
        "prompts": [*ROOTFS_PROMPTS, *inputs.prompts],
    }


def render_job(
    inputs: JobInputs, kernel_url: str, ramdisk_url: str, overlay_url: str | None = None, minutes: int = 20
) -> dict:
    """The LAVA job (as data): deploy to tmpfs, boot with qemu to a shell prompt, run the definition."""
    spec = inputs.spec
    context = qemu_context(spec)
    append = spec.cmdline if inputs.rootfs else f"{spec.cmdline} {LAVA_MODE}"
    metadata = {
        f"{METADATA_PREFIX}kernel": inputs.kernel_spec,
        f"{METADATA_PREFIX}profile": inputs.profile,
        f"{METADATA_PREFIX}kernel-config": inputs.kernel_config,
        f"{METADATA_PREFIX}append": " ".join(inputs.append),
        f"{METADATA_PREFIX}spare": inputs.spare,
    }
    return {
        "device_type": "qemu",
        "job_name": f"devmem-harness {inputs.profile} on {inputs.label}",
        "priority": "medium",
        "visibility": "public",
        "metadata": metadata,
        "timeouts": {"job": {"minutes": minutes}, "action": {"minutes": minutes // 2}},
        "context": context,
        "actions": [
            {
                "deploy": {
                    "to": "tmpfs",
                    "timeout": {"minutes": 5},
                    "os": "oe",
                    "images": {
                        "kernel": {"image_arg": f'-kernel {{kernel}} -append "{append}"', "url": kernel_url},
                        "rootfs": rootfs_image(inputs, ramdisk_url, overlay_url),
                    },
                }
            },
            {"boot": boot_action(inputs)},
            {
                "test": {
                    "timeout": {"minutes": minutes // 2},
                    "definitions": [
                        {
                            "from": "inline",
                            "name": "devmem-probes",
                            "path": "inline/devmem-probes.yaml",
                            "repository": read_test_definition(),
                        }
                    ],
                }
            },
        ],
    }


def write_job(inputs: JobInputs, out: Path, url_base: str | None = None) -> Path:
    """job.yaml in `out`, with the kernel and the gzipped initramfs beside it (LAVA downloads them)."""
    if url_base is not None and not url_base.startswith(("http://", "https://", "file://")):
        raise BadInput(f"--url-base {url_base}: not a URL", "give http(s)://... or file://... where `out` is served")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(inputs.spec.kernel, out / KERNEL_NAME)
    if inputs.rootfs is None:
        with open(inputs.spec.initrd, "rb") as src, gzip.open(out / RAMDISK_NAME, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst)
    else:
        write_overlay(out / OVERLAY_NAME, inputs.modules)
    base = (url_base or (out.resolve().as_uri())).rstrip("/")
    job = render_job(inputs, f"{base}/{KERNEL_NAME}", f"{base}/{RAMDISK_NAME}", f"{base}/{OVERLAY_NAME}")
    path = out / "job.yaml"
    header = (
        "# A LAVA job rendered by `devmem-harness lava-job`.  Run it on a LAVA dispatcher (or here:\n"
        f"# `devmem-harness lava-run {path.resolve()}`), then judge its log with\n"
        "# `devmem-harness judge --lava LOG --job job.yaml`.\n"
    )
    path.write_text(header + yaml.safe_dump(job, sort_keys=False, width=200))
    return path


def write_overlay(path: Path, modules: tuple[Path, ...]) -> None:
    """The suite for a lab's rootfs: the static probe, /bin/harness-suite and the kernel's spare-device
    module (the probe loads it from /lib/modules) as a tar LAVA unpacks at /."""
    with tarfile.open(path, "w:gz") as tar:
        for name, source, mode in [
            ("bin/devmem-probe", build_probe(), 0o755),
            ("bin/harness-suite", SUITE_SCRIPT, 0o755),
            *[(f"lib/modules/{m.name}", m, 0o644) for m in modules],
        ]:
            info = tar.gettarinfo(str(source), name)
            info.mode, info.uid, info.gid, info.uname, info.gname = mode, 0, 0, "root", "root"
            with open(source, "rb") as f:
                tar.addfile(info, f)


def job_metadata(job_file: Path) -> dict[str, str]:
    """The devmem-harness.* metadata of a rendered job: the kernel, profile, append and probes it ran."""
    try:
        job = yaml.safe_load(job_file.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise BadInput(f"--job {job_file}: not a readable LAVA job ({exc.__class__.__name__})") from None
    meta = (job or {}).get("metadata") or {}
    return {k.removeprefix(METADATA_PREFIX): str(v) for k, v in meta.items() if k.startswith(METADATA_PREFIX)}
