"""Datasets: the :class:`Triplet` and its Parquet storage (DESIGN.md, "Datasets")."""

from tracegen.data.parquet import (
    SCHEMA,
    SCHEMA_VERSION,
    count_triplets,
    read_triplets,
    row_to_triplet,
    shard_paths,
    triplet_to_row,
    write_shard,
)
from tracegen.data.triplet import Triplet

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "Triplet",
    "count_triplets",
    "read_triplets",
    "row_to_triplet",
    "shard_paths",
    "triplet_to_row",
    "write_shard",
]
