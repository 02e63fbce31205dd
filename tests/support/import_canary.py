"""Imported by nothing: tests/test_middleware_order.py asserts that admin input never imports it."""
