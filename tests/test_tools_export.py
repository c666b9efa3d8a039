"""lenet_xp.tools.export: each layer's ONNX mapping on small random models and every zoo model,
checked by onnx.checker and run in ONNX Runtime (CPU) against lenet_xp on the same uint8
digits; errors; scripts/export.py; the snippet of docs/guide/export.md; the real test set (slow)."""

from __future__ import annotations

import importlib.util
import io
import re
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lenet_xp import layers
from lenet_xp.backend import Random, get_backend
from lenet_xp.data import load_mnist
from lenet_xp.training import IO, RunConfig, run
from lenet_xp.inference import TrainedModel, load_model
from lenet_xp.losses import MAPLoss, RBFCrossEntropy, SoftmaxCrossEntropy
from lenet_xp.models import MODELS, get_model
from lenet_xp.models.lenet5_paper import C3_TABLE
from lenet_xp.models.registry import ModelSpec
from lenet_xp.models.recipe import Recipe
from lenet_xp.tools import export
from lenet_xp.tools.export import mappings
from backends import device_params
from mnist_files import learnable_arrays, train_quietly, write_fake_mnist

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "export.py"
STATS = {"mean": 33.3, "std": 78.6}  # MNIST's pixel statistics, roughly
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def ort():
    return pytest.importorskip("onnxruntime", reason="needs onnx and onnxruntime: "
                               "pip install -e '.[test]'")


@pytest.fixture(scope="module")
def onnx(ort):
    return pytest.importorskip("onnx", reason="needs onnx: pip install -e '.[test]'")


def digits(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), np.uint8)


def as_trained(network, loss=SoftmaxCrossEntropy, input_size=28, normalisation="zero_one",
               name="tiny") -> TrainedModel:
    """A network as load_model would give it, with the preparation its meta describes."""
    spec = ModelSpec(name=name, build=lambda random, dtype="float32": network, loss=loss,
                     input_size=input_size, normalisation=normalisation, recipe=Recipe(),
                     description="a test network")
    data = {"normalisation": normalisation, "input_size": input_size,
            "pixel_stats": STATS if normalisation == "standard" else None}
    return TrainedModel(spec, network, get_backend("cpu"), {"data": data}, "float32")


def randomised(network, seed: int = 0, scale: float = 0.1):
    """Every parameter (biases included) moved by N(0, scale²) noise, kept 0 where a connection
    table has no link: no zero layer hides a mistake in the export."""
    rng = np.random.default_rng(seed)
    for param in network.parameters().values():
        noise = rng.normal(0.0, scale, param.shape).astype(param.data.dtype)
        param.data[...] = param.data + (noise if param.mask is None else noise * param.mask)
    return network


def run_onnx(ort, proto, batch: np.ndarray) -> dict:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(names, {"digits": batch})))


