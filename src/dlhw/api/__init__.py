"""The Python API: what the CLI does, from a notebook or a script.

```python
import dlhw
run = dlhw.run("configs/quickstart.yaml", overrides={"training.epochs": 5}, out="runs")
run.status, run.metrics["test"]["accuracy"], run.history, run.model(), run.predict(["photo.jpg"])
sweep = dlhw.sweep("configs/mlp_optimizers", overrides={"training.epochs": 3}, workers=2)
sweep.table(), sweep.best(), dlhw.load("runs/quickstart"), dlhw.report("runs/mlp_optimizers")
dlhw.summary("configs/s3_conv1d.yaml").total      # the model's parameters, untrained
```

Each CLI command parses its arguments, calls one function here and prints. No heavy imports at
module level: TensorFlow, Keras, pandas and matplotlib load when a call needs them.
"""

from dlhw.api.folders import load, report, write_report
from dlhw.api.model_info import summary
from dlhw.api.run_folder import Run, predictions, run
from dlhw.api.sweep_folder import Sweep, sweep

__all__ = ["Run", "Sweep", "load", "predictions", "report", "run", "summary", "sweep", "write_report"]
