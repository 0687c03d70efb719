"""The one module that reaches the bindings componentize-py generates for the world
``partner:connector/columnar-connector`` (``wit_world``): every other module of the
SDK goes through the names bound here. ``columnar`` (the export types of a page as
columns) is ``None`` in a component built for the world ``connector``, which has no
such export.

Inside a component (``sys.platform == "wasi"``) the bindings are always there. On
a build machine's CPython, where they are not, ``connector_sdk.testing`` puts a fake
of the host in their place, so that a connector's unit tests run with plain
``python3 -m unittest``.
"""

import sys

from types import ModuleType
from typing import Optional

try:
    from componentize_py_types import Err
    from wit_world.imports import config, http, log, state
    from wit_world.imports import partner_connector_types as types
except ImportError:
    if sys.platform == "wasi":
        raise
    from . import testing as _testing

    _testing.install_bindings()
    from componentize_py_types import Err  # noqa: F401  (the fake)
    from wit_world.imports import config, http, log, state  # noqa: F401
    from wit_world.imports import partner_connector_types as types  # noqa: F401

columnar: Optional[ModuleType]
try:
    from wit_world.exports import columnar
except ImportError:
    columnar = None

__all__ = ["Err", "columnar", "config", "http", "log", "state", "types"]
