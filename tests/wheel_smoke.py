"""Run by tests/test_wheel.py with the Python of a fresh virtual environment that holds the
wheel and its dependencies only, from a folder outside the repository (never imported by the
test suite itself). Through the library API: trains lenet5 for two epochs on the MNIST-format
files in DATA into OUT, loads OUT/model.npz, classifies the test digits, and reads the
package's data files. Prints one JSON object of what it found.

    python wheel_smoke.py DATA OUT
"""

import json
import sys
from pathlib import Path

import numpy as np

import lenet_xp
from lenet_xp.data import read_idx
from lenet_xp.layers.digit_bitmaps import load_digit_bitmaps
from lenet_xp.training import IO, RunConfig, run
from lenet_xp.web.static import FILES, load_files

data, out = Path(sys.argv[1]), Path(sys.argv[2])
result = run(RunConfig(model="lenet5", val_size=100, recipe={"epochs": 2, "batch_size": 32},
                       io=IO(data_dir=str(data), verify=False, download=False, out=str(out),
                             progress=False, plot=False)), log=lambda line: None)
model = lenet_xp.load_model(out / "model.npz")
digits = read_idx(next(data.glob("t10k-images-idx3-ubyte*")))
labels = read_idx(next(data.glob("t10k-labels-idx1-ubyte*")))
predicted = model.predict(digits).labels
print(json.dumps({
    "module": lenet_xp.__file__,
    "version": lenet_xp.__version__,
    "web_files": {FILES[url][0]: len(body) for url, (body, _) in load_files().items()},
    "digit_bitmaps": list(load_digit_bitmaps().shape),
    "run_files": sorted(path.name for path in out.iterdir()),
    "test_accuracy": result.test_accuracy,
    "loaded_accuracy": float(np.mean(predicted == labels)),
}))
