"""Installs the `cauchy` package and records the checkout it was installed from.

The package loads target/release/libcauchy.so of that checkout at import time (see
cauchy/_lib.py), so `pip install ./python` needs no copy of the library and no network.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CHECKOUT = Path(__file__).resolve().parent.parent


class BuildPyRecordingCheckout(build_py):
    """build_py that also writes cauchy/_checkout.py with the checkout's absolute path."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "cauchy" / "_checkout.py"
        target.write_text(f'"""Written by setup.py at install time."""\n\nCHECKOUT = {str(CHECKOUT)!r}\n')


setup(cmdclass={"build_py": BuildPyRecordingCheckout})
