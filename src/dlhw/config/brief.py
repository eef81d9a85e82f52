"""``dlhw show``: the resolved config with only what matters for it.

Left out: keys that are unset (null: an option not used) and keys at their default that the schema
says apply to other variants only. A field's description starts with the variants it is for
("image_folder, image_csv: ...", "sgd / rmsprop: ...", "reuters / imdb: ..."); when none of them is
a value of that section (its source, type, name...), the key does not apply here (likewise the
sections in ONLY_FOR). Other top-level keys and anything set to a non-default value always stay. ``dlhw show --all`` prints every key.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Optional, Set, Tuple

# Sections whose description names no variant, that matter only for some: left out at their default
# unless a value of their section is one of these (slurm: read only by `dlhw sweep --executor slurm`;
# dataset.limits: budgets for the sources that decode files).
ONLY_FOR: Dict[str, Set[str]] = {"slurm": set(), "limits": {"image_folder", "image_csv", "sequences"}}
FOR_VARIANTS = re.compile(r"^([a-z][a-z0-9_]*(?:\s*(?:,|/)\s*[a-z][a-z0-9_]*)*):\s")


def variants(description: Optional[str]) -> Set[str]:
    """{'image_folder', 'image_csv'} for "image_folder, image_csv: ..."; empty when not of that form."""
    m = FOR_VARIANTS.match(description or "")
    return set(re.split(r"\s*[,/]\s*", m.group(1))) if m else set()


def _default(field) -> Any:
    return field.get_default(call_default_factory=True)


def brief(model, dumped: Dict[str, Any], top: bool = True) -> Tuple[Dict[str, Any], int]:
    """(``dumped`` without what does not matter for ``model``, how many keys were left out)."""
    from pydantic import BaseModel

    fields = type(model).model_fields
    here = {v for v in (getattr(model, f, None) for f in fields) if isinstance(v, str)}
    out: Dict[str, Any] = {}
    dropped = 0
    for key, value in dumped.items():
        field = fields.get(key)
        current = getattr(model, key, None)
        if value is None:
            dropped += 1
            continue
        if key in ONLY_FOR and field is not None and not ONLY_FOR[key] & here and current == _default(field):
            dropped += 1
            continue
        if field is not None and not top:
            wanted = variants(field.description)
            if wanted and not wanted & here and current == _default(field):
                dropped += 1
                continue
        if isinstance(current, BaseModel) and isinstance(value, dict):
            value, n = brief(current, value, top=False)
            dropped += n
            if not value:
                continue
        elif isinstance(current, (list, tuple)) and isinstance(value, list):
            parts = [brief(c, v, top=False) if isinstance(c, BaseModel) and isinstance(v, dict) else (v, 0)
                     for c, v in zip(current, value)]
            value, dropped = [p for p, _ in parts], dropped + sum(n for _, n in parts)
        out[key] = value
    return out, dropped
