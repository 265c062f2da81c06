"""Console transcript parsing: init sections, probe exit status, panics."""

from pathlib import Path

from harness.console import normalize, parse_console

DATA = Path(__file__).parent / "data"


def test_completed_run_sections():
    t = parse_console((DATA / "console-6.1-completed.log").read_bytes().decode())
    assert t.init_started and t.done
    assert t.probe_exit == 0
    assert t.sections["uname"].strip() == "6.1.0-56-amd64"
    assert "System RAM" in t.sections["iomem"]
    assert t.sections["lockdown"].strip() == "[none] integrity confidentiality"
    assert "Linux version" in t.sections["dmesg"]
    assert t.panic is None and t.incomplete == []


def test_panic_mid_probes():
    t = parse_console((DATA / "console-panic-mid-probes.log").read_bytes().decode())
    assert t.init_started and not t.done
    assert t.panic == "Fatal exception"
    assert t.incomplete == ["ktap"]
    assert t.probe_exit is None


def test_serial_line_endings():
    assert normalize("a\r\r\nb\r\nc\rd") == "a\nb\nc\nd"
