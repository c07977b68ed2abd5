"""benchmarks/gpu_check.sh: its command line (the run itself needs a GPU machine and an install)."""
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.sh"


def _run(*args):
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60, check=False)


def test_help_names_the_cpu_mode_and_the_official_source():
    done = _run("--help")
    assert done.returncode == 0 and "--cpu" in done.stdout and "--official-src" in done.stdout


def test_missing_official_source_or_unknown_flag_is_a_usage_error():
    for args in ((), ("--cpu",), ("--official-src", "x", "--gpu")):
        done = _run(*args)
        assert done.returncode == 2 and "usage:" in done.stderr, args
