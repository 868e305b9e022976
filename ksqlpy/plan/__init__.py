"""Planning (stage: AST → plan): name resolution, types, projections, keys, steps."""
