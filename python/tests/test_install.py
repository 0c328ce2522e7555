"""Where the package finds libcauchy: the checkout's target/release by default, or
CAUCHY_LIBRARY; under CI, the tests run against the copy `pip install ./python` installed."""

import os
import subprocess
import sys
from pathlib import Path

from support import REPO

import cauchy

CHECKOUT_LIBRARY = REPO / "target" / "release" / "libcauchy.so"


def python(code, **env):
    """Run `code` in a fresh Python with the environment plus `env`."""
    return subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True
    )


def test_finds_the_checkout_library():
    if "CAUCHY_LIBRARY" not in os.environ:
        assert os.path.samefile(cauchy.LIBRARY_PATH, CHECKOUT_LIBRARY)


def test_installed_copy_under_ci():
    """CI tests what users install: the package in site-packages, recording this checkout."""
    if os.environ.get("CI"):
        from cauchy import _checkout

        assert Path(cauchy.__file__).resolve().parent != REPO / "python" / "cauchy"
        assert os.path.samefile(_checkout.CHECKOUT, REPO)


def test_cauchy_library_variable():
    code = "import cauchy; print(cauchy.LIBRARY_PATH)"
    shown = python(code, CAUCHY_LIBRARY=str(CHECKOUT_LIBRARY))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == str(CHECKOUT_LIBRARY)
    missing = python("import cauchy", CAUCHY_LIBRARY="/nonexistent/libcauchy.so")
    assert missing.returncode != 0
    assert "OSError: /nonexistent/libcauchy.so" in missing.stderr


def test_installs_offline(tmp_path):
    """pip builds and installs the package from the checkout with no package index, and the
    installed copy loads this checkout's library."""
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-index", "--quiet", "--target", str(target),
         str(REPO / "python")],
        capture_output=True, text=True,
    )
    assert install.returncode == 0, install.stderr
    env = {"PYTHONPATH": str(target), "CAUCHY_LIBRARY": ""}
    shown = python("import cauchy; print(cauchy.__file__); print(cauchy.LIBRARY_PATH)", **env)
    assert shown.returncode == 0, shown.stderr
    location, library = shown.stdout.split()
    assert Path(location).parent == target / "cauchy"
    assert os.path.samefile(library, CHECKOUT_LIBRARY)
