"""Upload handling: the size cap is enforced while the body streams in, with or
without a Content-Length."""

from __future__ import annotations

import tempfile

from django.conf import settings
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpResponse


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


class ChunkedUploadMiddleware:
    """Reads a body sent without Content-Length (chunked) up to the upload cap.

    Django reads exactly Content-Length bytes of a request body, so a chunked
    upload (gunicorn passes it on de-chunked, with no length) would arrive empty.
    This spools the body to a temporary file, stopping one byte past the cap, and
    gives Django the length it needs. Past the cap the request is marked
    ``upload_too_large`` with an empty body, and answered 413 like any other
    oversized upload. A server that does not de-chunk the body gets 411.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META
        chunked = "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not chunked or meta.get("CONTENT_LENGTH"):
            return self.get_response(request)
        if not meta.get("wsgi.input_terminated"):
            return HttpResponse(
                "A body sent in chunks needs a server that de-chunks it; send "
                "Content-Length instead.",
                status=411,
                content_type="text/plain",
            )
        cap = settings.UPLOAD_MAX_BYTES + 64 * 1024  # room for the form's parts
        spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115 (closed with the response)
            max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE,
            dir=settings.FILE_UPLOAD_TEMP_DIR,
        )
        size = 0
        source = meta["wsgi.input"]
        while size <= cap:
            chunk = source.read(min(64 * 1024, cap + 1 - size))
            if not chunk:
                break
            spool.write(chunk)
            size += len(chunk)
        if size > cap:
            spool.close()
            spool = tempfile.SpooledTemporaryFile()  # noqa: SIM115
            size = 0
            request.upload_too_large = True
        spool.seek(0)
        meta["CONTENT_LENGTH"] = str(size)
        request._stream = LimitedStream(spool, size)
        try:
            response = self.get_response(request)
        except BaseException:
            spool.close()
            raise
        response._resource_closers.append(spool.close)
        return response
