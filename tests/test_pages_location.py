"""Your results, your pages (issue 27): a run writes the pages of its own store, beside the store
by default; a folder holding another store's pages is refused, never overwritten; the README's
first command leaves a checkout clean; and the errors of a read-only store directory and of a bad
--param value say what to write instead."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, one_line_error
from harness.cli.app import main
from harness.reporting.files import MARKER, pages_dir

KR = ["-l", "kernel_ridge", "-p", "kernel=rbf", "-p", "gamma_scale=1.0", "-p", "alpha_per_n=1e-3",
      "--n-test", "200", "--seeds", "1", "--jobs", "1", "--n", "40"]


def digests(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by relative path, with the SHA-256 of its bytes."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def layout(tmp_path, monkeypatch):
    """A copy of the repository's layout in tmp (the committed store, the index and the quick
    suite's directory under leaderboards/) as the working directory, no $CONCEPTBENCH_STORE."""
    monkeypatch.delenv("CONCEPTBENCH_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    lb = tmp_path / "leaderboards"
    lb.mkdir()
    shutil.copy(ROOT / "leaderboards" / "store.sqlite", lb / "store.sqlite")
    shutil.copy(ROOT / "leaderboards" / "README.md", lb / "README.md")
    shutil.copytree(ROOT / "leaderboards" / "quick", lb / "quick")
    return tmp_path


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("store, pages", [
    ("conceptbench.sqlite", "conceptbench-pages"),
    ("other/x.sqlite", "other/x-pages"),
    ("/abs/results.db", "/abs/results.db-pages"),
    ("leaderboards/store.sqlite", "leaderboards"),  # a store named store.sqlite owns its folder
    ("store.sqlite", "."),
])
def test_default_pages_folder_sits_beside_the_store(store, pages):
    assert pages_dir(store) == Path(pages)


def readme_first_bench_command() -> list[str]:
    """The `bench` words of the README's first command (its first bash block's last `&&` part)."""
    import shlex

    from markdown_it import MarkdownIt

    first = next(t for t in MarkdownIt().parse((ROOT / "README.md").read_text())
                 if t.type == "fence" and t.info.strip() == "bash")
    words = shlex.split(first.content.split("&&")[-1])
    assert words[0] == ".venv/bin/bench", first.content
    return words[1:]


def test_readme_first_command_leaves_the_checkout_clean(tmp_path, monkeypatch, capsys):
    """The README's first command (`bench run --suite quick`) with the default store, in a working
    directory laid out as a clone (the store already holds the quick suite's 72 cells, so nothing
    trains): the pages go beside the store, git ignores everything the run wrote, and the
    repository's leaderboards/ is untouched."""
    args = readme_first_bench_command()
    assert args == ["run", "--suite", "quick"]  # what the rest of this test and the README say it does
    monkeypatch.delenv("CONCEPTBENCH_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "leaderboards" / "store.sqlite", tmp_path / "conceptbench.sqlite")
    before = digests(ROOT / "leaderboards")
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert "Nothing to train" in out  # (a stale quick suite is tests/test_fingerprint.py's failure)
    assert "Suite pages: conceptbench-pages/quick/ (verdict: conceptbench-pages/quick/verdict.md)" in out
    assert (tmp_path / "conceptbench-pages" / "quick" / "verdict.md").is_file()
    assert (tmp_path / "conceptbench-pages" / "quick" / "sin3.md").is_file()
    assert digests(ROOT / "leaderboards") == before
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("no git to ask whether the written files are ignored")
    written = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()]
    assert any(w.endswith("verdict.md") for w in written)
    # git itself decides: every file the run wrote, at the same path in the checkout, is ignored
    ignored = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "--no-index", *written],
                             capture_output=True, text=True).stdout.split()
    assert sorted(ignored) == sorted(written)


