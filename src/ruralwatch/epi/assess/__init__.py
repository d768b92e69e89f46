"""Assessment: Rt, growth, MEM, epidemic level, phase, rebound watch and judgements.

The judgement entry point for the daily cycle is :func:`judge`; the pieces are importable from
their modules (``rt``, ``growth``, ``mem``, ``level``, ``phase``, ``rebound``, ``calendar``).
"""

from ruralwatch.epi.assess.calendar import Event, build_calendar, latest_watchable, make_event
from ruralwatch.epi.assess.judgement import JudgementConfig, JudgementSet, UnitJudgement, judge
from ruralwatch.epi.assess.level import (
    LEVELS,
    LevelResult,
    LevelThresholds,
    RateThresholds,
    epidemic_level,
    thresholds_from_mem,
    thresholds_from_rates,
)
from ruralwatch.epi.assess.phase import PHASES, PhaseResult, phase
from ruralwatch.epi.assess.rebound import ReboundResult, rebound_after_event, rebound_watch

__all__ = [
    "LEVELS",
    "PHASES",
    "Event",
    "JudgementConfig",
    "JudgementSet",
    "LevelResult",
    "LevelThresholds",
    "PhaseResult",
    "RateThresholds",
    "ReboundResult",
    "UnitJudgement",
    "build_calendar",
    "epidemic_level",
    "judge",
    "latest_watchable",
    "make_event",
    "phase",
    "rebound_after_event",
    "rebound_watch",
    "thresholds_from_mem",
    "thresholds_from_rates",
]
