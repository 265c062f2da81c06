# SPDX-License-Identifier: GPL-2.0-only
# devmem-harness: every target installs what it needs and is a quick no-op when it is there.
#
#   make run          boot the default plain guest and run the probe suite (ARGS="..." passes options)
#   make test         the project's own tests: unit tests and real guest boots
#   make test-quick   the same without the tests marked slow
#   make test-tdx     the suite in an Intel TDX guest (exit 4 + one line where the host cannot)
#   make test-snp     the suite in an AMD SEV-SNP guest (likewise)
#   make test-cc-sim  the suite in an EMULATED confidential guest under TCG (builds its 6.12 kernel once)
#   make doctor       what this host can run, and why not (ARGS="--json")
#   make test-plain   the plain guest suite through pytest, one test per probe, JUnit in runs/
#   make matrix       the default matrix: 2 Debian kernels x 4 boot options, in parallel (ARGS="FILE -j N")
#   make matrix-full  kernels built from 6.12 and sid 7.2 sources (every fragment, cc-sim with and without the fix)
#   make matrix-history  Debian kernels from 5.10 (bullseye) to sid's current x 3 boot options
#   make kernel       build a guest kernel: KCONFIG=strict (or a path; several separated by spaces), SOURCE=deb:linux-source-6.12
#   make bisect       TREE= GOOD= BAD= PROBE= [EXPECT=errno=EPERM] [KCONFIG=strict]: the first bad commit
#   make mutation-score  plant each regression of bench/mutations/ in Debian 6.12 and count what the suite kills
#   make bench        suite wall time vs the boot-only floor; the matrix at -j1 vs -j2
#   make bench-kbuild kernel build: cold, cache hit, one-file change (cold takes minutes)
#   make bench-ssh    disk-image guests: image build cold and cached, boot to SSH ready
#   make image        build (or find) the Debian disk image for SSH guests
#   make lava         the suite as a LAVA job run by this machine's lava-run, then judged (ARGS for lava-job)
#   make qemu-next    Debian sid's QEMU in the cache, for --qemu next (a newer QEMU than the host's)
#   make test-faults  the host-fault suite: full and read-only disks, a corrupt cache, signals, KVM errors
#   make lint         ruff
#   make wheel        sdist and wheel in dist/ (the wheel carries guest-images/ and kconfigs/; pipx install it anywhere)

PYTHON ?= python3
VENV := .venv
HARNESS := $(VENV)/bin/python -m harness
PYTEST := $(VENV)/bin/pytest
SETUP_GROUPS := --kbuild --ssh --lava --dev
SETUP_ARGS ?=
ARGS ?=
PYTEST_ARGS ?=
SOURCE ?= deb:linux-source-6.12
KCONFIG ?= strict

.PHONY: wheel setup deps venv kernels kernel bisect bisect-config run matrix matrix-full matrix-history mutation-score lava test test-quick test-faults test-nightly test-plain test-tdx test-snp test-cc-sim doctor bench bench-kbuild bench-ssh image qemu-next lint clean

setup: deps venv kernels

# Host packages (apt on Debian/Ubuntu, dnf on Fedora/CentOS/RHEL): installed only when one is missing.
# `make setup` runs with the host's python3 before the venv exists; SETUP_ARGS=--print names them instead.
deps:
	@$(PYTHON) -m harness setup $(SETUP_GROUPS) $(SETUP_ARGS) >/dev/null

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "make: Python >= 3.11 is needed (found $$($(PYTHON) --version))"; exit 4; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[dev]'
	@touch $@

# The pinned kernels, downloaded from Debian's archive into the cache once (on any host: harness/kernels/debian.py).
kernels: deps venv
	@$(HARNESS) kernel fetch >/dev/null

run: setup
	$(HARNESS) run $(ARGS)

kernel: setup
	$(HARNESS) kernel build --source $(SOURCE) $(foreach k,$(KCONFIG),--kconfig $(k)) $(ARGS)

