"""Records the stages exchange: each one a typed dataclass with its npz schema."""
