"""Upload handling: the size cap is enforced while the body streams in."""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler


class CappedUploadHandler(TemporaryFileUploadHandler):
    """Streams uploads to a temporary file and stops reading past the cap.

    A request whose Content-Length already exceeds the cap is refused before any of
    the body is read. Otherwise bytes are counted as they arrive; past the cap the
    partial temporary file is closed (and so deleted) and the request is marked with
    ``upload_too_large`` for the view and the middleware to answer 413.
    """

    def __init__(self, request=None):
        super().__init__(request)
        self.received = 0

    @property
    def cap(self) -> int:
        return settings.UPLOAD_MAX_BYTES

    def _refuse(self):
        if self.request is not None:
            self.request.upload_too_large = True
        raise StopUpload(connection_reset=True)

    def handle_raw_input(
        self, input_data, META, content_length, boundary, encoding=None
    ):
        # Raising here would escape Django's parser; refuse at the first file part.
        self.declared_too_large = bool(
            content_length and content_length > self.cap + 64 * 1024
        )
        return None

    def new_file(self, *args, **kwargs):
        if getattr(self, "declared_too_large", False):
            self._refuse()
        return super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.cap:
            if getattr(self, "file", None) is not None:
                self.file.close()
            self._refuse()
        return super().receive_data_chunk(raw_data, start)


def upload_limit_message() -> str:
    megabytes = settings.UPLOAD_MAX_BYTES / (1024 * 1024)
    return f"The file is larger than the upload limit of {megabytes:g} MB."
