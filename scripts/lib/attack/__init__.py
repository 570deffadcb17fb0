"""The attack suite's helpers (scripts/attack): the harness and JWT forging."""
