"""Models, serializers and views that the benchmarks compare."""
