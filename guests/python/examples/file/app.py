"""The app module componentize-py wraps: it exports the file connector."""

import connector_sdk as sdk
from file_connector import FileConnector

Source = sdk.export(FileConnector)
# The same pages as columns, which the host takes for ingest (world columnar-connector).
Columnar = Source.Columnar
