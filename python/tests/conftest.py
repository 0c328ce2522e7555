"""Session fixtures: the PyTorch custom op of c_examples/torch_op, built once per session."""

import os

import pytest
from support import REPO, require


@pytest.fixture(scope="session")
def torch_op():
    """Build c_examples/torch_op/cauchy_op.cpp with torch.utils.cpp_extension.load, with the
    arguments the README's snippet uses from the repository root (so that the snippet finds the
    build up to date), and return torch.ops.cauchy."""
    torch = require("torch")
    require("ninja")  # torch.utils.cpp_extension builds with it
    from torch.utils.cpp_extension import load

    lib = os.path.join(REPO, "target", "release")
    load(
        name="cauchy_op",
        sources=[os.path.join(REPO, "c_examples", "torch_op", "cauchy_op.cpp")],
        extra_include_paths=[os.path.join(REPO, "include")],
        extra_ldflags=[f"-L{lib}", "-lcauchy", f"-Wl,-rpath,{lib}"],
        is_python_module=False,
    )
    return torch.ops.cauchy
