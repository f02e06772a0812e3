"""The only code that writes to the database or enqueues jobs.

Functions are named ``<entity>_<action>``, take keyword-only arguments, validate with
``full_clean()`` and raise ``django.core.exceptions.ValidationError`` keyed by field
for anything a user can get wrong.
"""
