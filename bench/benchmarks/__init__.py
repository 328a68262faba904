"""asv benchmarks for fastland (run from bench/: ``asv run --python=same --quick``)."""
