"""Operator and developer tools on top of everything else: the CLI, the demo, the benchmarks."""
