import numpy as np
import pytest

from cifarlab import cli, data


def test_synthetic_command_writes_loadable_data(tmp_path, capsys):
    assert (
        cli.main(["synthetic", str(tmp_path), "--train-per-class", "3", "--test-per-class", "2"])
        == 0
    )
    out = capsys.readouterr().out
    assert "SYNTHETIC CIFAR-100" in out and "say nothing about real CIFAR" in out
    loaded = data.load_cifar100(tmp_path)
    assert loaded.synthetic and np.array_equal(np.bincount(loaded.y_train), [3] * 100)


def test_synthetic_cifar10_archive(tmp_path):
    assert cli.main(["synthetic", str(tmp_path), "--cifar10", "--archive"]) == 0
    assert data.load_cifar10(tmp_path / "cifar-10-python.tar.gz").num_classes == 10


def test_info(synthetic_dir, capsys):
    assert cli.main(["info", "--data-dir", str(synthetic_dir), "--superclass", "fish"]) == 0
    out = capsys.readouterr().out
    assert "aquarium_fish, flatfish, ray, shark, trout" in out and "SYNTHETIC" in out
    from cifarlab.train import best_precision

    assert f"mixed_precision=True) uses {best_precision()[0]} here" in out


def test_user_errors_are_one_line_not_a_traceback(tmp_path, capsys, synthetic_dir):
    assert cli.main(["info", "--data-dir", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cifarlab info: error: data_dir") and "Traceback" not in err
    assert cli.main(["info", "--data-dir", str(synthetic_dir), "--superclass", "fishes"]) == 2
    assert "Did you mean 'fish'" in capsys.readouterr().err


def test_bad_count_rejected_by_parser(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["synthetic", str(tmp_path), "--train-per-class", "0"])
    assert "expected a positive integer" in capsys.readouterr().err


def test_synthetic_command_refuses_real_data_and_overwrite_keeps_it(tmp_path, capsys):
    """The issue's probe: `cifarlab synthetic ~/.keras/datasets` over a real download."""
    real = tmp_path / "cifar-100-python.tar.gz"
    real.write_bytes(b"a real download (not a SYNTHETIC archive)")
    small = ["--train-per-class", "1", "--test-per-class", "1", "--archive"]
    assert cli.main(["synthetic", str(tmp_path), *small]) == 2
    err = capsys.readouterr().err
    assert "not SYNTHETIC" in err and "--overwrite" in err and "Traceback" not in err
    assert real.read_bytes() == b"a real download (not a SYNTHETIC archive)"
    assert cli.main(["synthetic", str(tmp_path), *small, "--overwrite"]) == 0
    kept = tmp_path / "cifar-100-python.tar.gz.kept"
    assert kept.read_bytes() == b"a real download (not a SYNTHETIC archive)"
    assert data.load_cifar100(real).synthetic
