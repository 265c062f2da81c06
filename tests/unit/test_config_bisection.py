# SPDX-License-Identifier: GPL-2.0-only
"""The config search on its own: a small Kconfig model stands in for olddefconfig, a function of the
config for the boot.  The real builds and boots are in tests/integration/test_bisect_config.py."""

from harness.kernels.config_bisection import BAD, GOOD, OTHER, closer, differing, parts, search

# DEVMEM -> STRICT_DEVMEM -> IO_STRICT_DEVMEM, as in drivers/char/Kconfig and lib/Kconfig.debug.
DEPENDS = {"STRICT_DEVMEM": "DEVMEM", "IO_STRICT_DEVMEM": "STRICT_DEVMEM"}


def olddefconfig(config):
    out = dict(config)
    for symbol in ("STRICT_DEVMEM", "IO_STRICT_DEVMEM"):  # in dependency order
        if out.get(DEPENDS[symbol], "n") == "n":
            out.pop(symbol, None)
    # mm/Kconfig: `config EXCLUSIVE_SYSTEM_RAM def_bool y, depends on !DEVMEM || STRICT_DEVMEM`, no prompt
    derived = out.get("DEVMEM", "n") == "n" or out.get("STRICT_DEVMEM", "n") == "y"
    out["EXCLUSIVE_SYSTEM_RAM"] = "y" if derived else "n"
    return out


STRICT = {"DEVMEM": "y", "DEVPORT": "y", "STRICT_DEVMEM": "y", "IO_STRICT_DEVMEM": "y", "X86": "y"}
NOSTRICT = {"DEVMEM": "y", "DEVPORT": "y", "STRICT_DEVMEM": "n", "X86": "y"}
NODEVMEM = {"DEVMEM": "n", "DEVPORT": "n", "X86": "y"}


def read_ram_above_1m(config):
    """What devmem.read.ram-above-1m observes on a kernel with `config`."""
    if config.get("DEVMEM", "n") == "n":
        return "errno=ENOENT"
    return "errno=EPERM" if config.get("STRICT_DEVMEM", "n") == "y" else "data=ram"


def judge_against(good, bad, observe):
    want_good, want_bad = observe(good), observe(bad)

    def judge(cand):
        seen = cand.detail = observe(cand.config)
        return GOOD if seen == want_good else BAD if seen == want_bad else OTHER

    return judge


def test_the_suspects_are_the_options_that_differ():
    assert differing(STRICT, NOSTRICT) == ["IO_STRICT_DEVMEM", "STRICT_DEVMEM"]
    assert differing(olddefconfig(STRICT), olddefconfig(NOSTRICT)) == [
        "EXCLUSIVE_SYSTEM_RAM",
        "IO_STRICT_DEVMEM",
        "STRICT_DEVMEM",
    ]


def test_parts_go_from_halves_to_single_options():
    assert list(parts(["A", "B", "C", "D"])) == [["A", "B"], ["C", "D"], ["A"], ["B"], ["C"], ["D"]]


def test_a_candidate_counts_only_when_it_is_closer_to_both_endpoints():
    assert closer({**STRICT, "IO_STRICT_DEVMEM": "n"}, STRICT, NOSTRICT)
    assert not closer(STRICT, STRICT, NOSTRICT)
    assert not closer({**STRICT, "IO_STRICT_DEVMEM": "n", "X86": "n"}, STRICT, NOSTRICT)


def test_strict_against_nostrict_names_strict_devmem():
    good, bad = olddefconfig(STRICT), olddefconfig(NOSTRICT)
    out = search(good, bad, olddefconfig, judge_against(good, bad, read_ram_above_1m))
    assert out.single and out.suspects == ["STRICT_DEVMEM"]
    assert out.follows == ["EXCLUSIVE_SYSTEM_RAM"]  # Kconfig derives it: never set alone
    assert (out.good["STRICT_DEVMEM"], out.bad["STRICT_DEVMEM"]) == ("y", "n")
    assert sum(t.judged is not None for t in out.tried) == 1  # one build: IO_STRICT_DEVMEM off alone


def test_an_option_that_drags_another_along_is_the_answer():
    """DEVMEM=n takes STRICT_DEVMEM with it (it depends on DEVMEM), and that is the bad config."""
    good, bad = olddefconfig(STRICT), olddefconfig(NODEVMEM)
    out = search(good, bad, olddefconfig, judge_against(good, bad, read_ram_above_1m))
    assert out.suspects == ["DEVMEM"] and out.follows == ["STRICT_DEVMEM"], out.why


