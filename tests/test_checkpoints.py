"""Checkpointed cells (issue #25, item 1): a cell cut off mid-training — an exception at a chosen
save in this process, or ``kill -9`` of the process running it — resumes from its checkpoint and
stores exactly the result of a run that was never cut (same bits on the CPU); a checkpoint of other
code is not resumed; checkpoints go away when the cell is stored; ``bench show`` lists cells in
progress."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from harness.api import checkpoints
from harness.execution.registry import load_registry
from harness.execution.runner import checkpoint_root, execute, trained_before
from harness.protocol.cell import CellSpec, Protocol, checkpoint_folder, checkpoint_identity, run_cell
from harness.storage.store import Store

EVERY_EPOCH = 1e-9  # minutes: every epoch's check finds a save due

# Small cells of each kind of training loop: the batched grid of a ReLU net (selection) and its
# refit (train()), the finite NTK (vmap'd linearised net, buffers W(0)), and full-batch GD.
CELLS = {
    "three_layer_sgd": ("sin3", {"width": [24], "lr": [0.001, 0.003], "weight_decay": [0.0], "momentum": [0.9], "epochs": [40],
                                 "patience": [5], "batch_size": [20]}),
    "three_layer_ntk": ("sin3", {"width": [16], "lr": [0.003, 0.01], "weight_decay": [0.0], "epochs": [12], "patience": [4],
                                 "batch_size": [20]}),
    "arora_gd": ("sin3", {"width": [64], "lr": [0.5, 1.0], "epochs": [16]}),
    "three_layer_alg1": ("sin3", {"width": [16], "epochs": [12], "patience": [4], "output_draws": [2],
                                  "lr": [0.01, 0.03]}),
}
# A record's fields that must agree bit for bit (seconds and host may differ).
SAME = ("status", "test_score", "train_score", "val_score", "metrics", "chosen_params", "edges", "refit_failures")


def spec_of(name: str, n: int = 60, seed: int = 0) -> CellSpec:
    reg = load_registry()
    task, params = CELLS[name]
    return CellSpec(reg.tasks[task], reg.learners[name].with_params(**params), n, seed, Protocol(n_test=200))


def result(record: dict) -> dict:
    trials = [{k: v for k, v in t.items() if k != "seconds"} for t in record["selection"]]
    return {**{k: record.get(k) for k in SAME}, "selection": trials}


class Cut(BaseException):  # not an Exception: run_cell must not catch it, as it cannot catch a kill
    pass


@pytest.mark.parametrize("name", sorted(CELLS))
def test_a_cell_cut_in_its_first_and_its_last_program_resumes_to_the_uncut_result(tmp_path, monkeypatch, name):
    reference = result(run_cell(spec_of(name)))
    assert reference["status"] == "ok"
    spec = replace(spec_of(name), checkpoints=(str(tmp_path), EVERY_EPOCH))
    real_save, saves, cut = checkpoints.TrainingCheckpoint.save, [], [lambda index, epoch: False]

    def save_then_cut(self, state, epoch, epochs, finished=False):
        real_save(self, state, epoch, epochs, finished)
        saves.append((self.index, epoch, finished))
        if cut[0](self.index, epoch):
            raise Cut

    monkeypatch.setattr(checkpoints.TrainingCheckpoint, "save", save_then_cut)
    assert result(run_cell(spec)) == reference  # saving every epoch changes nothing
    programs = {}
    for index, epoch, _ in saves:
        programs.setdefault(index, []).append(epoch)
    first, last = min(programs), max(programs)
    assert len(programs) >= 2 and len(programs[first]) >= 3 and len(programs[last]) >= 3, programs
    assert result(run_cell(spec)) == reference  # every program restored finished: nothing trains
    checkpoints.discard(checkpoint_folder(spec))

    saves.clear()
    mid_first, mid_last = (programs[p][(len(programs[p]) - 1) // 2] for p in (first, last))
    cut[0] = lambda index, epoch: (index, epoch) == (first, mid_first)
    with pytest.raises(Cut):
        run_cell(spec)
    cut[0] = lambda index, epoch: (index, epoch) == (last, mid_last)
    with pytest.raises(Cut):
        run_cell(spec)
    second = saves[saves.index((first, mid_first, False)) + 1]
    assert second[:2] == (first, mid_first + 1)  # the second run went on where the first was cut
    cut[0], before = (lambda index, epoch: False), len(saves)
    assert result(run_cell(spec)) == reference
    assert {index for index, _, _ in saves[before:]} == {last} and saves[before][1] == mid_last + 1


def test_a_checkpoint_of_other_code_is_not_resumed_and_says_so(tmp_path, monkeypatch):
    spec = replace(spec_of("three_layer_sgd"), checkpoints=(str(tmp_path), EVERY_EPOCH))
    folder = checkpoint_folder(spec)
    real_save = checkpoints.TrainingCheckpoint.save

    def cut(self, *args, **kwargs):
        real_save(self, *args, **kwargs)
        raise Cut

    monkeypatch.setattr(checkpoints.TrainingCheckpoint, "save", cut)
    with pytest.raises(Cut):
        run_cell(spec)
    meta = json.loads((folder / "meta.json").read_text())
    meta["identity"]["code"]["learner_code"] = "code+0000000000000000"  # written by other code
    (folder / "meta.json").write_text(json.dumps(meta))
    monkeypatch.setattr(checkpoints.TrainingCheckpoint, "save", real_save)
    notes = []
    with checkpoints.cell_checkpoints(folder, {"key": spec.key, "code": spec.code}, 1.0, spec.describe(),
                                      note=notes.append):
        pass
    assert notes == [f"checkpoint of {spec.describe()} of other code or another grid: not resumed, the cell restarts"]
    assert not folder.exists()


def test_a_training_program_of_another_signature_is_not_restored(tmp_path):
    cell = checkpoints._Cell(tmp_path, {}, 0.0, "cell", note=lambda m: None)
    checkpoints.TrainingCheckpoint(cell, 1, "sgd", {"lr": 0.1}).save({"x": 1}, 3, 10)
    assert checkpoints.TrainingCheckpoint(cell, 1, "sgd", {"lr": 0.1}).restore() == {"x": 1, "epoch": 3,
                                                                                     "finished": False}
    assert checkpoints.TrainingCheckpoint(cell, 1, "sgd", {"lr": 0.2}).restore() is None
    assert checkpoints.TrainingCheckpoint(cell, 1, "gd", {"lr": 0.1}).restore() is None


def test_outside_a_checkpointed_cell_nothing_is_saved(tmp_path):
    ckpt = checkpoints.training_checkpoint("sgd", {})
    ckpt.save({"x": 1}, 1, 2)
    ckpt.finish(lambda: {"x": 1}, 2, 2)
    assert ckpt.restore() is None and not ckpt.due() and ckpt.path is None


# A run of one cell in its own process, saving every epoch, slowed per save so a kill finds it mid-cell.
KILLED = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from harness.api import checkpoints
    real = checkpoints.TrainingCheckpoint.save
    def slow(self, *a, **k):
        real(self, *a, **k)
        time.sleep(0.05)
    checkpoints.TrainingCheckpoint.save = slow
    from test_checkpoints import spec_of
    from harness.execution.runner import execute
    from harness.storage.store import Store
    execute([spec_of({name!r})], Store({store!r}), checkpoint_minutes={every!r})
""")


