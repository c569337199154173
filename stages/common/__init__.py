"""Helpers shared by several stages (rotations, npz I/O, file hashing)."""
