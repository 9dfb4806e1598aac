"""Schema migrations, one module per version: ``vNNN_<name>.py``.

Each module may define

``on_create(conn)``
    extra DDL for a *new* archive after ``metadata.create_all`` (indexes a dialect needs);
``upgrade(op)``
    bring an archive at version NNN-1 to NNN, with ``op`` an
    :class:`alembic.operations.Operations` bound to the open transaction.

A module that adds tables imports the module defining them, so that importing every
migration registers every table on :data:`nora_lab.archive._schema.metadata`.
"""