def test_kill_9_mid_cell_then_a_rerun_resumes_and_stores_the_uncut_result(tmp_path):
    name = "three_layer_sgd"
    reference = result(run_cell(spec_of(name)))
    store_path = tmp_path / "s.sqlite"
    script = KILLED.format(tests=str(Path(__file__).parent), name=name, store=str(store_path), every=EVERY_EPOCH)
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    folder = checkpoint_root(Store(store_path)) / spec_of(name).cell_id
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if json.loads((folder / "meta.json").read_text())["epoch"] >= 8:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the cell finished before it could be killed"
    assert Store(store_path).rows() == [] and (folder / "meta.json").exists()
    listed = checkpoints.in_progress(checkpoint_root(Store(store_path)))
    assert [r["cell_id"] for r in listed] == [spec_of(name).cell_id] and listed[0]["epoch"] >= 8

    summary = execute([spec_of(name)], Store(store_path), checkpoint_minutes=EVERY_EPOCH)
    (row,) = Store(store_path).rows()
    assert summary.statuses["ok"] == 1 and result(row) == reference
    assert not folder.exists()  # gone once the cell is stored


def test_bench_show_lists_cells_in_progress(bench, tmp_path):
    store = Store(tmp_path / "store.sqlite")  # the `bench` fixture's store
    cell = checkpoints._Cell(checkpoint_root(store) / "abc", {}, 0.0, "sin3 · three_layer_sgd · N=1000 · seed 0",
                             note=lambda m: None)
    checkpoints.TrainingCheckpoint(cell, 2, "sgd", {}).save({}, 117, 800)
    # two cells whose checkpoints say their key: named by the parameter that tells them apart
    for train, seed in (("hidden", 3), ("last", 4)):
        key = {"task": {"name": "sin3", "params": {}}, "n": 5000, "seed": seed,
               "learner": {"name": "three_layer_sgd", "grid": {"width": [1000], "train": [train], "lr": [0.1, 0.2]}}}
        cell = checkpoints._Cell(checkpoint_root(store) / f"c{seed}", {"key": key}, 0.0, "a long label…",
                                 note=lambda m: None)
        checkpoints.TrainingCheckpoint(cell, 1, "sgd", {}).save({}, 40 * seed, 800)
    code, out, _ = bench("show")
    assert code == 0 and "3 cell(s) in progress" in out
    assert "  sin3 · three_layer_sgd · N=1000 · seed 0: epoch 117/800 (program 2), saved " in out  # no key: its label
    assert "  sin3, three_layer_sgd[train=hidden], N=5000, seed 3: epoch 120/800 (program 1), saved " in out
    assert "  sin3, three_layer_sgd[train=last], N=5000, seed 4: epoch 160/800 (program 1), saved " in out
    assert max(len(line) for line in out.splitlines()) <= 100 or str(tmp_path) in out.splitlines()[-1]
    assert "in progress" not in bench("show", "-l", "ntk")[1]


