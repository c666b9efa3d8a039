"""What a benchmark measured: each repeat's timing (:class:`Repeat`), their spread
(:class:`Spread`), per framework (:class:`FrameworkResult`) and batch size
(:class:`BatchResult`), each JSON-able with ``to_dict``."""

from __future__ import annotations

import dataclasses
import statistics

EPOCH_IMAGES = 60_000
"""Images in one epoch (MNIST's training set), for the seconds-per-epoch extrapolation."""


@dataclasses.dataclass(frozen=True)
class Repeat:
    """One repeat: ``batches`` training steps and ``batches`` inference passes."""

    batch_size: int
    batches: int
    train_seconds: float
    inference_seconds: float
    final_loss: float

    @property
    def epoch_seconds(self) -> float:
        return self.train_seconds / self.batches * EPOCH_IMAGES / self.batch_size

    @property
    def images_per_second(self) -> float:
        return self.batches * self.batch_size / self.train_seconds

    @property
    def inference_images_per_second(self) -> float:
        return self.batches * self.batch_size / self.inference_seconds

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "epoch_seconds": self.epoch_seconds,
                "images_per_second": self.images_per_second,
                "inference_images_per_second": self.inference_images_per_second}


@dataclasses.dataclass(frozen=True)
class Spread:
    """Median, extremes and quartiles of repeated measurements."""

    median: float
    min: float
    max: float
    q1: float
    q3: float

    @classmethod
    def of(cls, values) -> Spread:
        values = sorted(float(v) for v in values)
        if not values:
            raise ValueError("no values to summarise")
        if len(values) == 1:
            q1 = q3 = values[0]
        else:
            q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
        return cls(statistics.median(values), values[0], values[-1], q1, q3)

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1


@dataclasses.dataclass
class FrameworkResult:
    """One framework's repeats at one batch size, with their summaries."""

    framework: str  # "lenet_xp" (the first device), "lenet_xp[DEVICE]" (the others), "torch"
    repeats: list[Repeat]
    peak_memory_bytes: int | None
    peak_memory_kind: str
    step_alloc_peak_bytes: int | None = None
    device: str | None = None  # lenet_xp's device string; the twin's torch device
    workers: int = 1  # threads each batch (a rank's share) was split across

    @property
    def epoch_seconds(self) -> Spread:
        return Spread.of(t.epoch_seconds for t in self.repeats)

    @property
    def images_per_second(self) -> Spread:
        return Spread.of(t.images_per_second for t in self.repeats)

    @property
    def inference_images_per_second(self) -> Spread:
        return Spread.of(t.inference_images_per_second for t in self.repeats)

    def to_dict(self) -> dict:
        return {"framework": self.framework, "device": self.device, "workers": self.workers,
                "epoch_seconds": dataclasses.asdict(self.epoch_seconds),
                "images_per_second": dataclasses.asdict(self.images_per_second),
                "inference_images_per_second": dataclasses.asdict(self.inference_images_per_second),
                "peak_memory_bytes": self.peak_memory_bytes,
                "peak_memory_kind": self.peak_memory_kind,
                "step_alloc_peak_bytes": self.step_alloc_peak_bytes,
                "repeats": [t.to_dict() for t in self.repeats]}


@dataclasses.dataclass
class BatchResult:
    batch_size: int
    timed_batches: int
    lenet_xp: FrameworkResult
    torch: FrameworkResult | None = None
    workers: int = 1  # threads each lenet_xp batch (a rank's share) was split across
    ranks: int = 1  # MPI ranks lenet_xp ran on
    one_rank: FrameworkResult | None = None  # several ranks: lenet_xp on rank 0 alone
    allreduce_us: float | None = None  # several ranks: one step's all-reduce, median µs
    distort_ms: float | None = None  # config.distort: distorting one batch, median ms
    others: list[FrameworkResult] = dataclasses.field(default_factory=list)  # further devices

    @property
    def lenet_xp_results(self) -> list[FrameworkResult]:
        """lenet_xp on every device, the first first."""
        return [self.lenet_xp, *self.others]

    def ratio_of(self, result: FrameworkResult) -> float | None:
        """``result``'s median epoch time / PyTorch's (> 1: slower than PyTorch)."""
        if self.torch is None:
            return None
        return result.epoch_seconds.median / self.torch.epoch_seconds.median

    def step_seconds(self, result: FrameworkResult) -> float:
        """``result``'s median seconds per training step (from its median epoch time)."""
        return result.epoch_seconds.median * self.batch_size / EPOCH_IMAGES

    @property
    def scaling_efficiency(self) -> float | None:
        """T₁ / (N·T_N): 1 when N ranks are N times as fast as one (several ranks only)."""
        if self.one_rank is None:
            return None
        return (self.one_rank.epoch_seconds.median
                / (self.ranks * self.lenet_xp.epoch_seconds.median))

    @property
    def allreduce_share(self) -> float | None:
        """The all-reduce's part of the median step time (several ranks only)."""
        if self.allreduce_us is None:
            return None
        return self.allreduce_us / (1e6 * self.step_seconds(self.lenet_xp))

    @property
    def distort_share(self) -> float | None:
        """Distorting a batch over a lenet_xp training step (one process's step)."""
        if self.distort_ms is None:
            return None
        return self.distort_ms / (1e3 * self.step_seconds(self.one_rank or self.lenet_xp))

    @property
    def ratio(self) -> float | None:
        """lenet_xp's median epoch time on the first device / PyTorch's (> 1: lenet_xp is slower)."""
        return self.ratio_of(self.lenet_xp)

    @property
    def inference_ratio(self) -> float | None:
        """PyTorch's median inference throughput / lenet_xp's (same sense as ``ratio``)."""
        if self.torch is None:
            return None
        return (self.torch.inference_images_per_second.median
                / self.lenet_xp.inference_images_per_second.median)

    def to_dict(self) -> dict:
        return {"batch_size": self.batch_size, "timed_batches": self.timed_batches,
                "workers": self.workers, "lenet_xp": self.lenet_xp.to_dict(),
                "torch": self.torch.to_dict() if self.torch else None,
                "ratio_epoch_seconds": self.ratio, "ratio_inference": self.inference_ratio,
                "ranks": self.ranks,
                "one_rank": self.one_rank.to_dict() if self.one_rank else None,
                "scaling_efficiency": self.scaling_efficiency,
                "allreduce_us": self.allreduce_us, "allreduce_share": self.allreduce_share,
                "distort_ms": self.distort_ms, "distort_share": self.distort_share,
                "others": [{**other.to_dict(), "ratio_epoch_seconds": self.ratio_of(other)}
                           for other in self.others]}
