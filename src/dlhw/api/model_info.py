"""``dlhw.summary(config)``: the model a config builds, its layers and parameter counts, untrained.

```python
s = dlhw.summary("configs/s3_conv1d.yaml")
s.total, s.trainable, s.non_trainable     # 497349 497349 0
print(s)                                  # the layer table, the totals, what was read of the data
```
"""

from __future__ import annotations

from typing import Any

from dlhw.api.common import console_quiet, resolve_config


def summary(config: Any, overrides: Any = None, expand: bool = False, quiet: bool = True):
    """Build ``config``'s model without training and summarise it (a ModelSummary: ``text``,
    ``total``, ``trainable``, ``non_trainable``, ``input_shape``, ``data``, ``model``).

    No data is read when the config gives the input shape and the output size (see
    dlhw.data.shapes); otherwise only what tells them. ``expand``: nested models' layers too."""
    from dlhw.orchestration.summary import summarize_config

    cfg = resolve_config(config, overrides)
    with console_quiet(quiet):
        return summarize_config(cfg, expand=expand)
