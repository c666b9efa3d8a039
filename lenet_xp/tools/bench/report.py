"""A benchmark's report (:class:`BenchReport`: what was measured, where and how; JSON-able
with ``to_dict``), and the text ``scripts/bench.py`` prints of it: a header line saying where
it ran, the table, and the notes."""

from __future__ import annotations

import dataclasses

from ...backend import get_backend
from .config import BenchConfig
from .results import EPOCH_IMAGES, BatchResult, FrameworkResult, Spread


@dataclasses.dataclass
class BenchReport:
    """A benchmark's results (one per batch size; none on ranks other than 0), with its
    configuration, the machine it ran on and its notes."""

    config: BenchConfig
    machine: dict
    results: list[BatchResult]
    notes: list[str]
    #: the operations of one training step per batch size, each as (GPU's path, CPU's path)
    #: (:class:`~lenet_xp.tools.bench.launches.StepCount`); empty unless ``config.launches``
    launches: list = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict:
        config = dataclasses.asdict(self.config)
        config["batch_sizes"] = list(self.config.batch_sizes)
        config["recipe"] = self.config.recipe().to_dict()
        return {"lenet_xp_bench": 1, "machine": self.machine, "config": config,
                "epoch_images": EPOCH_IMAGES, "results": [r.to_dict() for r in self.results],
                "launches": [{"gpu_path": dataclasses.asdict(gpu), "cpu_path": dataclasses.asdict(cpu)}
                             for gpu, cpu in self.launches],
                "notes": self.notes}


def _mib(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 2**20:,.1f} MiB"


def _spread(s: Spread) -> str:
    digits = 2 if s.max < 100 else 1
    return f"{s.median:.{digits}f} [{s.min:.{digits}f}–{s.max:.{digits}f}]"


def header_line(report: BenchReport) -> str:
    m = report.machine
    blas = m["blas"]
    blas_text = " ".join(str(v) for v in (blas.get("name"), blas.get("version")) if v) or "BLAS ?"
    if blas.get("threads"):
        blas_text += f", threads={blas['threads']}"
    cores = f"{m['cpu_count']} cores" + (f", {m['usable_cpus']} usable"
                                         if m["usable_cpus"] != m["cpu_count"] else "")
    torch_text = (f"torch {m['torch']} (threads={m['torch_threads']})" if m["torch"]
                  else "torch not used")
    parts = [m["date"], f"{m['cpu']} ({cores})"]
    if m.get("gpu"):
        parts.append(f"{m['gpu']} (CuPy {m.get('cupy')})")
    parts += [m["platform"], f"Python {m['python']}", f"numpy {m['numpy']} ({blas_text})",
              torch_text]
    return "# " + " | ".join(parts)


def _threads_cell(config: BenchConfig, result: BatchResult, run: FrameworkResult) -> str:
    ranks = f"{result.ranks} ranks × " if result.ranks > 1 else ""
    if run.workers > 1:
        return f"{ranks}split {run.workers}"
    if run.device is None or not get_backend(run.device).cpu_threads:
        return ranks.removesuffix(" × ") or "-"
    threads = config.rank_threads
    return ranks + (f"BLAS {threads}" if threads is not None else "BLAS")


def _ranks_lines(report: BenchReport) -> list[str]:
    """Scaling from 1 rank to N and the all-reduce's cost, per batch size (runs on ranks)."""
    lines = []
    for r in report.results:
        share = r.allreduce_share
        if r.one_rank is None or share is None:
            continue
        lines.append(f"batch {r.batch_size} on {r.ranks} ranks: {_spread(r.lenet_xp.epoch_seconds)}"
                     f" s/epoch; 1 rank alone {_spread(r.one_rank.epoch_seconds)} s/epoch; "
                     f"speed-up {r.one_rank.epoch_seconds.median / r.lenet_xp.epoch_seconds.median:.2f}"
                     f", scaling efficiency {r.scaling_efficiency:.2f}; all-reduce "
                     f"{r.allreduce_us:,.0f} µs a step ({100 * share:.0f} % of it)")
    return lines


def format_report(report: BenchReport) -> str:
    """The header lines, the table, and the notes, as printed by scripts/bench.py."""
    c = report.config
    recipe = c.recipe()
    size = (f"{c.epochs:g} epoch(s)" if c.epochs is not None else f"{c.batches} batches")
    lines = [header_line(report),
             f"# {c.model} on {', '.join(c.devices)}, {c.dtype}, {recipe.optimizer} lr {recipe.lr:g}"
             + f"; {c.repeats} repeats of {size} after {c.warmup} warm-up batches"
             + (", interleaved with PyTorch" if any(r.torch for r in report.results) else "")
             + f"; epoch s = time per batch × {EPOCH_IMAGES:,} / batch; spread = min–max", ""]
    head = ["model", "device", "batch", "threads", "epoch s median [min–max]", "img/s",
            "infer img/s", "peak mem", "torch epoch s [min–max]", "ratio"]
    rows: list[list[str]] = []
    for r in report.results:
        for x in r.lenet_xp_results:
            ratio = r.ratio_of(x)
            rows.append([c.model, x.device or "-", str(r.batch_size), _threads_cell(c, r, x),
                         _spread(x.epoch_seconds),
                         f"{x.images_per_second.median:,.0f}",
                         f"{x.inference_images_per_second.median:,.0f}",
                         _mib(x.peak_memory_bytes),
                         _spread(r.torch.epoch_seconds) if r.torch else "n/a",
                         f"{ratio:.2f}" if ratio is not None else "n/a"])
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    right = {2, 5, 6, 7, 9}
    for row in [head, *rows]:
        lines.append("  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                               for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip())
    if any(r.torch for r in report.results):
        lines.append("")
        lines.append("ratio = lenet_xp / PyTorch median epoch time (> 1: lenet_xp slower). PyTorch: "
                     + "; ".join(f"batch {r.batch_size}: {r.torch.images_per_second.median:,.0f} "
                                 f"img/s, infer {r.torch.inference_images_per_second.median:,.0f} "
                                 f"img/s, peak {_mib(r.torch.peak_memory_bytes)}"
                                 for r in report.results if r.torch))
    lines += _ranks_lines(report)
    for gpu, cpu in report.launches:
        lines.append(f"operations a training step ({gpu.model}, batch {gpu.batch_size}, its "
                     f"recipe): {gpu.total} as a GPU launches them, {cpu.total} on the CPU's "
                     "path (counted on torch:cpu: " + ", ".join(
                         f"{phase} {count}" for phase, count in gpu.phases.items()) + ")")
    for r in report.results:
        if (share := r.distort_share) is not None:
            lines.append(f"distortion {c.distort}: {r.distort_ms:.2f} ms a batch of {r.batch_size}"
                         f" ({100 * share:.0f} % of a training step)")
    if c.backend.cpu_threads:
        lines.append("threads: how lenet_xp used the CPU threads, BLAS N (matrix products) or "
                     "split N (each batch split across N threads, one BLAS thread each)")
    kinds = sorted({x.peak_memory_kind for r in report.results for x in r.lenet_xp_results})
    lines.append(f"peak mem: {', '.join(kinds)}")
    traced = [r for r in report.results if r.lenet_xp.step_alloc_peak_bytes is not None]
    if traced:
        lines.append("lenet_xp numpy allocations in one training step (tracemalloc peak): "
                     + "; ".join(f"batch {r.batch_size}: {_mib(r.lenet_xp.step_alloc_peak_bytes)}"
                                 for r in traced))
    for note in report.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)
