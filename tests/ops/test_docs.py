"""Run every code block of README.md and docs/*.md (see docs/developer-guide.md).

- ```python blocks run in this process, in order, one namespace per page, against
  the test database (transactional: what they commit, shell blocks see);
- ```sh / ```bash / ```shell blocks run in `bash -euo pipefail`, in order, sharing
  a working directory and shell variables per page, with `python manage.py ...`
  pointing at the test database, `$BASE` at a live test server and no REDIS_URL
  (as `make run`);
- a block right after `<!-- fragment -->` is only syntax-checked (bash -n or
  compile); one after `<!-- file: path -->` must be an excerpt of that file,
  which the suite imports and tests;
- every fence names its language; blocks in other languages (text, json, sql,
  yaml, csv, ...) are output or reference, not code to run.
"""

import io
import os
import re
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import call_command

from .conftest import ROOT

PYTHON = {"python", "py"}
SHELL = {"sh", "bash", "shell"}
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
MARKER = re.compile(r"^<!--\s*(fragment|file:\s*(?P<file>\S+))\s*-->$")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Runs a shell block with the variables of the page's earlier blocks, and saves
# its own for the next ones (a reader pastes the blocks into one terminal).
SHELL_PRELUDE = """\
__merp_before=" $(compgen -v | tr '\\n' ' ') "
if [ -f "$MERP_DOC_STATE" ]; then source "$MERP_DOC_STATE"; fi
__merp_save() {
  for v in $(compgen -v); do
    case "$__merp_before" in
      *" $v "*) ;;
      *) [[ $v == __merp_* ]] || declare -p "$v";;
    esac
  done > "$MERP_DOC_STATE"
}
trap __merp_save EXIT
set -euo pipefail
"""


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    language: str
    code: str
    marker: str | None = None  # "fragment" or "file:<path>"

    @property
    def where(self) -> str:
        page = (
            self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page
        )
        return f"{page}:{self.line}"


def parse(page: Path) -> list[Block]:
    blocks: list[Block] = []
    lines = page.read_text().splitlines()
    i = 0
    previous = ""  # last non-blank line before a fence
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        indent, language = match.groups()
        start = i + 1
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        assert end < len(lines), f"{page.name}:{i + 1}: unclosed code fence"
        code = textwrap.dedent("\n".join(lines[start:end])) + "\n"
        marker = MARKER.match(previous)
        tag = None
        if marker:
            tag = f"file:{marker['file']}" if marker["file"] else "fragment"
        blocks.append(Block(page, i + 1, language.lower(), code, tag))
        previous = ""
        i = end + 1
    return blocks


def test_every_fence_names_its_language():
    unnamed = [b.where for page in PAGES for b in parse(page) if not b.language]
    assert not unnamed, f"name the language of these code blocks: {unnamed}"


def test_markers_precede_code_blocks():
    # A marker that is not right before a block would silently do nothing.
    for page in PAGES:
        lines = page.read_text().splitlines()
        for number, line in enumerate(lines, 1):
            if MARKER.match(line.strip()):
                following = next((x for x in lines[number:] if x.strip()), "")
                assert FENCE.match(following), (
                    f"{page.name}:{number}: a marker must be followed by a code block"
                )


def test_the_docs_exist():
    names = {p.name for p in PAGES}
    assert {
        "README.md",
        "quickstart.md",
        "developer-guide.md",
        "api.md",
        "operations.md",
        "troubleshooting.md",
        "scaling.md",
    } <= names


@pytest.fixture
def doc_shell_env(process_env, live_server, tmp_path):
    # The pages are read after `make run`: the demo data is there.
    call_command("merp_seed_demo", "--partners", "30", stdout=io.StringIO())
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "manage.py").symlink_to(ROOT / "manage.py")
    env = {
        **process_env,
        "REDIS_URL": "",
        "BASE": live_server.url,
        "MERP_DOC_STATE": str(tmp_path / "shell-state.sh"),
    }
    return workdir, env


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_code_blocks_run(page, doc_shell_env, monkeypatch):
    workdir, env = doc_shell_env
    monkeypatch.chdir(workdir)
    namespace = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for block in parse(page):
        if block.language in PYTHON:
            run_python(block, namespace)
        elif block.language in SHELL:
            run_shell(block, workdir, env)


def run_python(block: Block, namespace: dict) -> None:
    code = compile(block.code, block.where, "exec")
    if block.marker == "fragment":
        return
    if block.marker:
        assert_excerpt(block)
        return
    exec(code, namespace)  # noqa: S102 - the docs are ours


def run_shell(block: Block, workdir: Path, env: dict) -> None:
    if block.marker == "fragment":
        result = subprocess.run(
            ["bash", "-n"], input=block.code, capture_output=True, text=True
        )
        assert result.returncode == 0, f"{block.where}: {result.stderr}"
        return
    if block.marker:
        assert_excerpt(block)
        return
    result = subprocess.run(
        ["bash", "-c", SHELL_PRELUDE + block.code],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (
        f"{block.where} exited {result.returncode}\n--- stdout\n{result.stdout}"
        f"\n--- stderr\n{result.stderr}"
    )


def assert_excerpt(block: Block) -> None:
    path = ROOT / block.marker.removeprefix("file:")
    assert path.is_file(), f"{block.where}: no file {path}"
    assert block.code.strip() in path.read_text(), (
        f"{block.where}: the block is not an excerpt of {path.relative_to(ROOT)}; "
        "copy it from the file again"
    )


def test_shell_variables_carry_over_between_blocks(doc_shell_env, tmp_path):
    workdir, env = doc_shell_env
    page = tmp_path / "page.md"
    first = Block(page, 1, "sh", 'GREETING="hello docs"\n')
    second = Block(page, 5, "sh", 'test "$GREETING" = "hello docs"\n')
    run_shell(first, workdir, env)
    run_shell(second, workdir, env)
    with pytest.raises(AssertionError, match="exited 1"):
        run_shell(Block(page, 9, "sh", "false\necho never\n"), workdir, env)
    assert os.path.exists(env["MERP_DOC_STATE"])