def choice(config):
    """A Kconfig `choice` of two: the later y wins, none falls back to the default (NONE)."""
    out = dict(config)
    if out.get("FORCE_NONE") == "y":
        out["FORCE_INTEGRITY"] = "n"
    elif out.get("FORCE_INTEGRITY") != "y":
        out["FORCE_NONE"] = "y"
    return out


def test_the_members_of_a_choice_stay_a_set_with_why():
    good = choice({"FORCE_INTEGRITY": "y", "FORCE_NONE": "n", "X86": "y"})
    bad = choice({"FORCE_INTEGRITY": "n", "X86": "y"})

    def observe(config):
        return "errno=EPERM" if config["FORCE_INTEGRITY"] == "y" else "outcome=ok"

    members = {"FORCE_INTEGRITY", "FORCE_NONE", "FORCE_CONFIDENTIALITY"}
    out = search(good, bad, choice, judge_against(good, bad, observe), choice=lambda s: set(s) <= members and "K:1")
    assert out.suspects == ["FORCE_INTEGRITY", "FORCE_NONE"] and not out.follows
    assert out.why.startswith("they are the members of one Kconfig choice (K:1): one of them is y; ")


def test_choices_are_read_from_the_trees_kconfig_files(tmp_path):
    from harness.kernels.kconfig import choices, one_choice

    (tmp_path / "security").mkdir()
    (tmp_path / "security" / "Kconfig").write_text(
        'config SECURITY\n\tbool\nchoice\n\tprompt "mode"\nconfig FORCE_NONE\n\tbool "none"\n'
        'config FORCE_INTEGRITY\n\tbool "integrity"\nendchoice\n'
    )
    assert choices(tmp_path) == (("security/Kconfig:3", frozenset({"FORCE_NONE", "FORCE_INTEGRITY"})),)
    assert one_choice(tmp_path, ["FORCE_INTEGRITY", "FORCE_NONE"]) == "security/Kconfig:3"
    assert one_choice(tmp_path, ["FORCE_INTEGRITY", "SECURITY"]) is None


def test_a_verdict_that_needs_two_options_is_a_pair_not_one_of_them():
    good = {"A": "y", "B": "y"}
    bad = {"A": "n", "B": "n"}

    def observe(config):
        return {("y", "y"): "ok", ("n", "n"): "broken"}.get((config["A"], config["B"]), "half")

    out = search(good, bad, dict, judge_against(good, bad, observe))
    assert out.suspects == ["A", "B"] and "third outcome" in out.why


def test_each_step_shrinks_the_suspects_of_a_long_list():
    good = {f"OPT{i:03}": "y" for i in range(200)}
    bad = {**good, **{f"OPT{i:03}": "n" for i in range(50, 150)}}

    def observe(config):
        return "bad" if config["OPT117"] == "n" else "good"

    seen = []
    out = search(good, bad, dict, judge_against(good, bad, observe), lambda t, left: seen.append(len(left)))
    assert out.suspects == ["OPT117"]
    assert seen == sorted(seen, reverse=True) and len(seen) <= 8  # about log2(100)


# ------------------------------------------------------------------ the command's files and bad input


def test_configs_round_trip_with_their_quotes():
    from harness.commands.bisect_config import read_config, write_config

    text = 'CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_CMDLINE="console=ttyS0"\nCONFIG_N=12\n'
    config = read_config(text)
    assert config == {"A": "y", "B": "n", "CMDLINE": '"console=ttyS0"', "N": "12"}
    assert read_config(write_config(config)) == config


def test_an_endpoint_is_a_whole_config_a_package_or_a_fragment(tmp_path):
    from harness.commands.bisect_config import BUILDABLE, Endpoint
    from harness.paths import KCONFIGS

    whole = tmp_path / "whole.config"
    whole.write_text(
        "#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 6.12.1 Kernel Configuration\n#\nCONFIG_A=y\n"
    )
    req = Endpoint("--good", str(whole)).request("SRC", "tinyconfig", (), "w", tmp_path)
    assert req.whole == whole.resolve() and req.fragments == (BUILDABLE,)
    req = Endpoint("--good", "strict").request("SRC", "tinyconfig", (), "w", tmp_path)
    assert req.whole is None and req.fragments == ((KCONFIGS / "strict.config").resolve(),)


