"""Benchmarks of relimport against the sandbox on loopback: ``make bench`` or ``python -m bench``.

Each module is one family of figures (``rate``, ``per_row``, ``overhead``, ``files``); the
contenders relimport is measured against are ``httpx_loop`` and ``sdk_loop``, run as programs
of their own. ``python -m bench --smoke`` is the tiny version CI runs; the figures are printed
beside their targets in ``bench/out/results.md`` and, with the machine, in ``results.json``.
"""