def assert_agrees(ort, model: TrainedModel, proto, batch: np.ndarray) -> dict:
    """ONNX Runtime's scores, labels and raw outputs against lenet_xp's on ``batch``."""
    got = run_onnx(ort, proto, batch)
    ours = model.predict(batch)
    raw = np.asarray(model.outputs(model.prepare(batch)))
    assert got["scores"].dtype == np.float32 and got["labels"].dtype == np.int64
    np.testing.assert_array_equal(got["labels"], ours.labels)
    np.testing.assert_allclose(got["scores"], ours.scores, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(got["outputs"], raw, rtol=TOLERANCE, atol=TOLERANCE)
    return got


def ops_of(proto, layer: str) -> list[str]:
    return [node.op_type for node in proto.graph.node if node.name.split("/")[0] == layer]


# ---- each layer's mapping -----------------------------------------------------------------

def _net(*named):
    return layers.Sequential(*named)


def _head(features: int, classes: int = 10, random=None):
    return [("flatten", layers.Flatten()), ("OUT", layers.Linear(features, classes, random=random))]


def _case_conv(r):
    return _net(("C", layers.Conv2d(1, 3, 5, padding=2, random=r)), *_head(3 * 28 * 28, random=r))


def _case_strided_conv(r):
    return _net(("C", layers.Conv2d(1, 4, 5, stride=2, padding=1, random=r)),
                *_head(4 * 13 * 13, random=r))


def _case_blocked_conv(r):  # 4 outputs per column: a different weight layout inside lenet_xp
    return _net(("C", layers.Conv2d(1, 4, 5, block=4, random=r)), *_head(4 * 24 * 24, random=r))


def _case_connection_table(r):
    return _net(("C1", layers.Conv2d(1, 6, 5, random=r)), ("S", layers.AvgPool2d(2)),
                ("C", layers.Conv2d(6, 16, 5, connections=C3_TABLE, block=2, random=r)),
                *_head(16 * 8 * 8, random=r))


def _case_max_pool(r):
    return _net(("C1", layers.Conv2d(1, 2, 3, random=r)), ("P", layers.MaxPool2d(2)),
                *_head(2 * 13 * 13, random=r))


def _case_overlapping_max_pool(r):
    return _net(("C1", layers.Conv2d(1, 2, 3, random=r)), ("P", layers.MaxPool2d(3, stride=2)),
                *_head(2 * 12 * 12, random=r))


def _case_average_pool(r):
    return _net(("C1", layers.Conv2d(1, 2, 3, random=r)), ("P", layers.AvgPool2d(3, stride=2)),
                *_head(2 * 12 * 12, random=r))


def _case_subsample(r):
    return _net(("C1", layers.Conv2d(1, 3, 5, random=r)), ("S", layers.Subsample2d(3, 2, random=r)),
                *_head(3 * 12 * 12, random=r))


def _case_strided_subsample(r):
    return _net(("C1", layers.Conv2d(1, 3, 5, random=r)),
                ("S", layers.Subsample2d(3, 3, stride=2, random=r)), *_head(3 * 11 * 11, random=r))


def _case_conv_without_bias(r):  # bias=False: batch normalisation's shift replaces it
    return _net(("C", layers.Conv2d(1, 3, 5, bias=False, random=r)), *_head(3 * 24 * 24, random=r))


def _case_linear_without_bias(r):
    return _net(("flatten", layers.Flatten()), ("F", layers.Linear(784, 12, bias=False, random=r)),
                ("OUT", layers.Linear(12, 10, random=r)))


def _case_zoom(r):
    return _net(("Z", layers.Zoom2d(28, 0.8)), ("C1", layers.Conv2d(1, 2, 5, random=r)),
                *_head(2 * 24 * 24, random=r))


def _case_repeat_maps(r):
    return _net(("C1", layers.Conv2d(1, 2, 5, random=r)), ("R", layers.RepeatMaps(3)),
                ("S", layers.Subsample2d(6, 2, random=r)), *_head(6 * 12 * 12, random=r))


def _case_linear(r):
    return _net(("flatten", layers.Flatten()), ("F", layers.Linear(784, 12, random=r)),
                ("OUT", layers.Linear(12, 10, random=r)))


def _activation_case(activation):
    def case(r):
        return _net(("flatten", layers.Flatten()), ("H", layers.Linear(784, 16, random=r)),
                    ("A", activation),
                    ("OUT", layers.Linear(16, 10, random=r)))
    return case


def _case_dropout(r):
    return _net(("flatten", layers.Flatten()), ("H", layers.Linear(784, 16, random=r)),
                ("A", layers.ReLU()), ("D", layers.Dropout(0.5, random=r)),
                ("OUT", layers.Linear(16, 10, random=r)), ("D2", layers.Dropout(0.3, random=r)))


def _case_nested(r):
    block = layers.Sequential(("conv", layers.Conv2d(1, 2, 3, random=r)), ("relu", layers.ReLU()))
    return _net(("block", block), *_head(2 * 26 * 26, random=r))


#: (case, the layer whose ONNX operators are checked, those operators)
LAYER_CASES = {
    "conv": (_case_conv, "C", ["Conv"]),
    "strided_conv": (_case_strided_conv, "C", ["Conv"]),
    "blocked_conv": (_case_blocked_conv, "C", ["Conv"]),
    "connection_table": (_case_connection_table, "C", ["Conv"]),
    "max_pool": (_case_max_pool, "P", ["MaxPool"]),
    "overlapping_max_pool": (_case_overlapping_max_pool, "P", ["MaxPool"]),
    "average_pool": (_case_average_pool, "P", ["AveragePool"]),
    "subsample": (_case_subsample, "S", ["AveragePool", "Mul", "Add"]),
    "strided_subsample": (_case_strided_subsample, "S", ["AveragePool", "Mul", "Add"]),
    "linear": (_case_linear, "F", ["Gemm"]),
    "conv_without_bias": (_case_conv_without_bias, "C", ["Conv"]),
    "linear_without_bias": (_case_linear_without_bias, "F", ["Gemm"]),
    "zoom": (_case_zoom, "Z", ["MatMul", "MatMul"]),
    "repeat_maps": (_case_repeat_maps, "R", ["Unsqueeze", "Expand", "Shape", "Mul", "Reshape"]),
    "flatten": (_case_linear, "flatten", ["Flatten"]),
    "relu": (_activation_case(layers.ReLU()), "A", ["Relu"]),
    "sigmoid": (_activation_case(layers.Sigmoid()), "A", ["Sigmoid"]),
    "tanh": (_activation_case(layers.Tanh()), "A", ["Tanh"]),
    "scaled_tanh": (_activation_case(layers.ScaledTanh()), "A", ["Mul", "Tanh", "Mul"]),
    "scaled_tanh_other": (_activation_case(layers.ScaledTanh(2.5, 0.25)), "A", ["Mul", "Tanh", "Mul"]),
    "dropout": (_case_dropout, "D", []),
    "nested_sequential": (_case_nested, "block.conv", ["Conv"]),
}


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_layer_mapping_agrees_in_onnx_runtime(onnx, ort, case):
    build, layer, ops = LAYER_CASES[case]
    model = as_trained(randomised(build(Random(1))))
    proto = export.to_onnx(model)
    onnx.checker.check_model(proto, full_check=True)
    assert ops_of(proto, layer) == ops
    got = assert_agrees(ort, model, proto, digits(7))
    assert np.ptp(got["scores"]) > 1e-3, "scores that cannot tell the digits apart test nothing"


def test_dropout_leaves_no_trace(onnx):
    proto = export.to_onnx(as_trained(randomised(_case_dropout(Random(0)))))
    names = [node.name for node in proto.graph.node]
    assert not [name for name in names if name.startswith("D")]
    assert "Dropout" not in [node.op_type for node in proto.graph.node]


def test_the_connection_table_is_one_conv_with_zeros(onnx):
    model = as_trained(randomised(_case_connection_table(Random(0))))
    weight = {c.name: onnx.numpy_helper.to_array(c) for c in export.to_onnx(model).graph.initializer}["C.weight"]
    assert weight.shape == (16, 6, 5, 5)
    linked = np.any(weight != 0, axis=(2, 3))
    np.testing.assert_array_equal(linked, np.array(C3_TABLE, bool))


@pytest.mark.parametrize("normalisation", ["standard", "zero_one", "minus_one_one", "lecun"])
@pytest.mark.parametrize("input_size", [28, 32, 31])
def test_the_model_s_own_padding_and_normalisation(onnx, ort, normalisation, input_size):
    conv = layers.Conv2d(1, 2, 5, random=Random(0))
    network = randomised(_net(("C", conv), *_head(2 * (input_size - 4) ** 2, random=Random(0))))
    model = as_trained(network, input_size=input_size, normalisation=normalisation)
    proto = export.to_onnx(model)
    assert ops_of(proto, "prepare") == ["Cast"] + ["Pad"] * (input_size != 28) + ["Mul", "Add",
                                                                                   "Unsqueeze"]
    assert_agrees(ort, model, proto, digits(5))


def _rbf_net(r, features=6, classes=4, amplitude=1.0):
    prototypes = np.random.default_rng(3).choice([-1.0, 1.0], (classes, features))
    return _net(("flatten", layers.Flatten()), ("F", layers.Linear(784, features, random=r)),
                ("A", layers.ScaledTanh()),
                ("RBF", layers.EuclideanRBF(features, classes, prototypes=amplitude * prototypes)))


@pytest.mark.parametrize("loss", [MAPLoss, RBFCrossEntropy])
def test_rbf_penalties_and_their_scores(onnx, ort, loss):
    """Penalties of a few units, where the MAP posterior and the rubbish class both matter."""
    model = as_trained(randomised(_rbf_net(Random(2)), scale=0.01), loss=loss)
    proto = export.to_onnx(model)
    assert ops_of(proto, "RBF") == ["Unsqueeze", "Sub", "Mul", "ReduceSum"]
    assert ops_of(proto, "labels") == ["ArgMin"]
    got = assert_agrees(ort, model, proto, digits(9))
    assert 0.5 < got["outputs"].min() and got["outputs"].max() < 40
    total = got["scores"].sum(axis=1)
    if loss is MAPLoss:
        assert ops_of(proto, "scores") == ["Neg", "Pad", "Softmax", "Slice"]
        assert np.all(total < 1 - 1e-3) and np.all(total > 0.05), "the rubbish class takes some"
    else:
        np.testing.assert_allclose(total, 1.0, rtol=1e-6)


def test_labels_come_from_the_penalties_when_every_posterior_underflows(onnx, ort):
    """Far from every bitmap e^−y underflows to 0 for all classes; argmin y still decides."""
    model = as_trained(randomised(_rbf_net(Random(2), amplitude=30.0), scale=0.01), loss=MAPLoss)
    got = assert_agrees(ort, model, export.to_onnx(model), digits(9))
    assert np.all(got["scores"] == 0.0)  # their argmax would say 0 for every digit
    np.testing.assert_array_equal(got["labels"], np.argmin(got["outputs"], axis=1))
    assert np.all(got["labels"] != 0)


def test_softmax_scores_and_argmax_labels(onnx, ort):
    model = as_trained(randomised(_case_linear(Random(0))))
    proto = export.to_onnx(model)
    assert ops_of(proto, "scores") == ["Softmax"] and ops_of(proto, "labels") == ["ArgMax"]
    got = assert_agrees(ort, model, proto, digits(7))
    np.testing.assert_allclose(got["scores"].sum(axis=1), 1.0, rtol=1e-6)


# ---- batch normalisation -------------------------------------------------------------------

def _batchnorm_net(norm1d, norm2d, r):
    return _net(("C", layers.Conv2d(1, 4, 5, random=r)), ("BN1", norm2d(4)),
                ("A", layers.ReLU()), ("flatten", layers.Flatten()),
                ("F", layers.Linear(4 * 24 * 24, 8, random=r)), ("BN2", norm1d(8)),
                ("OUT", layers.Linear(8, 10, random=r)))


def test_batchnorm_layers(onnx, ort):
    network = randomised(_batchnorm_net(layers.BatchNorm1d, layers.BatchNorm2d, Random(0)))
    rng = np.random.default_rng(5)
    for name in ("BN1", "BN2"):
        layer = network[name]
        layer.running_mean[...] = rng.normal(0, 1, layer.running_mean.shape)
        layer.running_var[...] = rng.uniform(0.2, 3.0, layer.running_var.shape)
    model = as_trained(network)
    proto = export.to_onnx(model)
    assert ops_of(proto, "BN1") == ops_of(proto, "BN2") == ["BatchNormalization"]
    assert_agrees(ort, model, proto, digits(7))


# ---- every zoo model ------------------------------------------------------------------------

def zoo_model(name: str, seed: int = 0) -> TrainedModel:
    spec = get_model(name)
    return as_trained(randomised(spec.build(Random(seed))), loss=spec.loss,
                      input_size=spec.input_size, normalisation=spec.normalisation, name=name)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_zoo_model_reads_the_same_in_onnx_s_reference_runtime(onnx, name):
    """onnx.reference.ReferenceEvaluator, the runtime that defines what the operators mean,
    gives lenet_xp's scores, labels and outputs. At opset 13 it computed batch statistics for
    bn_cnn's BatchNormalization (no training_mode before opset 14): scores 0.96 apart."""
    from onnx.reference import ReferenceEvaluator

    model = zoo_model(name)
    rng = np.random.default_rng(5)
    for layer in model.network.layers:  # running statistics far from a batch's own
        if isinstance(layer, (layers.BatchNorm1d, layers.BatchNorm2d)):
            layer.running_mean[...] = rng.normal(0, 1, layer.running_mean.shape)
            layer.running_var[...] = rng.uniform(0.2, 3.0, layer.running_var.shape)
    proto = export.to_onnx(model)
    batch = digits(7)
    scores, labels, outputs = ReferenceEvaluator(proto).run(["scores", "labels", "outputs"],
                                                            {"digits": batch})
    ours = model.predict(batch)
    np.testing.assert_array_equal(labels, ours.labels)
    assert np.max(np.abs(scores - ours.scores)) < TOLERANCE
    raw = model.outputs(model.prepare(batch))
    assert np.max(np.abs(outputs - raw)) / max(1.0, float(np.max(np.abs(raw)))) < TOLERANCE


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_zoo_model_exports_and_agrees(onnx, ort, name):
    model = zoo_model(name)
    proto = export.to_onnx(model)
    onnx.checker.check_model(proto, full_check=True)
    assert len(proto.graph.node) < 100
    named = {node.name.split("/")[0] for node in proto.graph.node}
    dropped = {n for n, layer in zip(model.network.names, model.network.layers)
               if isinstance(layer, layers.Dropout)}
    assert named == set(model.network.names) - dropped | {"prepare", "scores", "labels", "outputs"}
    assert_agrees(ort, model, proto, digits(7))


def test_dynamic_batch(onnx, ort):
    model = zoo_model("lenet5_paper")
    proto = export.to_onnx(model)
    (digits_input,) = proto.graph.input
    assert [d.dim_param or d.dim_value for d in digits_input.type.tensor_type.shape.dim] == ["N", 28, 28]
    for n in (1, 7):
        got = assert_agrees(ort, model, proto, digits(n, seed=n))
        assert got["scores"].shape == got["outputs"].shape == (n, 10) and got["labels"].shape == (n,)


def test_lenet5_is_tens_of_nodes_and_its_weights_in_size(onnx, tmp_path):
    model = zoo_model("lenet5")
    export.to_onnx(model, tmp_path / "lenet5.onnx")
    proto = onnx.load(tmp_path / "lenet5.onnx")
    assert 10 <= len(proto.graph.node) <= 30
    weight_bytes = 4 * model.num_parameters()
    assert weight_bytes < (tmp_path / "lenet5.onnx").stat().st_size < 1.03 * weight_bytes
    assert proto.opset_import[0].version == export.OPSET == 15 and proto.ir_version == 8
    assert [node.name for node in proto.graph.node if "/" not in node.name] == [
        "prepare", "C1", "S2", "A2", "C3", "S4", "A4", "C5", "A5", "flatten", "F6", "A6", "OUT",
        "scores", "labels", "outputs"]


def test_layer_nodes_of_the_paper_s_lenet5(onnx):
    nodes = {layer.name: layer for layer in export.layer_nodes(export.to_onnx(zoo_model("lenet5_paper")))}
    assert nodes["C3"].ops == ("Conv",) and nodes["C3"].shape == ("N", 16, 10, 10)
    assert nodes["C3"].weights == 16 * 6 * 25 + 16  # the table's zeros are stored
    assert nodes["S2"].weights == 12 and nodes["A1"].weights == 0
    assert nodes["RBF"].weights == 840 and nodes["labels"].shape == ("N",)


# ---- errors ---------------------------------------------------------------------------------

class Mystery(layers.Layer):
    def forward(self, x):
        return x * 2


class DoubledReLU(layers.ReLU):  # a subclass may compute something else
    def _function(self, x, want_slope):
        return 2 * x * (x > 0), None


@pytest.mark.parametrize("odd", [Mystery(), DoubledReLU()])
def test_an_unmapped_layer_is_one_clear_error(onnx, tmp_path, odd):
    network = _net(("flatten", layers.Flatten()), ("odd", odd), ("OUT", layers.Linear(784, 10)))
    with pytest.raises(export.ExportError,
                       match=rf"cannot export layer 'odd': .*{type(odd).__name__} has no ONNX "
                             r"mapping .*Conv2d.*add a function for it to .*MAPPINGS"):
        export.to_onnx(as_trained(network), tmp_path / "odd.onnx")
    assert not list(tmp_path.iterdir())


def test_a_nested_unmapped_layer_is_named_in_full(onnx):
    network = _net(("block", layers.Sequential(("odd", Mystery()))), *_head(784))
    with pytest.raises(export.ExportError, match="cannot export layer 'block.odd'"):
        export.to_onnx(as_trained(network))


class TemperedSoftmax(SoftmaxCrossEntropy):  # scores that are not the softmax's
    @staticmethod
    def scores(logits):
        return SoftmaxCrossEntropy.scores(logits / 2)


def test_a_loss_without_a_mapping_and_a_clashing_name(onnx):
    with pytest.raises(export.ExportError, match="class scores of TemperedSoftmax"):
        export.to_onnx(as_trained(_case_linear(Random(0)), loss=TemperedSoftmax))
    clash = _net(("flatten", layers.Flatten()), ("scores", layers.Linear(784, 10)))
    with pytest.raises(export.ExportError, match="'scores' is used twice"):
        export.to_onnx(as_trained(clash))


def test_import_lenet_xp_needs_no_onnx():
    code = ("import sys, lenet_xp, lenet_xp.tools.export; "
            "print(sorted({'onnx', 'onnxruntime'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr


# ---- scripts/export.py ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """lenet5 trained one epoch on learnable fake digits: (model.npz, the test digits, labels)."""
    root = tmp_path_factory.mktemp("export")
    arrays = learnable_arrays(n_train=600, n_test=100)
    write_fake_mnist(root / "data", arrays)
    train_quietly(root / "data", root / "run", {"epochs": 1})
    test = load_mnist(root / "data", verify=False, download=False)
    return root / "run" / "model.npz", test.test_images, test.test_labels


def export_cli(*args, hide=()):
    """scripts/export.py in a fresh interpreter, with the packages in ``hide`` unimportable."""
    code = (f"import sys, runpy; sys.modules.update(dict.fromkeys({list(hide)!r})); "
            f"sys.argv = {[str(SCRIPT), *map(str, args)]!r}; "
            f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_export_script_end_to_end(ort, trained_run, tmp_path):
    model_path, test_images, test_labels = trained_run
    result = export_cli(model_path, "-o", tmp_path / "out" / "lenet5.onnx", "--bench")
    assert result.returncode == 0, result.stderr
    assert re.search(r"wrote .*lenet5\.onnx: lenet5 as ONNX opset 15, 20 nodes, 2\d\d kB "
                     r"\(61,706 weights", result.stdout)
    assert re.search(r"C3 +Conv +\(N, 16, 10, 10\) +2,416", result.stdout)
    assert "ONNX Runtime agrees with lenet_xp on 256 random digits: the same labels" in result.stdout
    rows = re.findall(r"^ +(1|1000) +([\d.]+) +([\d.]+) +([\d.]+)$", result.stdout, re.M)
    assert [row[0] for row in rows] == ["1", "1000"] and all(float(r[1]) > 0 for r in rows)
    session = ort.InferenceSession(str(tmp_path / "out" / "lenet5.onnx"))
    scores, labels = session.run(["scores", "labels"], {"digits": test_images})
    ours = load_model(model_path).predict(test_images)
    np.testing.assert_array_equal(labels, ours.labels)
    np.testing.assert_allclose(scores, ours.scores, atol=TOLERANCE)
    assert np.mean(labels == test_labels) >= 0.9


def test_export_script_default_path_and_drawing(ort, trained_run, tmp_path):
    model_path = tmp_path / "model.npz"
    model_path.write_bytes(trained_run[0].read_bytes())
    result = export_cli(model_path, "--draw", tmp_path / "graph.png")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "model.onnx").exists()
    with Image.open(tmp_path / "graph.png") as image:
        assert image.width > 600


def test_export_script_errors(trained_run, tmp_path):
    result = export_cli(tmp_path / "missing.npz")
    assert result.returncode == 1 and result.stderr.startswith("error: no checkpoint at")
    result = export_cli(trained_run[0], "-o", tmp_path / "x.onnx", hide=["onnx"])
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == ("error: lenet_xp's ONNX export needs the onnx package: "
                             'pip install "lenet_xp[onnx]"\n')
    assert not (tmp_path / "x.onnx").exists()


def test_export_script_without_onnxruntime_writes_unchecked(onnx, trained_run, tmp_path):
    result = export_cli(trained_run[0], "-o", tmp_path / "x.onnx", hide=["onnxruntime"])
    assert result.returncode == 0 and (tmp_path / "x.onnx").exists()
    assert "note: not checked in ONNX Runtime" in result.stderr and "pip install onnxruntime" in result.stderr


def _load_script():
    spec = importlib.util.spec_from_file_location("export_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_wrong_graph_is_never_written(ort, trained_run, tmp_path, monkeypatch, capsys):
    """Were a mapping wrong (here ReLU exported as Sigmoid), the check in ONNX Runtime stops
    the script before it writes the file."""
    monkeypatch.setitem(export.MAPPINGS, layers.ReLU, mappings._elementwise("Sigmoid"))
    assert _load_script().main([str(trained_run[0]), "-o", str(tmp_path / "bad.onnx")]) == 1
    assert "ONNX Runtime disagrees with lenet_xp" in capsys.readouterr().err
    assert not (tmp_path / "bad.onnx").exists()


# ---- the user guide's page (docs/guide/export.md) ---------------------------------------------

GUIDE = ROOT / "docs" / "guide" / "export.md"


def readme_snippet() -> str:
    return re.search(r"```python\n(.*?)```", GUIDE.read_text(), re.S).group(1)


def test_readme_snippet_runs_as_written(ort, trained_run, tmp_path, monkeypatch):
    model_path, test_images, _ = trained_run
    snippet = readme_snippet()
    assert len(snippet.strip().splitlines()) == 5
    export.to_onnx(load_model(model_path), tmp_path / "lenet5.onnx")
    Image.fromarray(test_images[3]).save(tmp_path / "my_digit.png")
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with redirect_stdout(printed):
        exec(compile(snippet, str(GUIDE), "exec"), {})
    expected = load_model(model_path).predict(test_images[3])
    label, score = printed.getvalue().split()
    assert int(label) == expected.labels[0]
    assert float(score) == pytest.approx(expected.scores[0, int(label)], abs=1e-3)


# ---- the real test set (slow) ---------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name, recipe", [
    ("lenet5", {"epochs": 1}),
    ("lenet5_paper", {"epochs": 1, "batch_size": 16, "sdlm_samples": 100}),
])
def test_trained_models_agree_on_all_10000_test_digits(ort, shared_mnist, tmp_path, name, recipe):
    run(RunConfig(model=name, val_size=1000, train_limit=5000, recipe=recipe,
                  io=IO(data_dir=str(shared_mnist), out=str(tmp_path / "run"), progress=False,
                        plot=False)), log=lambda line: None)
    model = load_model(tmp_path / "run" / "model.npz")
    test = load_mnist(shared_mnist)
    agreement = export.compare(model, export.to_onnx(model), test.test_images)
    assert agreement.count == 10_000 and agreement.same_labels == 10_000
    assert agreement.score_difference <= TOLERANCE and agreement.output_difference <= TOLERANCE
    predictions = model.predict(test.test_images)
    assert np.mean(predictions.labels == test.test_labels) > 0.8, "a trained model"
    assert np.mean(predictions.scores.max(axis=1) > 0.5) > 0.25, "with scores worth comparing"


#: one zoo entry per network (the distorted entries train the same networks differently)
NETWORKS = sorted({spec.build: name for name, spec in sorted(MODELS.items(), reverse=True)}.values())


@pytest.mark.slow
@pytest.mark.parametrize("name", NETWORKS)
def test_every_zoo_network_agrees_on_all_10000_test_digits(ort, shared_mnist, name):
    model = zoo_model(name)
    agreement = export.compare(model, export.to_onnx(model), load_mnist(shared_mnist).test_images)
    assert agreement.agrees and agreement.same_labels == 10_000
    assert agreement.output_difference <= TOLERANCE


def test_the_drawing_reads_like_the_paper_s_figure_2(onnx):
    pytest.importorskip("matplotlib", reason="needs matplotlib: pip install -e '.[test]'")
    from lenet_xp.tools.export.drawing import _onnx_graph_figure

    nodes = export.layer_nodes(export.to_onnx(zoo_model("lenet5_paper")))
    texts = [t.get_text() for t in _onnx_graph_figure(nodes, None, ("scores", "labels", "outputs")
                                                      ).axes[0].texts]
    boxes = [t for t in texts if t in {n.name for n in nodes}]
    assert boxes == ["prepare", "C1", "S2", "C3", "S4", "C5", "F6", "RBF"]
    for shape in ("1@32×32", "6@28×28", "6@14×14", "16@10×10", "16@5×5", "120", "84", "10"):
        assert shape in texts
    assert "Conv\nA1: Mul·Tanh·Mul" in texts and "2,416 weights" in texts
    assert any(t.startswith("scores  N×10\nNeg·Pad·Softmax·Slice") for t in texts)


def test_a_graph_that_fails_onnx_s_checks_is_an_export_error(onnx, monkeypatch, tmp_path):
    """A mapping gone wrong (Linear's weights used untransposed) is caught before writing."""
    def untransposed(graph, name, layer, x):
        return graph.node("Gemm", [x, graph.weight(f"{name}.weight", layer.weight.data)], name)

    monkeypatch.setitem(export.MAPPINGS, layers.Linear, untransposed)
    with pytest.raises(export.ExportError, match="fails onnx's checks, a bug in an export mapping"):
        export.to_onnx(as_trained(_case_linear(Random(0))), tmp_path / "bad.onnx")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("device", device_params("apart"))
def test_a_model_on_another_device_exports_the_same_graph(onnx, trained_run, device):
    """Weights on another device (array_api_strict's simulated device1, PyTorch's, a GPU)
    come to the host."""
    on_cpu = export.to_onnx(load_model(trained_run[0]))
    on_device = export.to_onnx(load_model(trained_run[0], device=device))
    assert on_device.SerializeToString() == on_cpu.SerializeToString()


def test_the_paper_s_lenet5_is_44_nodes_as_the_docs_say(onnx):
    assert len(export.to_onnx(zoo_model("lenet5_paper")).graph.node) == 44
    assert "LeNet-5 is 44 nodes" in GUIDE.read_text()
    assert "LeNet-5 is 44 nodes" in " ".join(export.__doc__.split())
