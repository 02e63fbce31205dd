"""What the tests share: helper modules, the test URLconfs, and the fixtures conftest.py registers."""
