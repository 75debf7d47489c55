"""Two-process DDP on the CPU (gloo): equal gradients, disjoint samples, rank-0-only checkpoints.

The ranks meet through a file store (FACEPTOR_DIST_INIT_METHOD), and gloo talks over the loopback
interface only: torch 1.13's TCPStore, which torchrun's rendezvous uses, listens on every interface
whatever MASTER_ADDR is, so these tests do not start torchrun.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

TRAINING_DIR = Path(__file__).resolve().parents[1]
TINY_SMOKE = TRAINING_DIR / 'configs' / 'tiny-smoke.yaml'


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([tensor.detach().reshape(-1) for tensor in tensors])


def ddp_worker(rank: int, world_size: int, port: int, data_dir: str, output_root: str, result_dir: str) -> None:
    """One rank: train 2 iterations of the tiny config, then compare gradients and weights across ranks."""
    sys.path.insert(0, str(TRAINING_DIR))
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank), MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port),
        FACEPTOR_DIST_INIT_METHOD=f'file://{result_dir}/store', GLOO_SOCKET_IFNAME='lo',
    )
    torch.set_num_threads(1)
    from faceptor.train.builder import build_training
    from faceptor.train.config import read_config_file, train_config_from_dict
    from faceptor.train.ddp import init_distributed, shutdown
    from faceptor.train.synthetic import use_synthetic_data

    ctx = init_distributed('cpu')
    data = read_config_file(TINY_SMOKE)
    use_synthetic_data(data, data_dir)
    data.update(max_iter=2, save_interval=2, newest_interval=1, print_interval=100, output_dir=f'{output_root}/rank{rank}')
    data['optim']['warmup_steps'] = 1
    session = build_training(train_config_from_dict(data), ctx, resume=None)
    records = []
    session.run(on_step=records.append)

    with_grad = [p for p in session.model.parameters() if p.grad is not None]
    grads, weights = flat([p.grad for p in with_grad]), flat(list(session.model.parameters()))
    gathered_grads = [torch.empty_like(grads) for _ in range(world_size)]
    gathered_weights = [torch.empty_like(weights) for _ in range(world_size)]
    dist.all_gather(gathered_grads, grads)
    dist.all_gather(gathered_weights, weights)
    torch.save({
        'grad_difference': max((g - gathered_grads[0]).abs().max().item() for g in gathered_grads),
        'weight_difference': max((w - gathered_weights[0]).abs().max().item() for w in gathered_weights),
        'grad_norm': grads.norm().item(),
        'losses': [record.total for record in records],
        'indices': {task: loader.sampler.indices.tolist() for task, loader in session.loaders.items()},
    }, f'{result_dir}/rank{rank}.pt')
    shutdown(ctx)


@pytest.fixture(scope='module')
def ddp_results(tmp_path_factory):
    from faceptor.train.config import read_config_file
    from faceptor.train.synthetic import use_synthetic_data

    root = tmp_path_factory.mktemp('ddp')
    use_synthetic_data(read_config_file(TINY_SMOKE), root / 'data')
    os.environ.setdefault('GLOO_SOCKET_IFNAME', 'lo')
    mp.get_context('spawn')
    mp.spawn(ddp_worker, args=(2, free_port(), str(root / 'data'), str(root / 'runs'), str(root)), nprocs=2, join=True)
    return root, [torch.load(root / f'rank{rank}.pt') for rank in range(2)]


def test_ddp_gradients_equal_across_ranks(ddp_results) -> None:
    _, results = ddp_results
    for result in results:
        assert result['grad_norm'] > 0
        assert result['grad_difference'] == 0.0
        assert result['weight_difference'] == 0.0


def test_ddp_ranks_see_different_samples(ddp_results) -> None:
    _, (rank0, rank1) = ddp_results
    for task, indices in rank0['indices'].items():
        assert len(indices) == 2 * 2, task
        assert not set(indices) & set(rank1['indices'][task]), task
    assert rank0['losses'] != rank1['losses']


def test_ddp_only_rank0_writes_checkpoints(ddp_results) -> None:
    root, _ = ddp_results
    assert (root / 'runs' / 'rank0' / 'checkpoints' / 'checkpoint_rank0_iter_2.pth.tar').is_file()
    assert not (root / 'runs' / 'rank1' / 'checkpoints').exists()
    assert not (root / 'runs' / 'rank1' / 'logs' / 'train_log.jsonl').exists()
