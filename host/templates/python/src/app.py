"""The app module componentize-py wraps (``build.sh`` hands it this directory): it
exports the connector."""

import connector_sdk as sdk
from {{name_snake}}_connector import Connector

Source = sdk.export(Connector)
# The same pages as columns, which the host takes for ingest (world columnar-connector).
Columnar = Source.Columnar
