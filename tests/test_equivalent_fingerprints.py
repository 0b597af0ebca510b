"""Recorded equivalences of fingerprints (harness/protocol/equivalent.json): a code edit recorded as
leaving every result unchanged keeps the earlier code's stored cells current."""

import sqlite3
import shutil
from pathlib import Path

import pytest

from harness.execution.registry import load_registry
from harness.execution.runner import staleness
from harness.protocol import fingerprint
from harness.storage.store import Store

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def table(monkeypatch):
    entries = {"learner:x": {"code+a": {"same_as": "code+b", "because": "t"},
                             "code+b": {"same_as": "code+c", "because": "t"},
                             "code+loop1": {"same_as": "code+loop2", "because": "t"},
                             "code+loop2": {"same_as": "code+loop1", "because": "t"}}}
    monkeypatch.setattr(fingerprint, "_equivalent_table", lambda: entries)


def test_a_recorded_fingerprint_reads_as_the_latest_it_is_equivalent_to(table):
    assert fingerprint.upgraded("code+a", "learner", "x", None) == "code+c"  # followed through b
    assert fingerprint.upgraded("code+b", "learner", "x", None) == "code+c"
    assert fingerprint.upgraded("code+zzz", "learner", "x", None) == "code+zzz"  # not recorded: itself
    assert fingerprint.upgraded("code+a", "learner", "other", None) == "code+a"  # per plugin
    assert fingerprint.upgraded(None, "learner", "x", None) is None
    assert fingerprint.upgraded("code+loop1", "learner", "x", None) in {"code+loop1", "code+loop2"}  # ends


def test_every_recorded_entry_names_its_reason_and_a_plugin_that_exists():
    reg = load_registry()
    for key, pairs in fingerprint._equivalent_table().items():
        kind, name = key.split(":", 1)
        assert name in (reg.learners if kind == "learner" else reg.tasks), key
        for old, entry in pairs.items():
            assert old.startswith("code+") and entry["same_as"].startswith("code+") and len(entry["because"]) > 40


def test_cells_stored_before_the_default_width_change_are_current(tmp_path):
    """The quick suite's three_layer_sgd cells were stored under the width-1000 default's code."""
    copy = tmp_path / "store.sqlite"
    shutil.copy(ROOT / "leaderboards" / "store.sqlite", copy)
    old = "code+c312b9bdcfc26fbe"
    con = sqlite3.connect(copy)
    con.execute("UPDATE cells SET learner_code = ? WHERE learner = 'three_layer_sgd'", (old,))
    con.commit()
    reg = load_registry()
    assert fingerprint.code_fingerprint(reg.learners["three_layer_sgd"]) != old  # the code did change …
    rows = Store(copy).rows(learner="three_layer_sgd")
    assert len(rows) > 100 and all(staleness(reg)(r) == [] for r in rows)  # … and its cells stay current
    con.execute("UPDATE cells SET learner_code = 'code+0000000000000000' WHERE learner = 'three_layer_sgd'")
    con.commit()
    assert all(staleness(reg)(r) == ["learner code changed"] for r in Store(copy).rows(learner="three_layer_sgd"))
