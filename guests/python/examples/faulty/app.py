"""The app module componentize-py wraps: it exports the test-only faulty connector."""

import connector_sdk as sdk
import faulty_connector
from faulty_connector import FaultyConnector

Source = sdk.export(FaultyConnector)


class Columnar(Source.Columnar):
    """The SDK's columns, except in modes `bad_columns` (columns that do not line up,
    past the SDK's checks, for the test of the host's) and `columns_differ`."""

    def list_draft_columns(self, req):
        mode = faulty_connector.SETTINGS.get()
        if mode == "bad_columns":
            return faulty_connector.misaligned_columns()
        if mode == "columns_differ":
            return faulty_connector.other_columns()
        return super().list_draft_columns(req)
