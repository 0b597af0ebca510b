"""Fingerprints follow the code that runs, not the file that holds it: a pure move or a module
rename keeps stored cells current, any change of reachable code makes them stale, and rows
written under the earlier per-module scheme are read (and rewritten) as today's values."""

from __future__ import annotations

import importlib
import shutil
import sqlite3
import sys
import textwrap

import pytest

from harness.protocol import fingerprint
from harness.execution.registry import load_registry
from harness.execution.runner import staleness, upgrade_fingerprints
from harness.storage.store import Store

from conftest import ROOT

LEARNER = """
    import numpy as np
    from harness import Learner
    from {helper} import Predictor
    from {consts} import SCALE

    class Moved(Learner):
        name = "moved"
        parameters = {{"k": [1.0]}}

        def fit(self, X, y, params, rng, problem):
            from {lazy} import shrink  # lazily, as the built-ins import their heavy helpers
            return Predictor(shrink(float(np.mean(y))) * SCALE * params["k"])
"""
PREDICTOR = """
    import numpy as np

    class Predictor:
        def __init__(self, v): self.v = v
        def predict(self, X): return np.full(len(X), self.v)
"""
SHRINK = """
    def shrink(v):
        return {body}
"""


@pytest.fixture
def package(tmp_path, monkeypatch):
    """``package(files)`` writes the package ``fpkg`` (relative path → source) and returns the
    fingerprint of its ``Moved`` learner, computed from scratch as a new process would."""
    monkeypatch.syspath_prepend(str(tmp_path))
    counter = iter(range(100))

    def make(files: dict[str, str]) -> str:
        root = tmp_path / f"v{next(counter)}"  # a new folder each time: no stale bytecode or caches
        for rel, text in files.items():
            path = root / "fpkg" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        for name in [m for m in sys.modules if m == "fpkg" or m.startswith("fpkg.")]:
            del sys.modules[name]
        sys.path.insert(0, str(root))
        try:
            importlib.invalidate_caches()
            module = importlib.import_module("fpkg")
            fingerprint._class_fingerprint.cache_clear()
            return fingerprint.code_fingerprint(module.Moved())
        finally:
            sys.path.remove(str(root))
    return make


def files(helper=".helper", consts=".consts", lazy=".shrinking", body="v / 2", scale="2.0", extra=""):
    out = {"__init__.py": LEARNER.format(helper=helper, consts=consts, lazy=lazy),
           "consts.py": f"SCALE = {scale}\n", "shrinking.py": SHRINK.format(body=body)}
    out[helper.lstrip(".").replace(".", "/") + ".py"] = textwrap.dedent(PREDICTOR) + extra
    return out


def test_a_pure_move_or_module_rename_keeps_the_fingerprint(package):
    before = package(files())
    assert before.startswith("code+")
    # the class moves to another module
    assert package(files(helper=".models")) == before
    # a whole module moves into a sub-package under another name
    assert package({**files(helper=".nets.predictors"), "nets/__init__.py": ""}) == before
    # the constant and the lazily imported function move too, into one module
    moved = files(consts=".tools", lazy=".tools")
    moved["tools.py"] = "SCALE = 2.0\n" + textwrap.dedent(SHRINK.format(body="v / 2"))
    del moved["consts.py"], moved["shrinking.py"]
    assert package(moved) == before
    # comments, docstrings, and code that nothing reaches do not count
    assert package(files(extra='\n\ndef unused():\n    """never called"""\n    return 1  # a comment\n')) == before


@pytest.mark.parametrize("change", [
    {"body": "v / 3"},  # a lazily imported helper's code
    {"scale": "3.0"},  # a module-level constant the learner names
])
def test_any_change_of_reachable_code_changes_the_fingerprint(package, change):
    assert package(files(**change)) != package(files())


def test_a_changed_helper_class_changes_the_fingerprint(package):
    edited = files()
    edited["helper.py"] = PREDICTOR.replace("np.full(len(X), self.v)", "np.full(len(X), self.v + 1)")
    assert package(edited) != package(files())


def test_the_built_ins_fingerprints_are_those_recorded_at_the_scheme_change():
    """The recorded table pairs each built-in's old-scheme fingerprint with the new one of the
    same code; the code installed now must still hash to it (or it changed, and its cells are
    rightly stale: then this test names which)."""
    reg = load_registry()
    table = fingerprint._legacy_table()
    changed = [key for key, pairs in table.items()
               for obj in [(reg.learners if key.startswith("learner:") else reg.tasks)[key.split(":", 1)[1]]]
               if fingerprint.code_fingerprint(obj) not in
               {fingerprint.equivalent(v, *key.split(":", 1)) for v in pairs.values()}]  # or recorded as same
    assert not changed, f"code changed since the scheme change: {changed}"


