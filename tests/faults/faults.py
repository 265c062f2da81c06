# SPDX-License-Identifier: GPL-2.0-only
"""Every host fault the suite provokes, what the harness does about it, and the test that shows it.

The README's fault table (section "Host faults") is checked against this list, and every test named
here must exist: the table cannot claim what the suite does not prove.
"""

FAULTS = [
    (
        "runs dir full (64 KiB tmpfs)",
        "host-fault / host, exit 2, one line naming console.log; results.json says so (a 48 KiB reserve)",
        "test_disk.py::test_runs_dir_full",
    ),
    (
        "runs dir read-only",
        "exit 2, one line naming the directory; nothing is started",
        "test_disk.py::test_runs_dir_read_only",
    ),
    (
        "cache full",
        "exit 2, one line naming the cache file and the tool that failed (here gcc, compiling the probe)",
        "test_disk.py::test_cache_unwritable[full]",
    ),
    (
        "cache full while a kernel is fetched",
        "exit 2, one line naming apt-get's download directory in the cache",
        "test_disk.py::test_cache_full_while_fetching_a_kernel",
    ),
    (
        "cache read-only",
        "exit 2, one line naming the cache directory",
        "test_disk.py::test_cache_unwritable[read_only]",
    ),
    (
        "kernel in the cache cut short",
        "seal mismatch: warning, refetched, the run passes",
        "test_cache.py::test_truncated_kernel_is_refetched",
    ),
    (
        "module in the cache changed",
        "seal mismatch: warning, unpacked again, the run passes",
        "test_cache.py::test_corrupt_module_is_refetched",
    ),
    (
        "initramfs in the cache changed",
        "seal mismatch: warning, written again, the run passes",
        "test_cache.py::test_corrupt_initramfs_is_rewritten",
    ),
    (
        "probe binary in the cache changed",
        "seal mismatch: warning, compiled again, the run passes",
        "test_cache.py::test_corrupt_probe_is_recompiled",
    ),
    (
        "built kernel in the cache changed",
        "seal mismatch: warning, built again (incremental), it boots and passes",
        "test_cache.py::test_corrupt_built_kernel_is_rebuilt",
    ),
    (
        "disk image in the cache changed",
        "seal mismatch: warning, built again, the SSH run passes",
        "test_cache.py::test_corrupt_disk_image_is_rebuilt",
    ),
    (
        "two harnesses on a cold cache",
        "both pass; the kernel is downloaded once (the other waits on the lock)",
        "test_cache.py::test_two_harnesses_on_a_cold_cache",
    ),
    (
        "QEMU SIGKILLed in the boot stage",
        "qemu-failed / host, 'QEMU was killed by signal 9 (SIGKILL)', exit 2",
        "test_signals.py::test_qemu_killed[boot]",
    ),
    (
        "QEMU SIGKILLed under a probe",
        "that probe guest-terminated and error (host), the rest run on in a fresh boot, exit 2",
        "test_signals.py::test_qemu_killed[probes]",
    ),
    (
        "QEMU SIGKILLed after the probes",
        "the verdicts stand (completed), exit 0",
        "test_signals.py::test_qemu_killed[shutdown]",
    ),
    (
        "harness SIGKILLed (any stage)",
        "QEMU goes with it (its pty hangs up); results.json says the run did not finish",
        "test_signals.py::test_harness_signalled",
    ),
    (
        "harness SIGTERMed (any stage)",
        "interrupted / host, every probe error, exit 130, QEMU stopped",
        "test_signals.py::test_harness_signalled",
    ),
    ("harness SIGHUPed (a CI cancel, any stage)", "as SIGTERM", "test_signals.py::test_harness_signalled"),
    (
        "Ctrl-C during a kernel build",
        "exit 130, no half-written build; the next build succeeds and boots",
        "test_build_and_bisect.py::test_ctrl_c_during_a_kernel_build",
    ),
    (
        "a guest that never powers off",
        "completed, 'QEMU was stopped' after the shutdown deadline, exit 0",
        "test_guest.py::test_guest_that_never_powers_off",
    ),
    (
        "a console flood with non-UTF-8 bytes",
        "every byte in console.log, the run passes",
        "test_guest.py::test_console_flood",
    ),
    (
        "KVM that starts but cannot run the guest",
        "--accel auto: QMP STOP + internal-error at once, retried under TCG, passes, remembered "
        "(the next auto run boots once, under TCG); "
        "--accel kvm: qemu-failed / host, QEMU's line, exit 2",
        "test_guest.py::test_kvm_internal_error",
    ),
    (
        "a host fault in the middle of a bisection",
        "the step is retried, then skipped; the tree restored; the culprit still found",
        "test_build_and_bisect.py::test_host_fault_in_a_bisection",
    ),
]
