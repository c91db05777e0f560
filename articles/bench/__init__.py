"""`make bench`: the real-server benchmark (see `bench_server`)."""