def test_the_committed_store_is_current_and_migrates_to_the_new_scheme(tmp_path):
    copy = tmp_path / "store.sqlite"
    shutil.copy(ROOT / "leaderboards" / "store.sqlite", copy)
    # rows a `bench run` has already migrated go back to their recorded old-scheme values, so the
    # migration is tested on every row whatever the committed store holds
    con = sqlite3.connect(copy)
    for key, pairs in fingerprint._legacy_table().items():
        kind, name = key.split(":")
        for old, new in pairs.items():  # the value migrated to, or the later code it is recorded as the same as
            for now in {new, fingerprint.equivalent(new, kind, name)}:
                con.execute(f"UPDATE cells SET {kind}_code = ? WHERE {kind} = ? AND {kind}_code = ?", (old, name, now))
    con.commit()
    store, reg = Store(copy), load_registry()
    stale = staleness(reg)
    rows = store.rows()
    legacy = sum(not r["learner_code"].startswith("code+") for r in rows)
    assert legacy == len(rows) > 1000
    assert all(stale(r) == [] for r in rows)  # old-scheme rows read as current …
    assert upgrade_fingerprints(store, reg) == 2 * legacy  # … are rewritten (learner and task) …
    rows = store.rows()
    assert all(r["learner_code"].startswith("code+") and r["task_code"].startswith("code+") for r in rows)
    assert all(stale(r) == [] for r in rows)  # … and stay current
    assert upgrade_fingerprints(store, reg) == 0


def test_an_old_scheme_row_of_changed_code_stays_stale(tmp_path):
    copy = tmp_path / "store.sqlite"
    shutil.copy(ROOT / "leaderboards" / "store.sqlite", copy)
    con = sqlite3.connect(copy)
    cell = con.execute("SELECT cell_id FROM cells WHERE learner = 'ntk' LIMIT 1").fetchone()[0]
    con.execute("UPDATE cells SET learner_code = '0123456789abcdef' WHERE cell_id = ?", (cell,))
    con.commit()
    store, reg = Store(copy), load_registry()
    upgrade_fingerprints(store, reg)
    row = next(r for r in store.rows(learner="ntk") if r["cell_id"] == cell)
    assert row["learner_code"] == "0123456789abcdef"
    assert staleness(reg)(row) == ["learner code changed"]


def test_a_third_party_row_of_the_old_scheme_is_current_when_its_code_is_unchanged(fake_plugin, bench, tmp_path):
    from test_trust import PLUGIN, RUN, cells_trained

    fake_plugin("cb_shift", PLUGIN.format(grid="[0.0, 1.0]", offset="0.1"))
    assert cells_trained(bench(*RUN, "--out", str(tmp_path / "lb"))[1]) == 2
    learner = load_registry().learners["shift"]
    old = fingerprint.legacy_fingerprint(type(learner))
    con = sqlite3.connect(tmp_path / "store.sqlite")
    con.execute("UPDATE cells SET learner_code = ?", (old,))
    con.commit()
    code, out, err = bench(*RUN, "--out", str(tmp_path / "lb"))
    assert code == 0 and "stale" not in err and "Nothing to train" in out
    assert {r[0] for r in con.execute("SELECT learner_code FROM cells")} == {fingerprint.code_fingerprint(learner)}


def test_a_value_patched_at_run_time_does_not_change_a_fingerprint(monkeypatch):
    """Reachability is read from the files: a test's or a benchmark's knob (a module constant set
    at run time) and what a cache holds leave the fingerprint of the code as it is."""
    from plugins.learners.kernels import nystrom

    ntk = load_registry().learners["ntk"]
    before = fingerprint.code_fingerprint(ntk)
    monkeypatch.setattr(nystrom, "CENTRES", 7)
    monkeypatch.setattr(nystrom, "falkon_fit", lambda *a, **k: None)
    fingerprint._class_fingerprint.cache_clear()
    assert fingerprint.code_fingerprint(ntk) == before


def test_every_suites_small_scale_has_nothing_to_train_on_the_committed_store(tmp_path):
    """After the move into sub-packages and the scheme change, the committed cells stay current."""
    from harness.execution.runner import pending
    from harness.reporting import suite_pages

    copy = tmp_path / "store.sqlite"
    shutil.copy(ROOT / "leaderboards" / "store.sqlite", copy)
    store, reg = Store(copy), load_registry()
    for name, suite in sorted(reg.suites.items()):
        grid = suite_pages.grid_of(suite, "small")
        cells = suite_pages.cells(reg, grid)
        assert cells and pending(cells, store) == [], name
