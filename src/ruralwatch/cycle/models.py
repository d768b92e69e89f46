"""The worker's ledger of claimed runs.

A job that must run once per slot across every worker process (the daily cycle, once per
day) is *claimed* by inserting a row with a unique ``(job, slot)``: the database lets exactly
one insert through, on SQLite and PostgreSQL alike, so two workers never both run it. The row
then records who ran it, when, how long and what it did.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class JobRun(models.Model):
    job = models.CharField(max_length=40)
    slot = models.CharField(max_length=40)
    worker = models.CharField(max_length=120)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(null=True)
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "slot"], name="jobrun_job_slot")]

    def __str__(self) -> str:
        return f"{self.job} {self.slot} ({self.worker})"