def test_bench_show_names_a_cell_in_progress_as_its_table_does(bench, tmp_path):
    # one cell in progress is told apart from the stored variants of its learner: by the table's
    # name for its variant when the table has it, else by the parameters that differ from them
    base = ("run", "-t", "sin3", "-l", "three_layer_sgd", "-p", "width=8", "-p", "epochs=2", "--n", "40",
            "--seeds", "1", "--n-test", "50", "--jobs", "1", "--no-leaderboard")
    assert bench(*base, "-p", "train=hidden")[0] == 0
    store = Store(tmp_path / "store.sqlite")
    (hidden,) = store.rows()

    def in_progress(grid: dict, seed: int) -> str:
        key = {"task": {"name": "sin3", "params": {}}, "n": 5000, "seed": seed,
               "learner": {"name": "three_layer_sgd", "grid": grid}}
        for old in checkpoint_root(store).glob("*"):
            checkpoints.discard(old)
        cell = checkpoints._Cell(checkpoint_root(store) / f"c{seed}", {"key": key}, 0.0, "a label", note=lambda m: None)
        checkpoints.TrainingCheckpoint(cell, 1, "sgd", {}).save({}, 7, 800)
        code, out, _ = bench("show")
        assert code == 0 and "1 cell(s) in progress" in out
        return next(line for line in out.splitlines() if line.startswith("  sin3, "))

    # the table's one variant is plain `three_layer_sgd`; another grid in progress is not called that
    assert in_progress({**hidden["learner_params"], "width": [16]}, 1).startswith(
        "  sin3, three_layer_sgd[width=16], N=5000, seed 1: epoch 7/800")
    assert bench(*base, "-p", "train=last")[0] == 0  # now the table has [train=hidden] and [train=last]
    assert in_progress(hidden["learner_params"], 2).startswith(
        "  sin3, three_layer_sgd[train=hidden], N=5000, seed 2: epoch 7/800")
    # a grid the table lacks is told apart from the table's [train=hidden] and [train=last] too
    assert in_progress({**hidden["learner_params"], "width": [16]}, 3).startswith(
        "  sin3, three_layer_sgd[train=hidden,width=16], N=5000, seed 3: epoch 7/800")


def test_bench_run_saves_every_checkpoint_minutes_and_refuses_a_bad_value(bench, tmp_path, monkeypatch):
    real_save, saved = checkpoints.TrainingCheckpoint.save, []

    def save(self, *args, **kwargs):
        saved.append(self.cell is not None)
        real_save(self, *args, **kwargs)

    monkeypatch.setattr(checkpoints.TrainingCheckpoint, "save", save)
    args = ("run", "-t", "sin3", "-l", "two_layer_sgd", "-p", "width=8", "-p", "epochs=4", "--n", "40", "--seeds",
            "1", "--n-test", "50", "--jobs", "1", "--no-leaderboard")
    assert bench(*args, "--checkpoint-minutes", "0")[0] == 0 and saved == []
    assert bench(*args, "-p", "lr=0.01,0.02", "--checkpoint-minutes", "1e-9")[0] == 0 and saved and all(saved)
    assert not list(checkpoint_root(Store(tmp_path / "store.sqlite")).glob("*"))  # stored: gone
    code, _, err = bench(*args, "--checkpoint-minutes", "-1")
    assert code == 2 and "--checkpoint-minutes must be a number of minutes ≥ 0" in err


