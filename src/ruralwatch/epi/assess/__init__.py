"""Assessment: Rt, growth, MEM, epidemic level, phase, rebound watch and judgements.

The judgement entry point for the daily cycle is :func:`ruralwatch.epi.assess.judgement.judge`;
every piece is imported from its module (``rt``, ``growth``, ``mem``, ``level``, ``phase``,
``rebound``, ``calendar``, ``judgement``). The package itself imports nothing, so that a
command needing one estimator does not load the others: ``ruralwatch rt`` spent 1.1 s of its
2.1 s importing the judgement's modules (MEM's scipy.stats among them) through this file.
"""
