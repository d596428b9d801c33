"""Data-parallel training: two CPU processes (gloo) give the same model as one process."""

import socket

import pytest
import torch
import torch.multiprocessing as mp
from conftest import small_config

from ridgeline.training.checkpoint import load_checkpoint
from ridgeline.training.config import load_config
from ridgeline.training.trainer import Trainer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, config: dict) -> None:
    import os

    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    try:
        Trainer(load_config(base=config), progress=False).run()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not built")
def test_two_processes_equal_one(emt_files, tmp_path):
    def config(out):
        c = small_config(emt_files, out, epochs=2, batch_size=5)  # odd batches: unequal shares
        c["dtype"] = "float64"
        return c

    Trainer(load_config(base=config(tmp_path / "one")), progress=False).run()
    mp.start_processes(_worker, args=(2, _free_port(), config(tmp_path / "two")), nprocs=2, join=True, start_method="spawn")

    one, two = load_checkpoint(tmp_path / "one" / "checkpoint.pt"), load_checkpoint(tmp_path / "two" / "checkpoint.pt")
    for key in one["model"]:
        torch.testing.assert_close(two["model"][key], one["model"][key], rtol=1e-9, atol=1e-11)
    assert one["epoch"] == two["epoch"] == 2
    assert one["world_size"] == 1 and two["world_size"] == 2  # the two processes really shared the work
    assert (tmp_path / "two" / "model.safetensors").exists() and (tmp_path / "two" / "report.json").exists()
