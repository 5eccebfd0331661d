"""The training loop on real MNIST: accuracy rises, seeds reproduce, the CLI works end to end."""

import threading
from dataclasses import asdict

import numpy as np
import pytest
from helpers import assert_close, assert_equal, default_blas_threads, host

from scratchdl.app.cli import main
from scratchdl.io import CHECKPOINT_FORMAT, load_model, read_npz
from scratchdl.models import MultiLayerNetExtend, TwoLayerNet
from scratchdl.runtime.callbacks import BackgroundEvaluation, BlasThreads, Progress, StepDecay
from scratchdl.runtime.checkpoint import CHECKPOINT, Checkpoint
from scratchdl.train import Trainer

ALL = default_blas_threads()


def seed_trainer(mnist, seed=0, iters=300, dtype=np.float32, **options):
    (x_train, t_train), (x_test, t_test) = mnist
    rng = np.random.default_rng(seed)
    net = TwoLayerNet(784, 50, 10, weight_init_std=0.01, rng=rng, dtype=dtype)
    options = {"mini_batch_size": 100, "verbose": False, **options}
    return Trainer(net, x_train, t_train, x_test, t_test, iters=iters, optimizer="sgd",
                   optimizer_param={"lr": 0.1}, rng=rng, **options)


@pytest.mark.xp
def test_seed_recipe_learns_on_real_mnist(mnist):
    trainer = seed_trainer(mnist, iters=600)
    train_acc, test_acc = trainer.train()
    assert test_acc > 0.75 and train_acc > 0.75
    h = trainer.history
    assert len(h.train_loss) == 600
    assert h.eval_iters == [1]
    assert np.mean(h.train_loss[-50:]) < np.mean(h.train_loss[:50]) - 1.0


@pytest.mark.xp
def test_same_seed_is_bit_identical_and_other_seed_differs(mnist):
    a, b, c = (seed_trainer(mnist, seed=s, iters=50) for s in (1, 1, 2))
    for t in (a, b, c):
        t.train()
    for key in a.network.params:
        assert_equal(a.network.params[key], b.network.params[key])
    assert a.history.train_loss == b.history.train_loss
    assert not np.array_equal(host(a.network.params["W1"]), host(c.network.params["W1"]))


@pytest.mark.xp
def test_float32_and_float64_reach_the_same_accuracy(mnist):
    acc32 = seed_trainer(mnist, iters=600).train()[1]
    acc64 = seed_trainer(mnist, iters=600, dtype=np.float64).train()[1]
    assert abs(acc32 - acc64) < 0.005


@pytest.mark.xp
def test_epochs_evaluation_and_sampled_evaluation(mnist):
    (x_train, t_train), (x_test, t_test) = mnist
    rng = np.random.default_rng(0)
    net = MultiLayerNetExtend(784, [50, 50], 10, use_batchnorm=True, use_dropout=True,
                              dropout_ration=0.1, rng=rng, dtype=np.float32)
    trainer = Trainer(net, x_train[:1000], t_train[:1000], x_test, t_test, epochs=3,
                      mini_batch_size=100, optimizer="adam", optimizer_param={"lr": 0.01},
                      evaluate_sample_num_per_epoch=200, rng=rng, verbose=False)
    train_acc, test_acc = trainer.train()
    assert trainer.max_iter == 30
    assert trainer.history.eval_iters == [1, 11, 21]
    assert test_acc > 0.6


@pytest.mark.xp
def test_trainer_rejects_bad_settings(mnist):
    (x_train, t_train), (x_test, t_test) = mnist
    net = TwoLayerNet(784, 5, 10, rng=0)
    with pytest.raises(ValueError, match="batch size"):
        Trainer(net, x_train, t_train, x_test, t_test, iters=1, mini_batch_size=70000)
    with pytest.raises(ValueError, match="exactly one"):
        Trainer(net, x_train, t_train, x_test, t_test)
    with pytest.raises(ValueError, match="gradient"):
        Trainer(net, x_train, t_train, x_test, t_test, iters=1, gradient="magic")