def test_cells_a_cut_left_half_trained_resume_first_within_their_n(tmp_path):
    store = Store(tmp_path / "store.sqlite")
    cells = [spec_of("three_layer_sgd", n, seed) for n in (60, 80) for seed in range(4)]
    half = [c for c in cells if (c.n, c.seed) in {(60, 3), (80, 2)}]
    for spec, trained in zip(half, (300.0, 1200.0)):  # what a cut leaves: a program saved at some epoch
        identity = json.loads(json.dumps(checkpoint_identity(spec), sort_keys=True, default=str))
        cell = checkpoints._Cell(checkpoint_root(store) / spec.cell_id, identity, 0.0, spec.describe(),
                                 note=lambda m: None, before=trained)
        checkpoints.TrainingCheckpoint(cell, 1, "sgd", {}).save({}, 7, 40)
    other_code = checkpoints._Cell(checkpoint_root(store) / cells[0].cell_id, {"code": "older"}, 0.0, "",
                                   note=lambda m: None)  # restarts when its turn comes: not first, not counted
    checkpoints.TrainingCheckpoint(other_code, 1, "sgd", {}).save({}, 7, 40)
    handed = []

    def backend(specs, timeout):  # records the order cells are handed out, trains none
        handed.extend((s.n, s.seed) for s in specs)
        return []

    for _ in range(5):  # the order among fresh cells is random per process
        handed.clear()
        assert execute(cells, store, backend=backend).resuming == 2  # the plan line says so
        assert handed[0] == (80, 2) and handed[4] == (60, 3)
        assert [n for n, _ in handed] == [80] * 4 + [60] * 4  # largest N first still
    # and what each trained before the cut, which the estimate takes off (the other code's: none)
    before = trained_before(cells, store)
    assert sorted(before) == sorted(c.cell_id for c in half)
    assert [round(before[c.cell_id]) for c in half] == [300, 1200]


def test_a_resumed_cell_stores_the_seconds_it_trained_before_the_cut_too(tmp_path):
    spec = replace(spec_of("three_layer_sgd"), checkpoints=(str(tmp_path), 1.0))
    identity = json.loads(json.dumps({"key": spec.key, "code": spec.code}, sort_keys=True, default=str))
    cut = checkpoints._Cell(checkpoint_folder(spec), identity, 60.0, spec.describe(), note=lambda m: None,
                            before=1000.0)
    cut.write_meta(1, 7, 40)  # what a run cut after 1000 s of training left (its programs restart)
    start = time.perf_counter()
    record = run_cell(spec)
    wall = time.perf_counter() - start
    assert record["status"] == "ok"
    assert 1000.0 <= record["seconds"] <= 1000.0 + wall + 0.01
    fresh = run_cell(replace(spec_of("three_layer_sgd"), checkpoints=(str(tmp_path / "other"), 1.0)))
    assert fresh["seconds"] < 1000.0 and result(fresh) == result(record)


def test_the_checkpoints_of_a_cell_already_stored_are_removed_by_the_next_run(tmp_path):
    store = Store(tmp_path / "store.sqlite")
    spec, other = spec_of("three_layer_sgd", seed=0), spec_of("three_layer_sgd", seed=1)
    store.put(run_cell(spec), "test")  # stored (say, merged from a GPU machine) ...
    for s in (spec, other):  # ... while a checkpoint of it stayed here, beside one of a cell not stored
        cell = checkpoints._Cell(checkpoint_root(store) / s.cell_id, {}, 0.0, s.describe(), note=lambda m: None)
        checkpoints.TrainingCheckpoint(cell, 1, "sgd", {}).save({}, 3, 40)

    def backend(specs, timeout):  # trains none
        list(specs)
        return []

    execute([spec, other], store, backend=backend)
    assert not (checkpoint_root(store) / spec.cell_id).exists()
    assert (checkpoint_root(store) / other.cell_id / "meta.json").exists()
