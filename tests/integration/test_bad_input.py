# SPDX-License-Identifier: GPL-2.0-only
"""Bad input: one clear line naming the file, option or name, and the way out; never a traceback."""

import os

import pytest

from ..conftest import harness


def one_line_error(run):
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, run.stderr
    assert "Traceback" not in run.stderr
    return lines[0]


def test_missing_kernel_file(tmp_path):
    run = harness("run", "--kernel", str(tmp_path / "bzImage"), runs_dir=tmp_path)
    assert run.returncode == 2
    assert f"--kernel {tmp_path / 'bzImage'}: no such file" in one_line_error(run)


def boot_header_only(path):
    """The smallest file the x86 boot protocol's header check passes: 'HdrS' at 0x202, five sectors."""
    data = bytearray(5 * 512)
    data[0x202:0x206] = b"HdrS"
    path.write_bytes(bytes(data))
    return path


def test_kernel_without_config(tmp_path):
    image = boot_header_only(tmp_path / "bzImage")
    run = harness("run", "--kernel", str(image), runs_dir=tmp_path / "runs")
    assert run.returncode == 2
    assert "--kernel-config" in one_line_error(run)


def test_unknown_kernel_package(tmp_path):
    run = harness("run", "--kernel", "deb:linux-image-0.0.0-nonexistent-amd64-unsigned", runs_dir=tmp_path)
    assert run.returncode == 2
    line = one_line_error(run)
    assert "no such package" in line and "apt-cache search" in line


def test_unknown_probe(tmp_path):
    run = harness("run", "--probe", "devmem.read.everything", runs_dir=tmp_path)
    assert run.returncode == 2
    line = one_line_error(run)
    assert "--probe devmem.read.everything: unknown probe" in line and "did you mean" in line


def test_yaml_error_names_file_and_line(tmp_path):
    bad = tmp_path / "mine.yaml"
    bad.write_text("probes:\n  devmem.open:\n    - {id: x, expect: [\n")
    run = harness("run", "--expectations", str(bad), runs_dir=tmp_path)
    assert run.returncode == 2
    assert f"{bad}:4: YAML error" in one_line_error(run)


@pytest.mark.parametrize("args", [["--memory", "lots"], ["--accel", "warp"], ["--bogus"]])
def test_bad_options(tmp_path, args):
    run = harness("run", *args, runs_dir=tmp_path)
    assert run.returncode == 2
    assert "error:" in one_line_error(run)


def test_missing_qemu_is_a_missing_requirement(tmp_path):
    run = harness("run", runs_dir=tmp_path, env={"QEMU": "/nonexistent/qemu-system-x86_64"})
    assert run.returncode == 4
    assert "QEMU binary" in one_line_error(run)


def test_bad_input_leaves_no_run_directory(tmp_path):
    harness("run", "--probe", "nope", runs_dir=tmp_path)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "args, message",
    [
        (["--image", "{tmp}/nope.qcow2", "--transport", "ssh"], "--image {tmp}/nope.qcow2: no such file"),
        (["--image", "{disk}"], "--image needs --transport ssh"),
        (["--image", "{disk}", "--transport", "ssh"], "--image needs --ssh-key"),
        (["--patch", "cc-smi", "--profile", "cc-sim"], "--patch cc-smi: no such file"),
    ],
)
def test_bad_ssh_and_patch_options(tmp_path, args, message):
    disk = tmp_path / "disk.qcow2"
    disk.write_bytes(b"QFI\xfb")
    args = [a.format(tmp=tmp_path, disk=disk) for a in args]
    run = harness("run", *args, runs_dir=tmp_path / "runs")
    assert run.returncode == 2
    assert message.format(tmp=tmp_path) in one_line_error(run)


@pytest.mark.parametrize(
    "args, words",
    [
        (["--kernel", "deb:Sid/linux-image-amd64"], ["--kernel deb:Sid/linux-image-amd64", "deb:SUITE/PACKAGE"]),
        (
            ["--kernel", "deb:nosuchsuite/linux-image-amd64"],
            ["cannot read suite 'nosuchsuite'", "check the suite name"],
        ),
        (["--kernel", "deb:sid/linux-image-0.0-nonexistent"], ["no such package", "Debian sid", "apt-cache search"]),
        (["--kernel", "deb:linux-image-amd64", "--modules", "/tmp"], ["--modules goes with --kernel PATH"]),
        (
            ["--quiet", "--source", "deb:bullseye/linux-sauce-5.10"],
            ["--source deb:bullseye/linux-sauce-5.10", "no such package", "apt-cache search linux-source"],
        ),
    ],
)
def test_bad_kernels_from_other_suites(tmp_path, args, words):
    run = harness("run", *args, runs_dir=tmp_path)
    assert run.returncode == 2, run.stderr
    line = one_line_error(run)
    for word in words:
        assert word in line, line


