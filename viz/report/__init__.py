"""The run report: ``OUT/report/index.html``, one self-contained page per run.

``write_report(OUT)`` (``viz.report.api``) reads ``OUT/run.json`` (and the
dataset's clip table when the dataset stage ran), draws the figures, renders
previews and plots of the worst clips into ``OUT/report/clips/`` and writes the
page with every figure embedded as a data URI (no network access needed).
"""
