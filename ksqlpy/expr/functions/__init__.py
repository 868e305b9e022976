"""Scalar function families; each module registers its functions on import."""
