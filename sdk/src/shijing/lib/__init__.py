"""Hand-written helpers on top of the generated client. The generator never writes here."""

from .exports import ExportFailed, ProgressBar, download_export, export_to_file, wait_for_export
from .merchants import authorised_merchants

__all__ = ["ExportFailed", "ProgressBar", "authorised_merchants", "download_export", "export_to_file",
           "wait_for_export"]