def test_bad_input_is_one_line_before_anything_is_built(tmp_path, capsys):
    from harness.cli import main

    assert main(["bisect-config", "--good", "strict", "--probe", "devmem.open"]) == 2
    assert "bisect-config needs --bad, --source" in capsys.readouterr().err
    assert main(["bisect-config", "--resume", str(tmp_path)]) == 2
    assert f"--resume {tmp_path}: no inputs.json there" in capsys.readouterr().err
    assert main(["bisect-config", "--resume", str(tmp_path), "--good", "strict"]) == 2
    assert "drop --good" in capsys.readouterr().err
    empty = tmp_path / "empty.config"
    empty.write_text("# nothing\n")
    args = ["--good", str(empty), "--bad", "strict", "--probe", "devmem.open", "--runs-dir", str(tmp_path / "runs")]
    assert main(["bisect-config", *args, "--source", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a kernel source tree" in err and not (tmp_path / "runs").exists(), err
    tree = tmp_path / "linux"
    tree.mkdir()
    (tree / "Makefile").touch()
    (tree / "Kconfig").touch()
    assert main(["bisect-config", *args, "--source", str(tree)]) == 2
    assert f"--good {empty}: no CONFIG_ lines" in capsys.readouterr().err and not (tmp_path / "runs").exists()
    assert main(["bisect-config", "--good", "strcit", *args[2:], "--source", str(tree)]) == 2
    assert "--good strcit: no such fragment" in capsys.readouterr().err  # the option typed, not --kconfig


TINY_MAKEFILE = """\
# A tree small enough to read: `olddefconfig` and `bzImage` as targets, each leaving what kbuild would.
all:
olddefconfig:
\t@echo "olddefconfig in $(CURDIR) O=$(O)" >> $(O)/made
bzImage:
\t@mkdir -p $(O)/arch/x86/boot && cp hello.c $(O)/arch/x86/boot/bzImage
\t@echo "bzImage CC=$(CC)" >> $(O)/made
%.ko:
\t@echo "module $@" >> $(O)/made
"""


def test_repro_patches_a_copy_of_the_tree_builds_the_final_bad_config_and_boots_it(tmp_path, monkeypatch):
    """repro.sh, run: the profile's patch applied to a copy (the source untouched), the final bad config
    made with the suite's modules, and the same probe booted.  A make-able tree of three files and a
    devmem-harness that records its arguments stand in for the kernel and the harness."""
    import os
    import subprocess

    from harness.commands.bisect_config import ConfigBisection, Inputs

    tree = tmp_path / "linux"
    (tree / "drivers/net/ethernet/intel/e1000").mkdir(parents=True)
    (tree / "drivers/net/ethernet/intel/e1000/Makefile").write_text("obj-$(CONFIG_E1000) += e1000.o\n")
    (tree / "Makefile").write_text(TINY_MAKEFILE)
    (tree / "Kconfig").touch()
    (tree / "hello.c").write_text("unpatched\n")
    patch = tmp_path / "sim.patch"
    patch.write_text("--- a/hello.c\n+++ b/hello.c\n@@ -1 +1 @@\n-unpatched\n+patched\n")
    directory = tmp_path / "bisection"
    directory.mkdir()
    (directory / "final-bad.config").write_text("CONFIG_E1000=m\n# CONFIG_STRICT_DEVMEM is not set\n")
    bisection = ConfigBisection.__new__(ConfigBisection)
    bisection.inputs = Inputs("strict", "nostrict", str(tree), ["devmem.open"], profile="cc-sim", append=("x=1",))
    bisection.dir, bisection.patches = directory, (patch,)
    bisection._write_repro()

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "devmem-harness").write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/booted\n')
    (bin_dir / "devmem-harness").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CC": "ccache gcc"}
    run = subprocess.run([str(directory / "repro.sh")], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tree / "hello.c").read_text() == "unpatched\n"
    assert (directory / "repro-tree/hello.c").read_text() == "patched\n"
    out = directory / "repro-build"
    assert (out / "arch/x86/boot/bzImage").read_text() == "patched\n"
    assert (out / ".config").read_text() == (directory / "final-bad.config").read_text()
    made = (out / "made").read_text().splitlines()
    assert made[0] == f"olddefconfig in {directory / 'repro-tree'} O={out}", made
    assert sorted(made[1:]) == ["bzImage CC=ccache gcc", "module drivers/net/ethernet/intel/e1000/e1000.ko"], made
    booted = (tmp_path / "booted").read_text().split()
    assert booted[:2] == ["run", "--kernel"] and booted[2] == str(out / "arch/x86/boot/bzImage")
    assert booted[-6:] == ["--probe", "devmem.open", "--profile", "cc-sim", "--append", "x=1"], booted


def test_the_estimate_of_steps_follows_what_is_left():
    from harness.commands.bisect_config import steps_about

    assert steps_about(1, 3851) == 12  # log2 at the start
    assert steps_about(16, 3) == 17 and steps_about(17, 2) == 17  # the Debian run's end: 17 steps, not "of about 12"
    assert steps_about(5, 1) == 5
