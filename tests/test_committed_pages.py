"""The committed pages are what the committed store gives: each suite's directory under
leaderboards/ regenerates (`bench leaderboard --suite`, nothing trained) to the same text."""

from __future__ import annotations

import shutil

import pytest

from conftest import ROOT

QUICK = [("quick", None), ("allen-zhu-fig1a", None)]
ALL = [(s, None) for s in ("allen-zhu-fig1", "allen-zhu-fig1b", "allen-zhu-fig2", "arora-random-labels",
                           "li-liang-mixtures", "teacher-nets", "zou-gu-deep")] + [
    (s, "paper") for s in ("arora-random-labels", "li-liang-mixtures", "zou-gu-deep")]


def regenerate(bench, tmp_path, suite, scale):
    store = tmp_path / "store.sqlite"
    if not store.exists():
        shutil.copy(ROOT / "leaderboards" / "store.sqlite", store)
    committed = ROOT / "leaderboards" / suite / (scale or "")
    out = tmp_path / "lb"
    where = out / suite / (scale or "")
    shutil.copytree(committed, where, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("paper"))  # runs.json is read back: start from it
    code, _, err = bench("leaderboard", "--suite", suite, *(["--scale", scale] if scale else []),
                         "--store", str(store), "--out", str(out))
    assert code == 0, err
    texts = sorted(p.relative_to(committed) for p in committed.iterdir() if p.suffix in (".md", ".json"))
    assert texts
    for rel in texts:
        assert (where / rel).read_text() == (committed / rel).read_text(), f"{suite}/{scale or ''}/{rel}"


@pytest.mark.parametrize("suite, scale", QUICK)
def test_committed_suite_pages_regenerate_from_the_committed_store(bench, tmp_path, suite, scale):
    regenerate(bench, tmp_path, suite, scale)


@pytest.mark.slow
@pytest.mark.parametrize("suite, scale", ALL)
def test_every_committed_suite_directory_regenerates(bench, tmp_path, suite, scale):
    regenerate(bench, tmp_path, suite, scale)
