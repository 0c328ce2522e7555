"""The ```python snippets of README.md's "## Python" and "## PyTorch custom op" sections run
as they are, from the repository root; where "It prints:" and a ```text block follow a snippet,
that is what it must print."""

import contextlib
import io
import re

import pytest
from support import REPO, require

SNIPPET = re.compile(
    r"^```python\n(?P<code>.*?)^```\n(?:\nIt prints:\n\n```text\n(?P<output>.*?)^```\n)?",
    re.MULTILINE | re.DOTALL,
)


def snippets(heading):
    """(code, expected output or None) for each ```python block of the README section under
    `heading` (its "## " line)."""
    text = (REPO / "README.md").read_text()
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end >= 0 else len(text)]
    found = [(m["code"], m["output"]) for m in SNIPPET.finditer(section)]
    assert found, f"README.md has no python snippet under {heading!r}"
    return found


def run(heading, monkeypatch):
    monkeypatch.chdir(REPO)
    for number, (code, expected) in enumerate(snippets(heading), 1):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(code, f"README.md {heading} snippet {number}", "exec"), {})
        if expected is not None:
            assert printed.getvalue() == expected


def test_python_section(monkeypatch):
    require("numpy")
    require("torch")
    run("## Python", monkeypatch)


def test_torch_op_section(torch_op, monkeypatch):
    """After the session's build (same arguments), the snippet's build is up to date."""
    run("## PyTorch custom op", monkeypatch)


@pytest.mark.parametrize("heading", ["## Python", "## PyTorch custom op"])
def test_sections_listed_in_contents(heading):
    anchor = heading[3:].lower().replace(" ", "-")
    assert f"- [{heading[3:]}](#{anchor})" in (REPO / "README.md").read_text()