def test_a_run_on_another_store_writes_beside_it_and_leaves_committed_pages_alone(layout, capsys):
    before = digests(layout / "leaderboards")
    code, out, err = run(capsys, "run", "-t", "sin3", *KR, "--store", "other/x.sqlite")
    assert code == 0, err
    assert "Leaderboards: other/x-pages/sin3.md" in out
    page = (layout / "other" / "x-pages" / "sin3.md").read_text()
    assert "kernel_ridge" in page and "ntk" not in page  # this store's one learner only
    assert json.loads((layout / "other" / "x-pages" / MARKER).read_text()) == {"store": "../x.sqlite"}
    assert digests(layout / "leaderboards") == before


@pytest.mark.parametrize("out", ["leaderboards", "leaderboards/quick", "leaderboards/."])
def test_another_stores_folder_is_refused_before_training(layout, capsys, out):
    before = digests(layout / "leaderboards")
    code, _, err = run(capsys, "run", "-t", "sin3", *KR, "--store", "other/x.sqlite", "--out", out)
    line = one_line_error(err)
    assert code == 2
    assert "holds the pages of the store leaderboards/store.sqlite, not of other/x.sqlite" in line
    assert "nothing was written there; pass --out DIR" in line
    assert "[1/" not in err  # refused before training
    assert not (layout / "other").exists()  # nor is the store created
    assert digests(layout / "leaderboards") == before
    code, _, err = run(capsys, "run", "-t", "sin3", *KR, "--store", "other/x.sqlite")  # its own pages: fine
    assert code == 0, err
    code, _, err = run(capsys, "leaderboard", "--store", "other/x.sqlite", "--out", out)
    assert code == 2 and "holds the pages of the store leaderboards/store.sqlite" in one_line_error(err)
    assert digests(layout / "leaderboards") == before


def test_the_committed_store_regenerates_its_pages_in_place(layout, capsys):
    (layout / "leaderboards" / "quick" / "verdict.md").unlink()
    code, out, err = run(capsys, "leaderboard", "--suite", "quick", "--store", "leaderboards/store.sqlite")
    assert code == 0, err
    assert "leaderboards/quick/verdict.md" in out.splitlines()
    assert (layout / "leaderboards" / "quick" / "verdict.md").is_file()
    assert not (layout / "leaderboards" / MARKER).exists()  # store.sqlite already says whose they are


