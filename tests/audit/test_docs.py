"""The Python examples of docs/audit.md run, in order, against the test database."""

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "audit.md"

pytestmark = pytest.mark.django_db


def test_docs_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 6
    namespace: dict = {}
    for number, block in enumerate(blocks, start=1):
        code = compile(block, f"{DOC.name} (python block {number})", "exec")
        exec(code, namespace)  # noqa: S102 - our own documentation
