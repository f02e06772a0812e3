"""The Django project. Importing it first tells pyarrow to give freed memory back.

pyarrow's allocator (mimalloc) keeps a thread's freed pages until that thread
allocates again, so after an ingest the CSV reader's idle threads sat on the file's
buffers (about 160 MiB of benchmark B1's peak). ``MIMALLOC_PURGE_DELAY=0`` returns
them at once. mimalloc reads it when pyarrow loads, hence here, before any import of
pandas; an environment that sets it keeps its own value.
"""

import os

os.environ.setdefault("MIMALLOC_PURGE_DELAY", "0")