# make bisect TREE=~/linux GOOD=v6.11 BAD=HEAD PROBE=devmem.read.ram-below-1m EXPECT=data=zeros [KCONFIG=strict]
bisect: setup
	$(HARNESS) bisect --tree $(TREE) --good $(GOOD) --bad $(BAD) --probe $(PROBE) \
		$(if $(EXPECT),--expect $(EXPECT),--oracle) $(foreach k,$(KCONFIG),--kconfig $(k)) $(ARGS)

# make bisect-config GOOD=strict BAD=nostrict PROBE=devmem.read.ram-above-1m [SOURCE=deb:linux-source-6.12]
bisect-config: setup
	$(HARNESS) bisect-config --good $(GOOD) --bad $(BAD) --source $(SOURCE) --probe $(PROBE) \
		$(if $(EXPECT),--expect $(EXPECT)) $(ARGS)

matrix: setup
	$(HARNESS) matrix $(ARGS)

LAVA_DIR := runs/lava/make
lava: setup
	$(HARNESS) lava-job --out $(LAVA_DIR) $(ARGS) >/dev/null
	$(HARNESS) lava-run $(LAVA_DIR)/job.yaml --out $(LAVA_DIR)/lava-run
	$(HARNESS) judge --lava $(LAVA_DIR)/lava-run

matrix-full: setup
	$(HARNESS) matrix harness/data/matrix-full.yaml $(ARGS)

matrix-history: setup
	$(HARNESS) matrix harness/data/matrix-history.yaml $(ARGS)

# The kernel mutation score (nightly): each patch in bench/mutations/ built into the strict 6.12
# kernel and run in three boots; prints the table and the score (ARGS="--only m01 ..." for a few).
mutation-score: setup
	$(VENV)/bin/python bench/mutation_score.py $(ARGS)

test: setup
	$(PYTEST) tests $(PYTEST_ARGS)

test-quick: setup
	$(PYTEST) tests -m "not slow and not kbuild" $(PYTEST_ARGS)

# The cases `make test` keeps one representative of (config bisection's other pairs, Debian's generic
# against cloud config): hours on 2 cores.
test-nightly: setup
	$(PYTEST) tests -m nightly --nightly $(PYTEST_ARGS)

test-faults: setup
	$(PYTEST) tests/faults $(PYTEST_ARGS)

# Confidential guests: on a host that cannot run them the harness exits 4 with one line naming
# the first missing requirement, and the target fails with that line.
test-tdx: setup
	$(HARNESS) run --profile tdx $(ARGS)

test-snp: setup
	$(HARNESS) run --profile sev-snp $(ARGS)

# No hardware needed: a 6.12 kernel with kconfigs/patches/cc-sim.patch reports a confidential
# platform under TCG. Results say "emulated"; ARGS="--patch devmem-cc-eperm" tries the fix.
test-cc-sim: setup
	$(HARNESS) run --profile cc-sim $(ARGS)

doctor: venv
	$(HARNESS) doctor $(ARGS)

test-plain: setup
	@mkdir -p runs
	$(PYTEST) tests/suite --harness-args="$(ARGS)" --junitxml=runs/test-plain-junit.xml -rxs $(PYTEST_ARGS)

bench: setup
	$(VENV)/bin/python bench/bench_run.py
	$(VENV)/bin/python bench/bench_matrix.py

bench-kbuild: setup
	$(VENV)/bin/python bench/bench_kbuild.py

bench-ssh: setup
	$(VENV)/bin/python bench/bench_ssh.py

image: setup
	$(HARNESS) image build $(ARGS)

qemu-next: setup
	$(HARNESS) qemu fetch $(ARGS)

wheel: venv
	$(VENV)/bin/python -m build --outdir dist

lint: venv
	$(VENV)/bin/ruff check harness tests bench
	$(VENV)/bin/ruff format --check harness tests bench
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

clean:
	rm -rf runs .pytest_cache
