"""The benchmark harness: timing (``timing``), the in-process request benchmarks
(``requests``), the gunicorn/PostgreSQL throughput benchmark (``throughput``) and the report
(``report``)."""
