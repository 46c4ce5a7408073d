"""Shared test helpers, once: ``eventually``, the fake AMI server and app_queue, the fake Asterisk
FastAGI client, the service app fixture, and AMI streams replayed through the real parser.

Importable from every ring as ``support`` (tests/conftest.py puts tests/ on sys.path).
"""
