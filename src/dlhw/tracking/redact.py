"""Secrets out of what dlhw prints or writes: ``redact(text)`` for a URI or any message,
``redact_data(obj)`` for a config dump (every string in nested dicts and lists).

A tracking URI may carry credentials: ``https://user:password@host``, ``?token=...``,
``&X-Amz-Signature=...``, ``postgresql://user:pw@db/mlflow``. dlhw connects with the real
URI and shows ``***`` in its place everywhere else: messages, config.yaml in the run folder,
mlflow.json, MLflow tags and artifacts, reports. Any tracker (MLflow today, W&B later) calls
these two functions on what it prints or stores. No heavy imports.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

# user:password@ (or a bare token@) in scheme://...; the user name stays, the rest is masked
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/?#@\s]*)(?::(?P<pw>[^/?#@\s]*))?@")
# query or fragment parameters whose names say they hold a secret
_SECRET_NAMES = (r"(?:[A-Za-z0-9_.\-]*(?:token|secret|passw(?:or)?d|pwd|api[_\-]?key|apikey|access[_\-]?key|"
                 r"auth|credential|signature|sig|session|key)[A-Za-z0-9_.\-]*)")
_QUERY = re.compile(r"(?P<lead>[?&;#])(?P<name>" + _SECRET_NAMES + r")=(?P<value>[^&;#\s'\"]*)", re.IGNORECASE)


def _userinfo(m: "re.Match[str]") -> str:
    user, pw = m.group("user"), m.group("pw")
    if pw is None:  # scheme://token@host: a bare token is a secret too (unless empty)
        return f"{m.group('scheme')}{MASK}@" if user else m.group(0)
    return f"{m.group('scheme')}{user}:{MASK}@"


def redact(text: Any) -> Any:
    """``text`` with credentials in any URI it contains replaced by ``***`` (non-strings as given)."""
    if not isinstance(text, str) or ("://" not in text and "=" not in text):
        return text
    text = _USERINFO.sub(_userinfo, text)
    return _QUERY.sub(lambda m: f"{m.group('lead')}{m.group('name')}={MASK}" if m.group("value") else m.group(0),
                      text)


def redact_data(data: Any) -> Any:
    """A copy of ``data`` (nested dicts, lists, tuples) with every string passed through ``redact``."""
    if isinstance(data, dict):
        return {k: redact_data(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(redact_data(v) for v in data)
    return redact(data)


def has_secret(text: Any) -> bool:
    """Whether ``redact`` would change ``text``."""
    return redact(text) != text
