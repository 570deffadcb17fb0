// Filled in by the target's first types.
