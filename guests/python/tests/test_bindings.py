"""The fake bindings of `connector_sdk.testing` against the ones componentize-py
really generates for `wit/v1.1` (skipped when componentize-py is not installed), so
that the unit tests cannot drift from what runs in a component."""

import dataclasses
import enum
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import support

from connector_sdk import _host
from connector_sdk.testing import CASES

MODULES = ["partner_connector_types", "http", "config", "log", "state"]


def shape(module):
    """Every public class and function of a bindings module: dataclass fields, enum
    members, function names."""
    out = {}
    for name in dir(module):
        value = getattr(module, name)
        if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
            continue
        if isinstance(value, type) and issubclass(value, enum.Enum):
            out[name] = ("enum", [(m.name, m.value) for m in value])
        elif dataclasses.is_dataclass(value):
            out[name] = ("record", [f.name for f in dataclasses.fields(value)])
        elif callable(value) and not isinstance(value, type):
            out[name] = ("function",)
    return out


@unittest.skipIf(shutil.which("componentize-py") is None, "componentize-py is not installed")
class FakeMatchesGenerated(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        subprocess.run(
            ["componentize-py", "-d", os.path.join(support.ROOT, "wit", "v1.1"), "-w", "connector", "bindings", cls.dir],
            check=True,
            capture_output=True,
        )
        # Import the generated modules under their own names, beside the fakes.
        saved = {k: v for k, v in sys.modules.items() if k == "wit_world" or k.startswith("wit_world.") or k == "componentize_py_types"}
        for k in saved:
            del sys.modules[k]
        sys.path.insert(0, cls.dir)
        try:
            cls.generated = {m: importlib.import_module(f"wit_world.imports.{m}") for m in MODULES}
            cls.generated_types = importlib.import_module("componentize_py_types")
        finally:
            sys.path.remove(cls.dir)
            for k in [k for k in sys.modules if k == "wit_world" or k.startswith("wit_world.") or k == "componentize_py_types"]:
                del sys.modules[k]
            sys.modules.update(saved)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_every_module_has_the_same_classes_fields_and_functions(self):
        fakes = {"partner_connector_types": _host.types, "http": _host.http, "config": _host.config, "log": _host.log, "state": _host.state}
        for name in MODULES:
            self.assertEqual(shape(fakes[name]), shape(self.generated[name]), name)

    def test_the_error_cases_are_the_generated_ones(self):
        generated = sorted(n[len("ConnectorError_"):] for n in dir(self.generated["partner_connector_types"]) if n.startswith("ConnectorError_"))
        self.assertEqual(sorted(c for c, _ in CASES), generated)

    def test_err_is_an_exception_dataclass_with_a_value(self):
        Err = self.generated_types.Err
        self.assertTrue(issubclass(Err, Exception))
        self.assertEqual([f.name for f in dataclasses.fields(Err)], ["value"])


if __name__ == "__main__":
    unittest.main()
