"""The PEP 517 build backend of the cauchy package: standard library only, so that
`pip install ./python` needs no network and no setuptools.

The wheel holds cauchy/*.py and cauchy/_checkout.py, which records the checkout it was built
from: the package loads that checkout's target/release/libcauchy.so (see cauchy/_lib.py), so
rebuilding the library needs no reinstall.
"""

import base64
import hashlib
import zipfile
from pathlib import Path

NAME = "cauchy"
VERSION = "0.1.0"
TAG = "py3-none-any"
HERE = Path(__file__).resolve().parent
DIST_INFO = f"{NAME}-{VERSION}.dist-info"

METADATA = f"""\
Metadata-Version: 2.1
Name: {NAME}
Version: {VERSION}
Summary: Kornia's cauchy_loss / CauchyLoss for NumPy arrays and PyTorch tensors, by libcauchy
Requires-Python: >=3.8
"""

WHEEL = f"""\
Wheel-Version: 1.0
Generator: cauchy_build
Root-Is-Purelib: true
Tag: {TAG}
"""


class UnsupportedOperation(Exception):
    """PEP 517's way to decline a hook: there is no sdist (the package records its checkout)."""


def _contents():
    """(name in the wheel, bytes) for every file of the wheel but its RECORD."""
    files = [(f"cauchy/{p.name}", p.read_bytes()) for p in sorted((HERE / "cauchy").glob("*.py"))]
    checkout = '"""Written by cauchy_build.py when the wheel was built."""\n\n'
    checkout += f"CHECKOUT = {str(HERE.parent)!r}\n"
    files.append(("cauchy/_checkout.py", checkout.encode()))
    files.append((f"{DIST_INFO}/METADATA", METADATA.encode()))
    files.append((f"{DIST_INFO}/WHEEL", WHEEL.encode()))
    return files


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}\n"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    """Write the wheel into wheel_directory and return its file name."""
    filename = f"{NAME}-{VERSION}-{TAG}.whl"
    contents = _contents()
    record = "".join(_record_line(name, data) for name, data in contents)
    with zipfile.ZipFile(Path(wheel_directory) / filename, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in contents:
            wheel.writestr(name, data)
        wheel.writestr(f"{DIST_INFO}/RECORD", record + f"{DIST_INFO}/RECORD,,\n")
    return filename


def build_sdist(sdist_directory, config_settings=None):
    raise UnsupportedOperation("install the cauchy package from a checkout: pip install ./python")
