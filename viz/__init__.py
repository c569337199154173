"""Looking at results: the run report (``viz.report``), animated clip previews
(``viz.preview``) and the interactive 3-D viewer (``viz.viewer``).

``viz`` sits above ``core`` and the stages (it reads their artifacts and uses
their plot functions); nothing below imports it. ``viz.tool`` registers the
``report``, ``preview`` and ``view`` commands of ``python -m pipeline``.
"""
