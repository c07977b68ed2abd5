"""nodes/host_version.py: the supported range and the warning for an older ComfyUI."""
import importlib.util
from pathlib import Path

SPEC = importlib.util.spec_from_file_location(
    "ptdit_host_version", Path(__file__).resolve().parents[2] / "nodes" / "host_version.py")
host_version = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(host_version)  # a leaf module: no ComfyUI import needed


def test_older_release_gets_one_clear_line():
    message = host_version.older_host_message("0.3.60")
    assert message is not None and "0.3.60" in message and host_version.OLDEST_TESTED in message
    assert host_version.NEWEST_TESTED in message and "\n" not in message


def test_tested_and_newer_releases_are_quiet():
    for version in (host_version.OLDEST_TESTED, host_version.NEWEST_TESTED, "0.38.2", "1.0.0"):
        assert host_version.older_host_message(version) is None, version


def test_unreadable_versions_are_quiet():
    for version in ("", "unknown", "main"):
        assert host_version.older_host_message(version) is None


def test_tested_range_matches_the_hosts_ci_prepares():
    script = (Path(__file__).resolve().parents[2] / "scripts" / "setup_comfyui.sh").read_text()
    assert f'OLD_VERSION="{host_version.OLDEST_TESTED}"' in script
    assert f'NEW_VERSION="{host_version.NEWEST_TESTED}"' in script
