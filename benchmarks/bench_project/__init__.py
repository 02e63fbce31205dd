"""The Django project the benchmarks run against (settings, URLs, WSGI)."""
