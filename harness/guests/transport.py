# SPDX-License-Identifier: GPL-2.0-only
"""How the harness talks to a running guest: one small interface, two ways.

`Transport` is what a guest session needs: put a file, run a command with a
timeout (stdout, stderr, exit status), fetch dmesg, power off.  `SshTransport`
does it with paramiko for disk-image guests.  The busybox initramfs guests use
the serial console instead, where the guest's own init runs the same steps
(guest-images/init.sh) and prints the same "@@harness" sections;
`collect_sections` produces those sections over any Transport, so the runner
parses one format whichever way the guest was reached.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import shlex
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import paramiko

from ..errors import HarnessError

REMOTE_DIR = "/run/devmem-harness"
# paramiko's transport thread logs a connection tried before sshd is up ("Error reading SSH protocol
# banner") with its traceback, which logging's last resort prints to stderr.  The harness retries and
# reports what does fail in its own one line; a user should never see a traceback from a passing run.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


@dataclass
class CommandResult:
    status: int | None  # None: the command did not finish within its timeout
    stdout: str
    stderr: str
    seconds: float


class Transport(Protocol):
    name: str

    def put(self, local: Path, remote: str, mode: int = 0o755) -> None: ...

    def run(self, command: str, timeout: float) -> CommandResult: ...

    def dmesg(self) -> str: ...

    def poweroff(self) -> None: ...

    def close(self) -> None: ...


class SshUnreachable(HarnessError):
    exit_code = 2


class _RecordingPolicy(paramiko.MissingHostKeyPolicy):
    """Trust on first use: accept an unknown host key, record it, warn once."""

    def __init__(self, known_hosts: Path, warn):
        self.known_hosts = known_hosts
        self.warn = warn

    def missing_host_key(self, client, hostname, key):
        line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
        with open(self.known_hosts, "a") as f:
            f.write(line)
        self.warn(
            f"trusting the guest's host key on first use ({key.get_name()} "
            f"SHA256:{_fingerprint(key)}); recorded in {self.known_hosts}"
        )


def _fingerprint(key: paramiko.PKey) -> str:
    return base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def load_private_key(path: Path) -> paramiko.PKey:
    """An OpenSSH or PEM private key of any type paramiko knows; never a password."""
    errors = []
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key_file(str(path))
        except (paramiko.SSHException, ValueError) as exc:
            errors.append(f"{cls.__name__}: {exc}")
        except OSError as exc:
            raise SshUnreachable(f"--ssh-key {path}: {exc.strerror}") from None
    raise SshUnreachable(f"--ssh-key {path}: not a usable private key", "give an unencrypted ed25519, ECDSA or RSA key")


class SshTransport:
    name = "ssh"

    def __init__(self, client: paramiko.SSHClient, host: str, port: int):
        self.client = client
        self.host = host
        self.port = port
        self._sftp: paramiko.SFTPClient | None = None

    @classmethod
    def connect(
        cls,
        port: int,
        user: str,
        key: paramiko.PKey,
        host_key: str | None,
        known_hosts: Path,
        warn,
        timeout: float = 5.0,
    ) -> SshTransport:
        """One attempt. With `host_key` (recorded at image build) the guest must present exactly it."""
        client = paramiko.SSHClient()
        hostname = f"[127.0.0.1]:{port}"
        if host_key:
            kind, blob = host_key.split()[:2]
            client.get_host_keys().add(hostname, kind, paramiko.PKey.from_type_string(kind, base64.b64decode(blob)))
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        else:
            if known_hosts.is_file():
                client.load_host_keys(str(known_hosts))
            client.set_missing_host_key_policy(_RecordingPolicy(known_hosts, warn))
        client.connect(
            "127.0.0.1",
            port=port,
            username=user,
            pkey=key,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            allow_agent=False,
            look_for_keys=False,
        )
        return cls(client, "127.0.0.1", port)

    def put(self, local: Path, remote: str, mode: int = 0o755) -> None:
        if self._sftp is None:
            self._sftp = self.client.open_sftp()
        self._sftp.put(str(local), remote)
        self._sftp.chmod(remote, mode)

    def run(self, command: str, timeout: float) -> CommandResult:
        started = time.monotonic()
        channel = self.client.get_transport().open_session()
        channel.settimeout(1.0)
        channel.exec_command(command)
        out, err = bytearray(), bytearray()
        deadline, exited = started + timeout, None
        while True:
            while channel.recv_ready():
                out += channel.recv(65536)
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(65536)
            # sshd may send the exit status before the last of the output: done at EOF (or 5 s after the
            # status, for a server that never sends EOF), not at the status alone.
            if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
                exited = exited or time.monotonic()
                if channel.eof_received or time.monotonic() - exited > 5:
                    break
            if time.monotonic() > deadline or channel.closed and not channel.exit_status_ready():
                channel.close()
                return CommandResult(None, out.decode(errors="replace"), err.decode(errors="replace"), timeout)
            time.sleep(0.02)
        status = channel.recv_exit_status()
        channel.close()
        return CommandResult(
            status, out.decode(errors="replace"), err.decode(errors="replace"), time.monotonic() - started
        )

    def dmesg(self) -> str:
        return self.run("dmesg", timeout=30).stdout

    def poweroff(self) -> None:
        try:
            channel = self.client.get_transport().open_session()
            channel.exec_command("systemctl poweroff --no-block || poweroff")
            channel.recv_exit_status()
        except (paramiko.SSHException, OSError, EOFError):
            pass  # the guest may close the connection first

    def close(self) -> None:
        try:
            if self._sftp is not None:
                self._sftp.close()
            self.client.close()
        except (paramiko.SSHException, OSError, EOFError):
            pass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (QEMU binds it next; a clash is retried)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def collect_sections(
    t: Transport, probe_args: list[str], extra_files: dict[str, Path], facts_args: list[str], timeout: float
) -> str:
    """The guest's facts, the probe's KTAP and dmesg over a Transport, as the "@@harness" sections
    the initramfs init prints on the console (harness/judging/console.py parses both)."""
    t.run(f"mkdir -p {REMOTE_DIR}", timeout=30)
    for remote, local in extra_files.items():
        t.put(local, remote)
    facts = t.run(" ".join(["sh", f"{REMOTE_DIR}/collect-facts.sh", *facts_args]), timeout=60)
    probe = t.run(" ".join(shlex.quote(a) for a in probe_args), timeout=timeout)
    lines = [facts.stdout.rstrip("\n"), "@@harness begin ktap", probe.stdout.rstrip("\n"), "@@harness end ktap"]
    if probe.status is None:
        lines.append(f"@@harness probe-timeout {timeout:.0f}")
    else:
        lines.append(f"@@harness probe-exit {probe.status}")
    lines += ["@@harness begin dmesg", t.dmesg().rstrip("\n"), "@@harness end dmesg", "@@harness done"]
    return "\n".join(lines) + "\n"
