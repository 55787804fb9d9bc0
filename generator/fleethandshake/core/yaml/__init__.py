"""YAML: reading with positions, the Go reader model, scalar resolution and the writer."""