def test_a_marked_folder_belongs_to_its_store_wherever_the_tree_moves(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    a, b = tmp_path / "a" / "a.sqlite", tmp_path / "b.sqlite"
    pages = tmp_path / "pages"
    code, _, err = run(capsys, "run", "-t", "sin3", *KR, "--store", str(a), "--out", str(pages))
    assert code == 0, err
    before = digests(pages)
    code, _, err = run(capsys, "run", "-t", "sin3", *KR, "--store", str(b), "--out", str(pages))
    assert code == 2 and "pages/ holds the pages of the store a/a.sqlite, not of b.sqlite" in one_line_error(err)
    assert digests(pages) == before
    # the marker records the store relative to the folder: the moved pair still belongs together
    shutil.move(tmp_path / "a", tmp_path / "moved")
    shutil.move(pages, tmp_path / "moved-pages")
    code, out, err = run(capsys, "leaderboard", "--store", "moved/a.sqlite", "--out", "moved-pages")
    assert code == 2  # the pages sat beside a/, not beside moved/: ../a/a.sqlite is gone
    shutil.move(tmp_path / "moved-pages", tmp_path / "moved" / "pages")
    (tmp_path / "moved" / "pages" / MARKER).write_text('{"store": "../a.sqlite"}\n')
    code, out, err = run(capsys, "leaderboard", "--store", "moved/a.sqlite", "--out", "moved/pages")
    assert code == 0, err


def test_an_unreadable_marker_is_one_line(tmp_path, bench):
    (tmp_path / "lb").mkdir()
    (tmp_path / "lb" / MARKER).write_text("not json")
    code, _, err = bench("run", "-t", "sin3", *KR, "--out", str(tmp_path / "lb"))
    assert code == 2 and "does not say which store made the pages" in one_line_error(err)


def test_a_folder_whose_readme_is_not_an_index_is_refused(tmp_path, monkeypatch, capsys):
    """`--out .` in a project would replace the project's README.md with the pages' index."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "README.md").write_text("# my project\n")
    code, _, err = run(capsys, "run", "-t", "sin3", *KR, "--store", "x.sqlite", "--out", ".")
    assert code == 2 and "README.md is not a page index this tool wrote" in one_line_error(err)
    assert (tmp_path / "README.md").read_text() == "# my project\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]  # no store, no marker, no page


def test_the_index_title_is_what_the_index_starts_with():
    # files.py recognises an index by its first line; leaderboard.py writes it
    from harness.reporting.files import INDEX_TITLE
    from harness.reporting.leaderboard import INDEX_HEAD
    assert INDEX_HEAD.split("\n", 1)[0] == INDEX_TITLE
    assert (ROOT / "leaderboards" / "README.md").read_text().split("\n", 1)[0] == INDEX_TITLE


def test_help_says_where_pages_go(capsys):
    for args in (["--help"], ["run", "--help"], ["leaderboard", "--help"]):
        code, out, _ = run(capsys, *args)
        assert code == 0
        text = " ".join(out.split())
        assert "leaderboards/<task>.md" not in text
        assert "conceptbench-pages" in text, args
    code, out, _ = run(capsys, "run", "--help")
    assert "another store's pages is refused" in " ".join(out.split())


# --- item 6: errors that say what to write -------------------------------------------------------

def _unwritable_dir(tmp_path: Path) -> Path:
    """A directory no file can be created in: read-only permissions (ignored by root, so then
    /proc, which refuses new files to everyone)."""
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        return ro
    if not Path("/proc/self").is_dir():
        pytest.skip("running as root without /proc: no directory refuses a new file")
    return Path("/proc")


def test_store_in_a_read_only_directory_says_so(tmp_path, bench):
    ro = _unwritable_dir(tmp_path)
    try:
        code, _, err = bench("run", "-t", "sin3", *KR, "--store", str(ro / "x.sqlite"))
        line = one_line_error(err)
        assert code == 2
        assert f"cannot create store {ro / 'x.sqlite'}: the directory {ro} is not writable" in line
        assert "e.g. --store ~/x.sqlite" in line
        assert "not a readable conceptbench database" not in line
        assert "[1/" not in err
    finally:
        if ro != Path("/proc"):
            ro.chmod(0o755)


def test_an_existing_store_in_a_read_only_directory_says_so(tmp_path, bench):
    if os.geteuid() == 0:
        pytest.skip("root writes into a read-only directory")
    ro = tmp_path / "ro"
    ro.mkdir()
    con = sqlite3.connect(ro / "x.sqlite")  # any file: the directory fails before its contents matter
    con.execute("CREATE TABLE t (x)")
    con.close()
    ro.chmod(0o555)
    try:
        code, _, err = bench("show", "--store", str(ro / "x.sqlite"))
        line = one_line_error(err)
        assert code == 2 and f"the directory {ro} is not writable" in line and "copy it to" in line
    finally:
        ro.chmod(0o755)


def test_a_bad_value_gets_an_example_of_a_good_one(bench):
    code, _, err = bench("run", "-t", "sin3", "-l", "three_layer_sgd", "-p", "lr=fast", "--n", "40")
    line = one_line_error(err)
    assert code == 2 and "lr must be a positive number, got 'fast'; e.g. -p lr=" in line
    example = line.split("e.g. ")[1].split()  # ['-p', 'lr=...']
    # the example is accepted: the same run with it stops at the next check (N too small), not at lr
    code, _, err = bench("run", "-t", "sin3", "-l", "three_layer_sgd", *example, "--n", "1")
    assert code == 2 and "lr" not in one_line_error(err) and "too small" in one_line_error(err)


def test_a_parameter_no_selected_learner_has_lists_what_they_take(bench):
    code, _, err = bench("run", "-t", "sin3", "-l", "ntk", "-p", "lr=fast", "--n", "40")
    line = one_line_error(err)
    assert code == 2 and "has a parameter 'lr'" in line and "ntk: bias, depth, ridge_per_n" in line
    code, _, err = bench("run", "-t", "sin3", "-l", "ntk", "-p", "ridge=1", "--n", "40")
    assert code == 2 and "did you mean 'ridge_per_n'?" in one_line_error(err)
