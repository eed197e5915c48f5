"""Training on two processes launched by torchrun (gloo, 127.0.0.1): the gathered
contrastive loss is the single process's loss on the same global batches, and the two
processes take the single process's steps."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from jointspace.data import MultiView, load_dataset
from jointspace.models import ContrastiveDualEncoder

OPTIONS = {"epochs": 3, "batch_size": 128, "val_fraction": 0.0, "progress": False,
           "threads": 1}
MODEL = {"hidden": (32,), "dropout": 0.0, "random_state": 0}

WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np
    from jointspace.data import MultiView, load_dataset
    from jointspace.models import ContrastiveDualEncoder
    from jointspace.train import distributed

    assert distributed.init_from_env() and distributed.world_size() == 2
    data = load_dataset("mnist-halves")
    views = MultiView({v: data[v][:512] for v in ("left", "right")},
                      groups=np.arange(512) // 2)
    model = ContrastiveDualEncoder(16, **json.loads(sys.argv[2]),
                                   training=json.loads(sys.argv[3])).fit(views)
    if distributed.rank() == 0:
        np.save(sys.argv[1] + "/left.npy", model.transform_view("left", views["left"]))
        with open(sys.argv[1] + "/history.json", "w") as fh:
            json.dump(model.history_, fh)
        model.save(sys.argv[1] + "/model")
    grads = batch_gradients(model, views, distributed.shard(torch.arange(128)))
    if distributed.rank() == 0:
        np.savez(sys.argv[1] + "/grads.npz", **grads)
""")

GRADIENTS = textwrap.dedent("""
    import torch
    from jointspace.models.deep.contrastive_training import ContrastiveTraining
    from jointspace.train import distributed

    def batch_gradients(model, views, rows):
        \"\"\"The gradients of one batch's loss (rows of the first 128), synchronized.\"\"\"
        torch.manual_seed(0)
        groups = torch.as_tensor(views.groups)
        training = ContrastiveTraining(model.network_, model, groups.numpy(), None).train()
        training.zero_grad(set_to_none=True)  # the last training step's are still there
        X = [torch.as_tensor(model._standardized(i, views[v]), dtype=torch.float32)
             for i, v in enumerate(views.view_names)]
        mask = torch.ones(len(rows), 2, dtype=torch.bool)
        terms = training.training_loss([x[rows] for x in X], mask, rows)
        terms["loss"].backward()
        distributed.sync_gradients(training)
        return {n: p.grad.numpy().copy() for n, p in training.named_parameters()
                if p.grad is not None}
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(script, tmp_path, options: dict) -> None:
    """Run ``script`` on two processes with the model settings and training ``options``."""
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(script),
         str(tmp_path), json.dumps({**MODEL, "hidden": list(MODEL["hidden"])}),
         json.dumps(options)],
        capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]


def _digit_halves() -> MultiView:
    """The workers' data: 512 real digit halves, pairs of rows sharing a group."""
    data = load_dataset("mnist-halves")
    return MultiView({v: data[v][:512] for v in ("left", "right")},
                     groups=np.arange(512) // 2)


def test_two_processes_train_as_one_on_the_global_batches(tmp_path):
    """Real digit halves, 4 global batches of 128 rows (pairs of rows share a group, so
    positives cross the processes' shares) for 3 epochs: the loss of every epoch and the
    trained embeddings match the single-process run."""
    script = tmp_path / "worker.py"
    script.write_text(GRADIENTS + WORKER)
    _torchrun(script, tmp_path, OPTIONS)
    views = _digit_halves()
    single = ContrastiveDualEncoder(16, **MODEL, training=OPTIONS).fit(views)
    history = json.loads((tmp_path / "history.json").read_text())
    assert [row["loss"] for row in history] == pytest.approx(
        [row["loss"] for row in single.history_], rel=1e-5)
    assert history[-1]["loss"] < history[0]["loss"]  # it learned
    np.testing.assert_allclose(np.load(tmp_path / "left.npy"),
                               single.transform_view("left", views["left"]), atol=1e-4)
    # one batch's gradients, synchronized across the two processes, equal one process's
    import torch

    from jointspace.models import JointModel

    namespace: dict = {}
    exec(GRADIENTS, namespace)  # the same function, run here on one process
    trained = JointModel.load(tmp_path / "model")
    want = namespace["batch_gradients"](trained, views, torch.arange(128))
    with np.load(tmp_path / "grads.npz") as got:
        assert sorted(got.files) == sorted(want)
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-4,
                                       atol=1e-6 * np.abs(want[name]).max(), err_msg=name)


def test_fit_from_the_cli_on_two_processes(tmp_path):
    """`torchrun --nproc_per_node 2 jointspace fit … --distributed`: rank 0 saves the
    pipeline and reports once; without torchrun the option is a clear error."""
    from pathlib import Path

    exe = str(Path(sys.executable).with_name("jointspace"))
    args = ["fit", "--dataset", "mnist-halves", "--model", "dual-encoder:n_components=8",
            "--epochs", "2", "--batch-size", "256", "--out", str(tmp_path / "p"), "--json",
            "--distributed"]
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), exe, *args],
        capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout)  # one report: rank 0's
    assert summary["model"] == "dual-encoder:n_components=8"
    assert len(summary["test"]["retrieval"]) == 2
    from jointspace import Pipeline

    assert Pipeline.load(tmp_path / "p").model.n_components_ == 8
    alone = subprocess.run([exe, *args[:-3], str(tmp_path / "q"), "--distributed"],
                           capture_output=True, text=True, timeout=300)
    assert alone.returncode == 2 and "launched by torchrun" in alone.stderr


def test_a_checkpoint_of_two_processes_resumes_on_one(tmp_path):
    """Rank 0 alone writes the checkpoints of a two-process run; one process resumes from
    them and ends where a single process trained from the start ends (a constant learning
    rate, so that the 2-epoch run's schedule is the start of the 3-epoch run's)."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER.split("if distributed.rank() == 0:")[0])  # fit only
    ckpt = tmp_path / "ckpt"
    options = {**OPTIONS, "schedule": "constant"}
    _torchrun(script, tmp_path, {**options, "epochs": 2, "checkpoint_dir": str(ckpt)})
    assert (ckpt / "trainer.json").is_file()
    views = _digit_halves()
    resumed = ContrastiveDualEncoder(16, **MODEL, training={
        **options, "checkpoint_dir": str(ckpt), "resume": True}).fit(views)
    straight = ContrastiveDualEncoder(16, **MODEL, training=options).fit(views)
    assert len(resumed.history_) == 3
    np.testing.assert_allclose(resumed.transform_view("left", views["left"]),
                               straight.transform_view("left", views["left"]), atol=1e-4)
