"""Protocol metrics, one module per metric or small group; ``registry.load_metrics`` imports them all."""
