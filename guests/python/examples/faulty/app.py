"""The app module componentize-py wraps: it exports the test-only faulty connector."""

import connector_sdk as sdk
from faulty_connector import FaultyConnector

Source = sdk.export(FaultyConnector)
