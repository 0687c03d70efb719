"""Puts the SDK and the examples on the path, for `python3 -m unittest discover -s
guests/python/tests` from anywhere (the discover start directory is on the path
already, so each test module begins with `import support`)."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
KIT = os.path.dirname(HERE)
ROOT = os.path.dirname(os.path.dirname(KIT))
EXAMPLES = os.path.join(KIT, "examples")

for path in (KIT, os.path.join(EXAMPLES, "file"), os.path.join(EXAMPLES, "rest"), os.path.join(EXAMPLES, "faulty")):
    if path not in sys.path:
        sys.path.insert(0, path)

# Keep test runs from leaving bytecode in the source tree.
sys.dont_write_bytecode = True
