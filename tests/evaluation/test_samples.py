"""samples.png (dlhw.evaluation.samples): a grid of training images; a sweep's trials, which share
their data and seed, get the same picture, drawn once per process and written again as bytes."""

from __future__ import annotations

import numpy as np

from dlhw.evaluation import samples as S


class Split:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)


class Images:
    """What write_samples reads of a dataset: in-memory 8x8 images with class names."""

    task, class_names, meta = "classification", ["zero", "one"], {}

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.splits = {"train": Split(rng.random((20, 8, 8, 1)).astype(np.float32), rng.integers(0, 2, 20))}

    def in_memory(self, split):
        return True


def test_the_same_samples_are_drawn_once_and_written_again(tmp_path, monkeypatch):
    for name in "abcde":
        (tmp_path / name).mkdir()
    calls = []
    draw = S.plot_samples
    monkeypatch.setattr(S, "plot_samples", lambda *a: calls.append(a[2]) or draw(*a))
    first = S.write_samples(Images(), tmp_path / "a" / "samples.png", 9, 0, "digits: random training samples")
    second = S.write_samples(Images(), tmp_path / "b" / "samples.png", 9, 0, "digits: random training samples")
    assert calls == [first] and first.read_bytes() == second.read_bytes()
    assert first.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # other images, another seed or another title: drawn anew
    S.write_samples(Images(seed=1), tmp_path / "c" / "samples.png", 9, 0, "digits: random training samples")
    S.write_samples(Images(), tmp_path / "d" / "samples.png", 9, 1, "digits: random training samples")
    S.write_samples(Images(), tmp_path / "e" / "samples.png", 9, 0, "other title")
    assert len(calls) == 4 and (tmp_path / "c" / "samples.png").read_bytes() != first.read_bytes()
