"""Differential testing against R over the whole option space (``make fidelity``).

Generates series of the kinds that break surveillance methods (sparse, all-zero, constant,
huge counts, trends, seasons, outbreaks, missing values, short histories, population offsets)
and control lists over every documented option of every method family, runs each case through
R (``surveillance``, ``EpiEstim``; one ``Rscript`` per batch) and through RuralWatch in-process,
compares them with the oracle README's tolerances, writes a table per method and option, and
saves every case that disagreed as a fixed regression case under ``tests/fidelity/cases/``
(run by ``tests/fidelity/test_regressions.py`` without R).

Modules: :mod:`.series` (series), :mod:`.cases` (control lists), :mod:`.rrun` (R batches),
:mod:`.ours` (our side), :mod:`.compare` (tolerances), :mod:`.saved` (regression cases),
:mod:`.report` (tables).
"""
