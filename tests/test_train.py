"""The training loop on real MNIST: accuracy rises, seeds reproduce, the CLI works end to end."""

from dataclasses import asdict

import numpy as np
import pytest

from scratchdl.cli import main
from scratchdl.io import load_model, read_npz
from scratchdl.models import MultiLayerNetExtend, TwoLayerNet
from scratchdl.threads import default_blas_threads
from scratchdl.train import CHECKPOINT, CHECKPOINT_FORMAT, Trainer

ALL = default_blas_threads()


def seed_trainer(mnist, seed=0, iters=300, dtype=np.float32, **options):
    (x_train, t_train), (x_test, t_test) = mnist
    rng = np.random.default_rng(seed)
    net = TwoLayerNet(784, 50, 10, weight_init_std=0.01, rng=rng, dtype=dtype)
    return Trainer(net, x_train, t_train, x_test, t_test, iters=iters, mini_batch_size=100,
                   optimizer="sgd", optimizer_param={"lr": 0.1}, rng=rng, verbose=False,
                   **options)


def test_seed_recipe_learns_on_real_mnist(mnist):
    trainer = seed_trainer(mnist, iters=600)
    train_acc, test_acc = trainer.train()
    assert test_acc > 0.75 and train_acc > 0.75
    h = trainer.history
    assert len(h.train_loss) == 600
    assert h.eval_iters == [1]
    assert np.mean(h.train_loss[-50:]) < np.mean(h.train_loss[:50]) - 1.0


def test_same_seed_is_bit_identical_and_other_seed_differs(mnist):
    a, b, c = (seed_trainer(mnist, seed=s, iters=50) for s in (1, 1, 2))
    for t in (a, b, c):
        t.train()
    for key in a.network.params:
        assert np.array_equal(a.network.params[key], b.network.params[key])
    assert a.history.train_loss == b.history.train_loss
    assert not np.array_equal(a.network.params["W1"], c.network.params["W1"])


def test_float32_and_float64_reach_the_same_accuracy(mnist):
    acc32 = seed_trainer(mnist, iters=600).train()[1]
    acc64 = seed_trainer(mnist, iters=600, dtype=np.float64).train()[1]
    assert abs(acc32 - acc64) < 0.005


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
    assert out[-1].startswith("final: train acc 0.") and "(700 iterations," in out[-1]
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


def test_progress_bar_mode_prints_epoch_lines(mnist, capsys):
    """With a progress bar (a terminal), epoch lines go through the bar and still appear."""
    trainer = seed_trainer(mnist, iters=3, progress=True)
    trainer.verbose = True
    trainer.train()
    assert "epoch   0 | train acc, test acc | " in capsys.readouterr().out


def test_step_learning_rate_schedule(mnist):
    trainer = seed_trainer(mnist, iters=1500, lr_step=1, lr_gamma=0.5)
    assert [trainer.scheduled_lr(i) for i in (0, 599, 600, 1200)] == [0.1, 0.1, 0.05, 0.025]
    trainer.train()
    assert trainer.optimizer.lr == 0.025
    with pytest.raises(ValueError, match="schedule"):
        seed_trainer(mnist, iters=1, lr_step=1, lr_gamma=0.0)
    assert seed_trainer(mnist, iters=1).scheduled_lr(10**6) == 0.1


@pytest.mark.parametrize("step_threads, eval_threads, in_steps, in_evaluation",
                         [(1, 1, 1, 1), (1, None, 1, ALL), (None, None, ALL, ALL)])
def test_blas_thread_limits_for_steps_and_evaluation(mnist, step_threads, eval_threads,
                                                     in_steps, in_evaluation):
    """Steps run under step_threads, evaluation under eval_threads (None: every thread)."""
    trainer = seed_trainer(mnist, iters=2, step_threads=step_threads, eval_threads=eval_threads)
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
    assert seen == {"step": {in_steps}, "evaluation": {in_evaluation}}


def test_background_evaluation_changes_nothing_but_the_wall_time(mnist, tmp_path, capsys):
    """A snapshot evaluated on the background thread: same history, lines, checkpoint."""
    (x_train, t_train), (x_test, t_test) = mnist
    runs = []
    for background in (False, True):
        rng = np.random.default_rng(3)
        net = TwoLayerNet(784, 50, 10, rng=rng, dtype=np.float32)
        trainer = Trainer(net, x_train[:5000], t_train[:5000], x_test, t_test, epochs=4,
                          optimizer="sgd", optimizer_param={"lr": 0.1}, eval_every=20,
                          rng=rng, progress=False, background_eval=background,
                          checkpoint_dir=tmp_path / str(background))
        final = trainer.train()
        lines = [line.split(" | iter")[0] for line in capsys.readouterr().out.splitlines()]
        header, _ = read_npz(tmp_path / str(background) / CHECKPOINT, CHECKPOINT_FORMAT)
        runs.append((final, asdict(trainer.history), lines, header["history"],
                     {k: v.copy() for k, v in net.params.items()}))
    (final, history, lines, saved, params), background_run = runs
    assert len(history["eval_iters"]) == len(lines) == 10 and saved == history
    assert background_run[:4] == (final, history, lines, saved)
    for name, value in background_run[4].items():
        np.testing.assert_array_equal(value, params[name])
