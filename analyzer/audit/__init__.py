"""``pushcap audit``: many captures, each in a worker process of its own, one row per file.

- :mod:`~analyzer.audit.discover`: which files (explicit files, directories by pattern, URLs).
- :mod:`~analyzer.audit.worker`: the child process: one file at a time, bounded, every
  failure an error row.
- :mod:`~analyzer.audit.sandbox`: the parent side: deadlines, dead children replaced,
  :func:`~analyzer.audit.sandbox.run_local`.
- :mod:`~analyzer.audit.dask_backend`: the same work on a Dask cluster (optional extra).
- :mod:`~analyzer.audit.batch`, :mod:`~analyzer.audit.summary`,
  :mod:`~analyzer.audit.progress`: one run, its summary and exit code, the progress line.

Output formats are in :mod:`analyzer.render.audit_formats`; the command in
:mod:`analyzer.cli_audit`.
"""
