"""Adapt stage: SMAP's vector-quantized periodic autoencoder (human and robot VQ-PAE
with a shared codebook) turning raw retargets into physically plausible robot motion.

Not part of this version: the DAG runs ingest -> retarget -> filter -> dataset, and
``--until adapt`` stops after the filter with a note. The stage will plug in here as
a corpus stage (training) followed by a clip stage (applying the model).
"""
