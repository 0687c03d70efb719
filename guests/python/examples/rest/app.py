"""The app module componentize-py wraps: it exports the REST connector."""

import connector_sdk as sdk
from rest_connector import RestConnector

Source = sdk.export(RestConnector)
# The same pages as columns, which the host takes for ingest (world columnar-connector).
Columnar = Source.Columnar