@pytest.mark.parametrize("fetch,where", [("apt", "apt"), ("archive", "archive")])
def test_a_refused_suite_leaves_nothing_in_the_cache(tmp_path, fetch, where):
    """Through apt's private state or, as on a host without apt, Debian's archive read directly."""
    from harness import paths

    suite = f"nosuchsuite{os.getpid()}"  # this session's own: another `make test` may refuse its own meanwhile
    env = {"DEVMEM_HARNESS_DEBIAN_FETCH": fetch}
    run = harness("run", "--kernel", f"deb:{suite}/linux-image-amd64", runs_dir=tmp_path, env=env)
    assert run.returncode == 2 and f"cannot read suite '{suite}'" in one_line_error(run)
    assert not (paths.cache_dir() / where / suite).exists()
    assert not (paths.cache_dir() / where / f".{suite}.lock").exists()
    assert not list((paths.cache_dir() / where).glob(f".{suite}.*"))  # nor a temporary directory


def test_modules_dir_that_does_not_exist(tmp_path):
    from harness.kernels.kernel import KernelCatalog, resolve_kernel

    image = resolve_kernel(None, None, KernelCatalog.load()).image
    run = harness("run", "--kernel", str(image), "--modules", str(tmp_path / "nope"), runs_dir=tmp_path)
    assert run.returncode == 2
    assert f"--modules {tmp_path / 'nope'}: no such directory" in one_line_error(run)


def test_a_file_that_is_no_bzimage_or_is_cut_short_is_refused_before_the_guest(tmp_path):
    config = tmp_path / "config"
    config.write_text("CONFIG_DEVMEM=y\n")
    run = harness("run", "--kernel", "/bin/ls", "--kernel-config", str(config), runs_dir=tmp_path)
    assert run.returncode == 2 and "--kernel /bin/ls: not a bzImage" in one_line_error(run)
    cut = boot_header_only(tmp_path / "cut")
    cut.write_bytes(cut.read_bytes()[:700])
    run = harness("run", "--kernel", str(cut), "--kernel-config", str(config), runs_dir=tmp_path)
    assert run.returncode == 2 and "truncated: 700 bytes, its boot header says 2560" in one_line_error(run)
    assert not (tmp_path / "latest").exists()  # refused before a run directory existed


def test_a_command_line_past_the_kernels_limit_is_refused_with_the_bytes_over(tmp_path):
    run = harness("run", "--append", "x" * 5000, runs_dir=tmp_path)
    assert run.returncode == 2
    line = one_line_error(run)
    assert "over x86's 2048-byte COMMAND_LINE_SIZE" in line and "shorten --append" in line
    assert not (tmp_path / "latest").exists()


def test_too_little_memory_is_refused_with_the_minimum(tmp_path):
    run = harness("run", "--memory", "16", runs_dir=tmp_path)
    assert run.returncode == 2 and "--memory 16: the guest needs at least 128 MiB" in one_line_error(run)


def test_bad_input_found_after_the_run_directory_exists_is_cause_input(tmp_path):
    """A disk image is built from a kernel's Debian packages: a bzImage path has none.  Found once the run
    directory exists, so results.json says whose fault it is: the input's, never the kernel's or the host's."""
    from harness.kernels.kernel import KernelCatalog, resolve_kernel

    kernel = resolve_kernel(None, None, KernelCatalog.load())
    args = ["--transport", "ssh", "--kernel", str(kernel.image), "--kernel-config", str(kernel.config_path)]
    run = harness("run", "--quiet", *args, runs_dir=tmp_path)
    assert run.returncode == 2 and "is not a Debian package" in one_line_error(run)
    r = run.results
    assert (r["outcome"], r["cause"]) == ("not-started", "input"), r


@pytest.mark.parametrize(
    "args, words",
    [
        (["--append", "x" * 5000], "over x86's 2048-byte COMMAND_LINE_SIZE"),
        (["--oracel"], "unrecognized arguments: --oracel"),
    ],
)
def test_bisect_step_aborts_on_bad_input_and_blames_no_commit(tmp_path, args, words):
    """`git bisect run` reads 1-127 (but 125) as "bad": bad input must stop it with 129, before a build."""
    run = harness("bisect-step", "--tree", str(tmp_path), "--probe", "devmem.open", "--oracle", *args)
    assert run.returncode == 129, run.stderr
    assert words in one_line_error(run)
