"""The dataset stage: sharded HDF5 reference datasets with prior difficulty, their reader and samplers.

Format: docs/DATASET_FORMAT.md. Entry points: ``stage.STAGE`` (corpus stage),
``reader.open_dataset``, ``samplers``, ``torch_data``, ``verify.verify_dataset``,
``export.export_dataset`` and ``tool.add_parser`` (``verify``, ``export``).
"""