def test_cli_train_save_evaluate_predict(tmp_path, capsys, mnist):
    model = tmp_path / "model.npz"
    assert main(["train", "--iters", "700", "--activation", "relu", "--save", str(model)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("TwoLayerNet 784-50-10 relu | sgd lr 0.1 | batch 100 | 700 iterations")
    assert out[1].startswith("epoch   0 | train acc, test acc | ")
    assert out[-1].startswith("final: train acc 0.") and "(700 iterations, " in out[-1]
    assert out[-1].endswith(" s evaluation)") and " s training + " in out[-1]
    test_acc = float(out[-1].split("test acc ")[1].split()[0])
    assert test_acc > 0.85
    net, header = load_model(model)
    assert header["hyperparameters"]["activation"] == "relu"
    assert header["metrics"]["test_acc"] == pytest.approx(test_acc)
    assert main(["evaluate", str(model)]) == 0
    assert capsys.readouterr().out.startswith(f"test acc {test_acc:.4f}")


def test_cli_quiet_prints_only_the_final_line(capsys, mnist):
    assert main(["train", "--iters", "20", "--quiet", "--model", "multi-layer",
                 "--hidden", "20,20", "--optimizer", "adam", "--lr", "0.001",
                 "--batchnorm", "--dropout", "0.2", "--weight-decay", "1e-4"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("final: ")


@pytest.mark.xp
def test_progress_bar_mode_prints_epoch_lines(mnist, capsys):
    """With a progress bar (a terminal), epoch lines go through the bar and still appear."""
    seed_trainer(mnist, iters=3, callbacks=[Progress(bar=True)]).train()
    assert "epoch   0 | train acc, test acc | " in capsys.readouterr().out


@pytest.mark.xp
def test_verbose_prints_the_epoch_lines_and_quiet_prints_nothing(mnist, capsys):
    seed_trainer(mnist, iters=601, verbose=True).train()
    lines = capsys.readouterr().out.splitlines()
    assert [line[:9] for line in lines] == ["epoch   0", "epoch   1"]
    assert lines[1].split(" | ")[-1].startswith("iter 601/601, ")
    seed_trainer(mnist, iters=2).train()
    assert capsys.readouterr().out == ""


@pytest.mark.xp
def test_step_learning_rate_schedule(mnist):
    schedule = StepDecay(1, 0.5)
    assert [schedule.factor(e) for e in (0, 1, 2, 3)] == [1, 0.5, 0.25, 0.125]
    seen = []
    trainer = seed_trainer(mnist, iters=1500, callbacks=[schedule])
    trainer.augment = lambda x, rng: seen.append(trainer.optimizer.lr) or x
    trainer.train()
    assert [seen[i] for i in (0, 599, 600, 1199, 1200, 1499)] == [0.1, 0.1, 0.05, 0.05, 0.025,
                                                                 0.025]
    with pytest.raises(ValueError, match="schedule"):
        StepDecay(1, 0.0)
    with pytest.raises(ValueError, match="schedule"):
        StepDecay(0, 0.5)


@pytest.mark.xp
def test_an_epoch_is_one_integer_when_the_batch_does_not_divide_the_set(mnist, tmp_path):
    """60,000 images in batches of 128: 469 iterations an epoch, for evaluations,
    checkpoints and the schedule alike (the book's float 468.75 evaluated only at 0
    and 1875)."""
    seen, saved = [], []
    checkpoint = Checkpoint(tmp_path)
    save = checkpoint.save
    checkpoint.save = lambda trainer: saved.append(trainer.current_iter) or save(trainer)
    trainer = seed_trainer(mnist, iters=3 * 469 + 10, mini_batch_size=128,
                           callbacks=[StepDecay(1, 0.5), checkpoint])
    trainer.augment = lambda x, rng: seen.append(trainer.optimizer.lr) or x
    trainer.train()
    assert trainer.iter_per_epoch == 469
    assert trainer.history.eval_iters == [1, 470, 939, 1408]
    assert saved == [469, 938, 1407, 1417]  # each epoch's end, then where the run stopped
    assert seen[468] == 0.1 and seen[469] == 0.05 and seen[938] == 0.025
    assert seed_trainer(mnist, epochs=2, iters=None, mini_batch_size=128).max_iter == 938


@pytest.mark.xp
def test_blas_threads_for_steps_and_all_threads_for_the_final_evaluation(mnist):
    """`BlasThreads(1)` holds the steps to one BLAS thread; the final evaluation gets all."""
    trainer = seed_trainer(mnist, iters=2, callbacks=[BlasThreads(1)])
    seen = {"step": set(), "evaluation": set()}
    step, accuracy = trainer.train_step, trainer.network.accuracy

    def counted_step():
        seen["step"].add(default_blas_threads())
        return step()

    def counted_accuracy(*args, **kwargs):
        seen["evaluation"].add(default_blas_threads())
        return accuracy(*args, **kwargs)

    trainer.train_step, trainer.network.accuracy = counted_step, counted_accuracy
    trainer.train()
    assert seen == {"step": {1}, "evaluation": {1, ALL}}  # epoch 0 inside training, then all
    assert default_blas_threads() == ALL


@pytest.mark.xp
def test_background_evaluation_changes_nothing_but_the_wall_time(mnist, tmp_path, capsys):
    """A snapshot evaluated on the background thread: same history, lines, checkpoint."""
    (x_train, t_train), (x_test, t_test) = mnist
    runs = []
    for background in (False, True):
        rng = np.random.default_rng(3)
        net = TwoLayerNet(784, 50, 10, rng=rng, dtype=np.float32)
        callbacks = [BackgroundEvaluation()] if background else []
        callbacks += [Checkpoint(tmp_path / str(background)), Progress(bar=False)]
        trainer = Trainer(net, x_train[:5000], t_train[:5000], x_test, t_test, epochs=4,
                          optimizer="sgd", optimizer_param={"lr": 0.1}, eval_every=20,
                          rng=rng, callbacks=callbacks)
        final = trainer.train()
        lines = [line.split(" | iter")[0] for line in capsys.readouterr().out.splitlines()]
        header, _ = read_npz(tmp_path / str(background) / CHECKPOINT, CHECKPOINT_FORMAT)
        runs.append((final, asdict(trainer.history), lines, header["history"],
                     {k: v.copy() for k, v in net.params.items()}))
    (final, history, lines, saved, params), background_run = runs
    assert len(history["eval_iters"]) == len(lines) == 10 and saved == history
    assert background_run[:4] == (final, history, lines, saved)
    for name, value in background_run[4].items():
        assert_equal(value, params[name])


class ThreadedPair:
    """Two trainers in two threads standing in for two processes: `sum` adds their
    buffers at a barrier, as an MPI Allreduce would."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=60)
        self.buffers: list = [None, None]

    def member(self, rank: int):
        pair = self

        class Member:
            size = 2

            def sum(self, buffer):
                pair.buffers[rank] = buffer.copy()
                pair.barrier.wait()
                total = pair.buffers[0] + pair.buffers[1]
                pair.barrier.wait()
                return total

        Member.rank = rank
        return Member()


@pytest.mark.xp
def test_the_communicator_seam_combines_shares_into_the_whole_batch(mnist):
    """Each of two 'processes' differentiates its half of every batch; the combined
    update equals one process's on the whole batch, up to the order of summation."""
    alone = seed_trainer(mnist, iters=50, dtype=np.float64)
    alone.train()
    pair = ThreadedPair()
    halves = [seed_trainer(mnist, iters=50, dtype=np.float64, comm=pair.member(r))
              for r in (0, 1)]
    threads = [threading.Thread(target=t.train) for t in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for half in halves:
        assert half.current_iter == 50
        np.testing.assert_allclose(half.history.train_loss, alone.history.train_loss,
                                   rtol=1e-12)
        for name, value in alone.network.params.items():
            assert_close(half.network.params[name], value, rtol=1e-9, atol=1e-12)


@pytest.mark.xp
def test_numerical_training_logs_the_loss_it_differentiated(mnist):
    """With dropout, a second forward pass would draw new masks: the history holds the
    loss of the pass whose central differences were taken."""
    (x_train, t_train), (x_test, t_test) = mnist
    rng = np.random.default_rng(0)
    net = MultiLayerNetExtend(784, [8], 10, use_dropout=True, dropout_ration=0.5, rng=rng)
    differentiated, numerical = [], net.numerical_gradient

    def recorded(x, t):
        grads = numerical(x, t)
        differentiated.append(net.last_loss)
        return grads

    net.numerical_gradient = recorded
    trainer = Trainer(net, x_train[:200], t_train[:200], x_test[:100], t_test[:100], iters=3,
                      mini_batch_size=10, gradient="numerical", rng=rng, verbose=False)
    trainer.train()
    assert trainer.history.train_loss == differentiated


class EvaluationLog:
    """Records what callbacks hear of evaluations."""

    def __init__(self) -> None:
        self.events: list = []

    def on_evaluation_begin(self, trainer, total):
        self.events.append(["begin", total, 0])

    def on_evaluation_progress(self, trainer, n):
        self.events[-1][2] += n

    def on_evaluation_end(self, trainer):
        self.events[-1][0] = "done"


@pytest.mark.xp
def test_evaluations_report_their_progress_and_the_final_one_is_timed(mnist):
    """Each evaluation tells the callbacks its size and its progress (a bar shows on a
    terminal when one takes more than two seconds); the final one, on all 70,000
    images, is timed apart from training."""
    log = EvaluationLog()
    trainer = seed_trainer(mnist, iters=2, evaluate_sample_num_per_epoch=5000, callbacks=[log])
    trainer.train()
    assert log.events == [["done", 10000, 10000], ["done", 70000, 70000]]
    assert trainer.eval_seconds > 0 and trainer.elapsed > 0
