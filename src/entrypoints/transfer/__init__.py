"""Moving content: ``flextype export``, ``import`` and ``migrate`` (``flextype_core.archive``)."""

from __future__ import annotations

from flextype_entrypoints.transfer.export import export_project, export_to_path
from flextype_entrypoints.transfer.importer import import_archive
from flextype_entrypoints.transfer.migrate import DRIVERS, Migrated, migrate_project
from flextype_entrypoints.transfer.progress import ProgressBars, progress_on

__all__ = [
    "DRIVERS",
    "Migrated",
    "ProgressBars",
    "export_project",
    "export_to_path",
    "import_archive",
    "migrate_project",
    "progress_on",
]
