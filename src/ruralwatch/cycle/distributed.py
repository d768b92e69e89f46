"""The cycle's validation, detection and assessment per province (or prefecture), on worker
processes: Dask's, or a pool of this machine's.

:func:`connect` gives the cycle a :class:`Partitioned` runner: each of these steps becomes one
task per partition, and each task runs on a worker that configures Django itself (its own
``DATABASE_URL``, checked to be the cycle's database) and does the reads and writes of its
partition with the same services the in-process cycle calls (``intake.nightly``'s
``validate_part``, ``detect_signals`` and ``assess`` on the partition's subtree). The workers
are those of a Dask scheduler when ``RURALWATCH_DASK_SCHEDULER`` names one; else, on
PostgreSQL, ``RURALWATCH_CYCLE_WORKERS`` processes of this machine (:class:`LocalPool`), as
the cycle alternates with its one database backend and leaves the other cores idle. With one
worker, on SQLite (one writer at a time), or for a subtree of one province the cycle runs
in-process as one run over its whole subtree, as before; ``Partitioned()`` without workers
runs the same tasks one after the other in this process.

What a partition's outputs depend on outside it, and how that is kept identical to the run
over the whole tree:

- detection: every detector judges each series on its own history (the registry's contract),
  so a partition's signals are those of the whole tree. Rules of the levels above the
  partition level (province rules when partitioned by prefecture) find no area in a
  partition; they run as one more task over the cycle's subtree. The rules' ``last_run`` and
  ``last_error`` are written at the end from what all the tasks said.
- assessment: a small area is judged on its nearest ancestor with enough cases, up to the
  root of the tree, and a province's judgement names the townships under it that rebounded;
  so assessment is always partitioned by province (a subtree whose root is a root of the
  judged tree), also when detection is partitioned by prefecture. The nowcast counts delays
  from the moment of the latest report: the whole tree's moment is read once here and given
  to every partition (``nowcasting.whole_tree_moment``), as each province's own latest
  report is earlier than the tree's.

A partition whose task fails (an error in the task, a worker lost) is recorded in the cycle's
``did_not_run`` as ``{"step", "partition", "error"}``, like a rule that did not run; its stored
rows stay as they were and the other partitions complete. Deployment: docs/deploy.md.

Each task reports the CPU seconds its worker process spent on it (and its PostgreSQL
backend's, when the server is on this machine) and the worker's peak memory, so that the
cycle's record shows the work no longer done in the coordinator.

Dask is imported here only, and only when a scheduler is used.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import heapq
import logging
import multiprocessing
import os
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ruralwatch.core import allocators

if TYPE_CHECKING:
    from ruralwatch.signals.services import DetectionSummary

Progress = Callable[[str, int, int], None]
R = TypeVar("R")
logger = logging.getLogger(__name__)

#: Partition level names (``RURALWATCH_DASK_PARTITION``) and their area levels.
LEVELS = {"province": 1, "prefecture": 2}
#: The indicator the cycle's assessment judges (``assess``'s default).
INDICATOR = "new_cases"


@dataclass(frozen=True)
class Part:
    """One subtree the work is split into."""

    code: str
    path: str
    name: str
    #: Number of areas in it (the bigger ones are started first).
    size: int = 0


@dataclass(frozen=True)
class Task:
    """What a worker is asked to do: one step over one partition. Plain values only, so that
    it travels to a worker without Django."""

    #: "validate", "detect", "detect_above" (rules of the levels above the partitions),
    #: "assess"
    step: str
    part: Part
    first: dt.date
    end: dt.date
    #: (vendor, name) of the coordinator's database; the worker refuses any other.
    database: tuple[str, str]
    #: Detection rules run by ``detect_above`` (primary keys).
    rules: tuple[int, ...] = ()
    #: Whether ``moment`` pins the nowcast's moment (assessment).
    pinned: bool = False
    moment: dt.datetime | None = None
    #: Assessment: whether the date may hold judgements to replace (``assess(replace=…)``).
    replace: bool = True
    #: True on a Dask or pool worker: the task closes its database connections when done.
    remote: bool = False
    #: False: the task's database session plans no parallel workers (:func:`serial_queries`);
    #: None: the worker decides, as a pool decides for its workers (:func:`parallel_query_here`).
    parallel_query: bool | None = True
    #: Validation: how many days up to ``end`` it screens, whether only the areas under a
    #: county (``intake.nightly``'s scope), and the time its flags and violations are found.
    days: int = 0
    county_only: bool = False
    now: dt.datetime | None = None


@dataclass
class Outcome:
    """What a task did: its result (a summary as a dict) or why it did not run."""

    step: str
    code: str
    seconds: float
    worker: str
    result: dict[str, Any] | None = None
    error: str | None = None
    #: CPU seconds of the worker process during the task (all its threads), and of its
    #: PostgreSQL backend when the server runs on this machine (else None).
    cpu_s: float = 0.0
    db_cpu_s: float | None = None
    #: The worker process's peak resident memory so far, MiB.
    peak_rss_mib: float = 0.0
    #: The parallel workers its database session let a query plan (PostgreSQL; else None).
    parallel_workers: int | None = None


# ---------------------------------------------------------------------------------------------
# On the worker
# ---------------------------------------------------------------------------------------------


def _django_ready() -> None:
    """Configure Django in a worker process (from its own environment), once."""
    from django.apps import apps

    if apps.ready:
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ruralwatch.config.settings")
    import django

    django.setup()


def database_identity() -> tuple[str, str]:
    """(vendor, database name) of this process's default connection; a SQLite file by its
    absolute path. Host and password are not part of it (workers may reach the server by
    another name)."""
    from django.db import connection

    name = str(connection.settings_dict["NAME"])
    if connection.vendor == "sqlite" and not _sqlite_in_memory():
        name = str(Path(name).resolve())
    return connection.vendor, name


def process_cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds of process ``pid`` so far, from ``/proc`` (None when it is
    not a process of this machine)."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name: state, ppid, ...
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_pid() -> int | None:
    """The PostgreSQL backend serving this process's connection (None on SQLite)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return int(cur.fetchone()[0])


def _parallel_workers() -> int | None:
    """The session's :data:`SERIAL_QUERY` (PostgreSQL; else None)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cur:
        cur.execute(f"SHOW {SERIAL_QUERY}")
        return int(cur.fetchone()[0])


def _own_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run_task(task: Task) -> Outcome:
    """Run one task here (on a worker, or in the coordinator). Never raises: an error is the
    outcome's ``error``, and the worker's log has its traceback."""
    began, cpu = time.perf_counter(), _own_cpu_s()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    outcome = Outcome(task.step, task.part.code, 0.0, worker)
    try:
        _django_ready()
        try:
            mine = database_identity()
            if mine != task.database:
                raise RuntimeError(
                    f"this worker's database is {mine[0]} {mine[1]!r}, the cycle's is "
                    f"{task.database[0]} {task.database[1]!r}: start the workers with the "
                    "coordinator's DATABASE_URL"
                )
            backend = backend_pid()
            db_cpu = process_cpu_s(backend)
            parallel = task.parallel_query
            with serial_queries(not (parallel_query_here() if parallel is None else parallel)):
                outcome.result = STEPS[task.step](task)
                outcome.parallel_workers = _parallel_workers()
            if db_cpu is not None and backend == backend_pid():  # the same connection
                after = process_cpu_s(backend)
                outcome.db_cpu_s = None if after is None else round(after - db_cpu, 3)
        finally:
            if task.remote:  # a worker waits idle until the next cycle: hold no connection
                from django.db import connections

                connections.close_all()
    except Exception as exc:
        logger.exception("cycle partition %s %s failed", task.step, task.part.code)
        outcome.error = f"{type(exc).__name__}: {exc}"
    outcome.seconds = round(time.perf_counter() - began, 3)
    outcome.cpu_s = round(_own_cpu_s() - cpu, 3)
    # Linux gives the peak in KiB
    outcome.peak_rss_mib = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return outcome


def _summary_dict(summary: DetectionSummary) -> dict[str, Any]:
    return dataclasses.asdict(summary)


def _validate(task: Task) -> dict[str, Any]:
    from ruralwatch.intake.nightly import validate_part

    assert task.now is not None  # the coordinator's clock, the same for every partition
    return validate_part(task.part.path, task.county_only, task.end, days=task.days, now=task.now)


def _detect(task: Task) -> dict[str, Any]:
    from ruralwatch.intake.screen_days import village_values
    from ruralwatch.signals.services import detect_signals

    # the villages' days the validation of the same province kept, from its copies
    summary = detect_signals(
        task.first, task.end, root_path=task.part.path, village_values=village_values
    )
    return _summary_dict(summary)


def _detect_above(task: Task) -> dict[str, Any]:
    """The rules of the levels above the partitions, over the cycle's subtree. Their
    ``last_run`` is written by the coordinator with every other rule's."""
    from ruralwatch.signals.models import DetectionRule
    from ruralwatch.signals.services import DetectionSummary, apply_rules

    summary = DetectionSummary(task.first.isoformat(), task.end.isoformat())
    rules = DetectionRule.objects.filter(pk__in=task.rules).order_by("level", "method", "pk")
    apply_rules(list(rules), task.first, task.end, task.part.path, summary)
    return _summary_dict(summary)


def _assess(task: Task) -> dict[str, Any]:
    from ruralwatch.assessments import nowcasting
    from ruralwatch.assessments.services import assess
    from ruralwatch.intake.screen_days import areas_read_once, arrival_days, report_values

    pinned: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if task.pinned:
        pinned = nowcasting.whole_tree_moment(INDICATOR, task.end, task.moment)
    # the villages' days the validation of the province kept, from its copies
    with pinned, areas_read_once():
        j = assess(
            task.end,
            root_path=task.part.path,
            indicator=INDICATOR,
            report_values=report_values,
            replace=task.replace,
            arrivals=arrival_days,
        )
    return {"areas": j.areas, "by_phase": j.by_phase, "rebounds": j.rebounds, "seconds": j.seconds}


STEPS: dict[str, Callable[[Task], dict[str, Any]]] = {
    "validate": _validate,
    "detect": _detect,
    "detect_above": _detect_above,
    "assess": _assess,
}


# ---------------------------------------------------------------------------------------------
# On the coordinator
# ---------------------------------------------------------------------------------------------


def parts(root_path: str, level: int) -> list[Part]:
    """The subtrees under ``root_path`` at ``level`` (and any root of the tree deeper than
    that level); the subtree itself when its root is at ``level`` or deeper. Biggest first."""
    from django.db.models import Count, Q

    from ruralwatch.areas.models import Area

    root = Area.objects.filter(path=root_path).first() if root_path != "/" else None
    if root is not None and root.level >= level:
        size = Area.objects.filter(path__startswith=root_path).count()
        return [Part(root.code, root.path, root.name, size)]
    heads = list(
        Area.objects.filter(path__startswith=root_path)
        .filter(Q(level=level) | Q(parent__isnull=True, level__gt=level))
        .order_by("code")
        .values_list("code", "path", "name")
    )
    sizes = dict(
        Area.objects.filter(path__startswith=root_path, level__gte=level)
        .values_list(f"l{level}")
        .annotate(n=Count("code"))
        .values_list(f"l{level}", "n")
    )
    found = [Part(code, path, name, sizes.get(code, 0)) for code, path, name in heads]
    return sorted(found, key=lambda p: (-p.size, p.code))


def _whole(path: str) -> Part:
    """A partition named by its path alone (the subtree itself, or a prefix of it)."""
    return Part(path.strip("/").rsplit("/", 1)[-1] or "/", path, "", 0)


@dataclass
class StepRun:
    """A partitioned step's merged outcome: ``partitions`` for the cycle's record, ``failed``
    for its ``did_not_run``."""

    partitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: list[dict[str, str]] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    runner: str = "in-process"

    def record(self, level: str) -> dict[str, Any]:
        return {"runner": self.runner, "partition_level": level, "partitions": self.partitions}


def _start_worker() -> None:
    """What a worker process does once as it starts (a pool's as its initializer, Dask's as
    the cycle starts, :meth:`Partitioned.start_workers`): configure Django and import the
    steps' code, about a second and a half of a core (Django's apps 0.9 s, the assessment's
    modules 0.4 s), which the coordinator's first steps leave idle. In the first task of
    each step, on each worker, it was the task's own CPU: on the province's cycle on two
    Dask workers about half of their tasks' CPU again beyond the same steps in one process."""
    _django_ready()
    import ruralwatch.assessments.services
    import ruralwatch.intake.nightly
    import ruralwatch.signals.services  # noqa: F401


def _ready() -> None:
    """The task :meth:`LocalPool.start` hands each worker: nothing, once it has started."""


#: The session setting that keeps a backend's queries to itself (no parallel workers).
SERIAL_QUERY = "max_parallel_workers_per_gather"


def database_on_this_machine() -> bool:
    """Whether this process's PostgreSQL backend is a process of this machine (the server
    shares its cores with the cycle's pool)."""
    pid = backend_pid()
    if pid is None:
        return False
    try:
        return Path(f"/proc/{pid}/comm").read_text().startswith("postgres")
    except OSError:
        return False


def parallel_query_here() -> bool:
    """Whether the cycle's workers on this machine (a pool's, or a Dask worker's, which asks
    for itself) let the database plan parallel workers for their queries
    (``RURALWATCH_CYCLE_PARALLEL_QUERY``). "auto": not when the server runs on this machine,
    whose cores the workers and their backends already fill: there a query's parallel
    workers only take a core another worker needs (docs/deploy.md, "Settings for a national
    deployment": the nation's cycle on two cores, alternated runs of session 19)."""
    from django.conf import settings

    choice = settings.RURALWATCH_CYCLE_PARALLEL_QUERY
    if choice == "auto":
        return not database_on_this_machine()
    return bool(choice == "on")


@contextlib.contextmanager
def serial_queries(active: bool) -> Iterator[None]:
    """Within the block, this process's database session plans no parallel workers (when
    ``active`` and on PostgreSQL); the server's setting again after it. The pool's tasks run
    in it on the workers (:attr:`Task.parallel_query`), the cycle's own steps beside them in
    the coordinator."""
    from django.db import connection

    if not active or connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cur:
        cur.execute(f"SET {SERIAL_QUERY} = 0")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cur:
                cur.execute(f"RESET {SERIAL_QUERY}")
        except Exception:  # a broken connection: the next one starts with the default
            logger.warning("could not reset %s", SERIAL_QUERY, exc_info=True)


class LocalPool:
    """``workers`` processes of this machine for the cycle's tasks, started ("spawn": a new
    interpreter, which configures Django from the environment it inherits, never a fork of
    the coordinator's open connection) at the first task and kept for every step of the
    cycle. A worker that dies (killed for memory, a crash) takes the pool down with every
    task it held: :meth:`submit` then starts a new one. The workers start with the
    allocator settings of :mod:`ruralwatch.core.allocators` (freed memory kept for the next
    province, not faulted in again from the kernel)."""

    def __init__(self, workers: int, *, parallel_query: bool = True) -> None:
        self.workers = workers
        #: Whether the tasks' database sessions may plan parallel workers.
        self.parallel_query = parallel_query
        self._executor: ProcessPoolExecutor | None = None
        #: The thread that waits for the workers :meth:`release` let go.
        self._exiting: threading.Thread | None = None

    def start(self) -> None:
        """Start the workers now rather than at the first task (each configures Django, a
        second or so of a core, which the cycle's first step leaves idle)."""
        if self._executor is None:
            executor = self._new_executor()
            for _ in range(self.workers):  # one process spawned per task not yet taken
                executor.submit(_ready)

    def submit(self, task: Task) -> Future[Outcome]:
        if self._executor is not None:
            try:
                return self._executor.submit(run_task, task)
            except BrokenProcessPool:
                self._executor.shutdown(wait=True, cancel_futures=True)
        return self._new_executor().submit(run_task, task)

    def _new_executor(self) -> ProcessPoolExecutor:
        allocators.export_for_workers()  # read by each worker as it starts
        self._executor = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
        )
        return self._executor

    def release(self) -> None:
        """Let the workers go: they end (each frees a province's memory and its database
        session, about 0.6 s nationally) on a thread of their own while the caller goes on;
        :meth:`close` waits for them. A task submitted after this starts a new pool."""
        if self._executor is not None:
            executor, self._executor = self._executor, None
            self._exiting = threading.Thread(
                target=executor.shutdown,
                kwargs={"wait": True, "cancel_futures": True},
                name="cycle-pool-exit",
                daemon=True,
            )
            self._exiting.start()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        if self._exiting is not None:
            self._exiting.join()
            self._exiting = None


#: Dask priorities: a step's ``priority`` outweighs any partition's size.
PRIORITY_STEP = 10**9


class Running:
    """A partitioned step started by :meth:`Partitioned._start`: its tasks' outcomes as they
    end (on the pool they arrive on its feed's thread), and :meth:`wait` for all of them."""

    def __init__(self, tasks: list[Task], run: StepRun, progress: Progress | None) -> None:
        self.tasks, self.run, self.progress = tasks, run, progress
        #: ``time.perf_counter()`` when the last task ended.
        self.ended: float | None = None
        #: Dask: the futures, collected by :meth:`wait`.
        self.futures: dict[Any, Task] = {}
        self.client: Any = None
        self._done = threading.Event()
        self._lock = threading.Lock()

    def finish(self, t: Task, out: Outcome) -> None:
        """Record one task's outcome (any thread)."""
        with self._lock:
            run = self.run
            run.outcomes.append(out)
            run.partitions[t.part.code] = {
                "step": t.step,
                "areas": t.part.size,
                "seconds": out.seconds,
                "worker": out.worker,
                "cpu_s": out.cpu_s,
                "db_cpu_s": out.db_cpu_s,
                "peak_rss_mib": out.peak_rss_mib,
                "parallel_workers": out.parallel_workers,
                **({"error": out.error} if out.error else {}),
            }
            if out.error:
                run.failed.append(
                    {"step": _step_name(t), "partition": t.part.code, "error": out.error}
                )
            logger.info(
                "cycle %s %s %s: %s in %.1f s on %s [%d/%d]",
                t.step,
                t.part.code,
                t.part.name,
                "failed: " + out.error if out.error else "done",
                out.seconds,
                out.worker,
                len(run.outcomes),
                len(self.tasks),
            )
            if len(run.outcomes) == len(self.tasks):
                self.close()
        if self.progress:
            self.progress(_stage(t), 1, 1)

    def close(self) -> None:
        self.ended = time.perf_counter()
        self._done.set()

    def wait(self) -> StepRun:
        """Every task's outcome, in the tasks' order (failures too)."""
        if self.futures:
            from distributed import as_completed as dask_completed

            futures, self.futures = self.futures, {}
            ended = dask_completed(list(futures), loop=self.client.loop)  # type: ignore[no-untyped-call]
            for future in ended:
                t = futures[future]
                if future.status == "error":  # the task never returned (a worker lost …)
                    self.finish(t, _not_run(t, future.exception()))
                else:
                    self.finish(t, future.result())
        self._done.wait()
        order = {t.part.code: i for i, t in enumerate(self.tasks)}
        self.run.outcomes.sort(key=lambda o: order[o.code])
        self.run.failed.sort(key=lambda f: order[f["partition"]])
        return self.run


@dataclass(order=True)
class _Queued:
    key: tuple[int, ...]
    task: Task = field(compare=False)
    finish: Callable[[Task, Outcome], None] = field(compare=False)
    #: Run with no other task on the pool (a task whose worker died, run again).
    alone: bool = field(default=False, compare=False)


class _Feed:
    """Hands a :class:`LocalPool` its tasks from a thread: at most one per worker at a time,
    the highest priority first (then the biggest partition, then the order given), so that a
    step started later overtakes the queued tasks of a step of lower priority. When a worker
    dies, the tasks it took down with the pool run again one at a time on a new pool (each
    task replaces its partition's rows in its own transactions, so a run cut short left
    nothing): the one that kills its worker again is recorded as failed and the others
    complete, as Dask does with a task that loses its worker."""

    def __init__(self, pool: LocalPool) -> None:
        self.pool = pool
        self._queue: list[_Queued] = []
        self._running: dict[Future[Outcome], _Queued] = {}
        self._seq = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="cycle-pool-feed", daemon=True)
        self._thread.start()

    def put(
        self, tasks: list[Task], priority: int, finish: Callable[[Task, Outcome], None]
    ) -> None:
        with self._lock:
            for t in tasks:
                self._seq += 1
                key = (-priority, -t.part.size, self._seq)
                remote = dataclasses.replace(
                    t, remote=True, parallel_query=self.pool.parallel_query
                )
                heapq.heappush(self._queue, _Queued(key, remote, finish))
        self._wake.set()

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._thread.join()

    def _fill(self) -> None:
        """Start queued tasks while a worker is free (a task to run alone waits for an empty
        pool, and holds it)."""
        with self._lock:
            while self._queue and len(self._running) < self.pool.workers:
                if any(q.alone for q in self._running.values()):
                    return
                if self._queue[0].alone and self._running:
                    return
                queued = heapq.heappop(self._queue)
                try:
                    self._running[self.pool.submit(queued.task)] = queued
                except Exception as exc:  # the pool cannot start (no process, …)
                    self._finish(queued, _not_run(queued.task, exc))

    def _loop(self) -> None:
        while not self._closed:
            self._fill()
            if not self._running:
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            done, _ = wait(list(self._running), timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                queued = self._running.pop(future)
                t = queued.task
                exc = future.exception()
                if isinstance(exc, BrokenProcessPool) and not queued.alone:
                    logger.warning(
                        "cycle %s %s: its worker died; run again alone", t.step, t.part.code
                    )
                    with self._lock:  # first of all, in the order it had
                        key = (-(10**6), *queued.key[1:])
                        heapq.heappush(self._queue, _Queued(key, t, queued.finish, alone=True))
                    continue
                self._finish(queued, future.result() if exc is None else _not_run(t, exc))

    @staticmethod
    def _finish(queued: _Queued, out: Outcome) -> None:
        """Hand the outcome on; an error there is logged, and the feed goes on for the other
        steps (the step's own waiter has its outcome recorded before its progress line)."""
        try:
            queued.finish(queued.task, out)
        except Exception:
            logger.exception("cycle %s %s: recording its outcome", queued.task.step, out.code)


@dataclass
class Partitioned:
    """Runs the cycle's validation, detection and assessment per partition: on the Dask
    ``client``'s workers, on a ``pool`` of this machine's processes, or one after the other
    in this process without either."""

    client: Any = None
    level: str = "province"
    pool: LocalPool | None = None
    _feed: _Feed | None = field(default=None, init=False, repr=False)
    #: The Dask workers' start (:meth:`start_workers`), held until :meth:`close` (a future
    #: let go may be cancelled).
    _started: list[Any] = field(default_factory=list, init=False, repr=False)

    @property
    def runner(self) -> str:
        """Where the tasks run, as the cycle's record says it."""
        if self.client is not None:
            return "dask"
        if self.pool is not None:
            return f"pool of {self.pool.workers}"
        return "in-process"

    def start_workers(self) -> None:
        """A pool's workers started now (:meth:`LocalPool.start`); Dask's are running, and
        each is handed :func:`_start_worker` now, ahead of any task (nothing if it has done
        it already: a worker stays between cycles). Returns at once."""
        if self.pool is not None:
            self.pool.start()
        elif self.client is not None:
            workers = list(self.client.scheduler_info().get("workers", {}))
            self._started = [
                self.client.submit(
                    _start_worker,
                    key=f"ruralwatch-start-{w}-{time.time_ns()}",
                    workers=[w],
                    allow_other_workers=False,
                    priority=PRIORITY_STEP * 100,
                    pure=False,
                )
                for w in workers
            ]

    def release(self) -> None:
        """The caller has collected every step it started: a pool's workers may end now,
        while it goes on (:meth:`LocalPool.release`); Dask's stay until :meth:`close`."""
        if self._feed is not None:
            self._feed.close()
            self._feed = None
        if self.pool is not None:
            self.pool.release()

    def close(self) -> None:
        self._started = []
        if self.client is not None:
            self.client.close()
        if self._feed is not None:
            self._feed.close()
            self._feed = None
        if self.pool is not None:
            self.pool.close()

    # -- running tasks ---------------------------------------------------------------------

    def _run(self, tasks: list[Task], progress: Progress | None) -> StepRun:
        """Run the tasks and wait for them (:meth:`_start`)."""
        return self._start(tasks, progress).wait()

    def _start(self, tasks: list[Task], progress: Progress | None, priority: int = 0) -> Running:
        """Start the tasks and return at once (on the pool or Dask; in this process they run
        here, one after the other, before it returns). The pool and Dask start the tasks of a
        higher ``priority`` before any waiting task of a lower one, so that a step started
        later can overtake one already queued (the cycle's detection, which its tasks step
        waits for, overtakes the queued assessment, beside which the tasks of most kinds are
        made, and the tail of validation, which nothing waits for). One
        line of progress per partition (its stage is the step and the partition), and an
        INFO log line as each ends."""
        running = Running(tasks, StepRun(runner=self.runner), progress)
        for t in tasks:
            if progress:
                progress(_stage(t), 0, 1)
        if not tasks:
            running.close()
        elif self.pool is not None:
            if self._feed is None:
                self._feed = _Feed(self.pool)
            self._feed.put(tasks, priority, running.finish)
        elif self.client is None:
            for t in tasks:
                running.finish(t, run_task(t))
        else:
            # A Dask worker may share its machine with the database server or not: each
            # decides for its own session, as the pool does for its workers.
            remote = [dataclasses.replace(t, remote=True, parallel_query=None) for t in tasks]
            running.futures = {
                self.client.submit(
                    run_task,
                    t,
                    key=f"ruralwatch-{t.step}-{t.part.code}-{t.end}-{time.time_ns()}",
                    priority=priority * PRIORITY_STEP + t.part.size,
                    pure=False,
                ): t
                for t in remote
            }
            running.client = self.client
        return running

    # -- the cycle's three steps -----------------------------------------------------------
    #
    # Each step is started (``start_*``: its tasks handed to the workers, returning at once
    # on the pool and Dask) and its result taken later (:meth:`Pending.result`), so that the
    # cycle can overlap steps that do not read each other's rows.

    def start_validate(
        self,
        day: dt.date,
        days: int,
        root_path: str,
        now: dt.datetime,
        progress: Progress | None = None,
        priority: int = 0,
    ) -> Pending[dict[str, Any]]:
        """``intake.nightly.nightly(day, days=days, path=root_path, now=now)`` per partition
        of its own (a province, or the subtree itself); the same totals. Where its bounded
        read does not hold, the county-by-county run, here and now."""
        from ruralwatch.intake import nightly

        scope = nightly.nightly_parts(day, days=days, path=root_path)
        if scope is None:
            totals = nightly.nightly_per_county(day, days=days, path=root_path, now=now)
            return Pending.done(totals, StepRun())
        database = database_identity()
        sized = {p.path: p for p in parts(root_path, LEVELS["province"])}
        tasks = [
            Task(
                "validate",
                sized.get(prefix) or _whole(prefix),
                day,
                day,
                database,
                days=days,
                county_only=scope.county_only,
                now=now,
            )
            for prefix in scope.parts
        ]
        tasks.sort(key=lambda t: (-t.part.size, t.part.code))

        def merge(run: StepRun) -> dict[str, Any]:
            totals = nightly.nightly_totals(scope)
            for out in run.outcomes:
                if out.result is not None:
                    nightly.add_part(totals, out.result)
            return totals

        return Pending(self._start(tasks, progress, priority), merge)

    def start_detect(
        self,
        first: dt.date,
        end: dt.date,
        root_path: str,
        progress: Progress | None = None,
        priority: int = 0,
    ) -> Pending[DetectionSummary]:
        """``detect_signals(first, end, root_path=…)`` per partition; the merged summary."""
        from ruralwatch.areas.models import Area
        from ruralwatch.signals.models import DetectionRule
        from ruralwatch.signals.services import DetectionSummary

        level = LEVELS[self.level]
        database = database_identity()
        tasks = [Task("detect", p, first, end, database) for p in parts(root_path, level)]
        root_level = 0
        if root_path != "/":
            root_level = Area.objects.get(path=root_path).level
        rules = list(DetectionRule.objects.filter(active=True).order_by("level", "method", "pk"))
        above = tuple(r.pk for r in rules if max(root_level, 1) <= r.level < level)
        if above:
            tasks.append(Task("detect_above", _whole(root_path), first, end, database, rules=above))

        def merge(run: StepRun) -> DetectionSummary:
            summary = DetectionSummary(first.isoformat(), end.isoformat())
            for out in run.outcomes:
                if out.result is not None:
                    _merge_detection(summary, out.result)
            if not any(out.result is not None for out in run.outcomes):
                return summary  # no partition ran: the rules' state stays as it was
            errors = summary.did_not_run
            summary.rules_run = sum(1 for r in rules if str(r) not in errors)
            for r in rules:  # what detect_signals writes, once the partitions all said
                DetectionRule.objects.filter(pk=r.pk).update(
                    last_run=end, last_error=errors.get(str(r), "")
                )
            for out in run.outcomes:
                if out.result is not None:
                    signals = sum(out.result["signals_by_method"].values())
                    run.partitions[out.code]["signals"] = signals
            return summary

        return Pending(self._start(tasks, progress, priority), merge)

    def start_assess(
        self,
        cycle_date: dt.date,
        root_path: str,
        progress: Progress | None = None,
        priority: int = 0,
    ) -> Pending[dict[str, Any]]:
        """``assess(cycle_date, root_path=…)`` per province (see the module's docstring) with
        the whole subtree's nowcast moment; the merged summary as the cycle records it."""
        from ruralwatch.assessments import nowcasting
        from ruralwatch.assessments.services import judged_on

        database = database_identity()
        now = nowcasting.moment(root_path, cycle_date, INDICATOR)
        # asked once, before any partition writes: a partition's own deletion of a date that
        # holds nothing yet reads what the partitions judged before it (assessments.services)
        replace = judged_on(cycle_date, root_path, INDICATOR)
        tasks = [
            Task(
                "assess",
                p,
                cycle_date,
                cycle_date,
                database,
                pinned=True,
                moment=now,
                replace=replace,
            )
            for p in parts(root_path, LEVELS["province"])
        ]

        def merge(run: StepRun) -> dict[str, Any]:
            merged: dict[str, Any] = {
                "areas": 0,
                "by_phase": {},
                "rebounds": [],
                "parts_seconds": {},
            }
            for out in run.outcomes:
                if out.result is None:
                    continue
                r = out.result
                merged["areas"] += r["areas"]
                for phase, n in r["by_phase"].items():
                    merged["by_phase"][phase] = merged["by_phase"].get(phase, 0) + n
                merged["rebounds"].extend(r["rebounds"])
                for name, s in r["seconds"].items():
                    total = merged["parts_seconds"].get(name, 0.0) + s
                    merged["parts_seconds"][name] = round(total, 3)
                run.partitions[out.code]["judged"] = r["areas"]
            merged["rebounds"].sort()
            return merged

        return Pending(self._start(tasks, progress, priority), merge)


class Pending(Generic[R]):
    """A started step: :meth:`result` waits for its tasks and merges their outcomes."""

    def __init__(self, running: Running | None, merge: Callable[[StepRun], R]) -> None:
        self.running, self._merge = running, merge
        self._result: tuple[R, StepRun] | None = None

    @classmethod
    def done(cls, value: R, run: StepRun) -> Pending[R]:
        """A step that ran to its end as it was started."""
        pending: Pending[R] = cls(None, lambda _: value)
        pending._result = (value, run)
        return pending

    @property
    def ended(self) -> float | None:
        """``time.perf_counter()`` when its last task ended (None while one runs, or for a
        step that ran as it was started)."""
        return None if self.running is None else self.running.ended

    def result(self) -> tuple[R, StepRun]:
        if self._result is None:
            assert self.running is not None
            run = self.running.wait()
            self._result = (self._merge(run), run)
        return self._result


def _stage(t: Task) -> str:
    return f"{_step_name(t)} {t.part.code} {t.part.name}".rstrip()


def _step_name(t: Task) -> str:
    return "detect" if t.step == "detect_above" else t.step


def _not_run(t: Task, exc: BaseException) -> Outcome:
    """The outcome of a task that never returned (a worker lost …)."""
    return Outcome(t.step, t.part.code, 0.0, "", error=f"{type(exc).__name__}: {exc}")


def _merge_detection(summary: DetectionSummary, part: dict[str, Any]) -> None:
    """Add one partition's detection summary to the whole's: counts summed, the first error
    of a rule kept, the areas of every partition listed."""
    for method, n in part["signals_by_method"].items():
        summary.signals_by_method[method] = summary.signals_by_method.get(method, 0) + n
    for rule, error in part["skipped"].items():
        summary.skipped.setdefault(rule, error)
    for rule, error in part["failed"].items():
        summary.failed.setdefault(rule, error)
    for rule, counts in part["not_judged"].items():
        into = summary.not_judged.setdefault(rule, {})
        for reason, n in counts.items():
            into[reason] = into.get(reason, 0) + n
    for rule, areas in part["invalid_areas"].items():
        summary.invalid_areas.setdefault(rule, {}).update(areas)


def _sqlite_in_memory() -> bool:
    from django.db import connection

    # the SQLite backend's own test (a ":memory:" or "mode=memory" name)
    return connection.vendor == "sqlite" and bool(connection.is_in_memory_db())  # type: ignore[attr-defined]


def connect(
    scheduler: str | None = None,
    level: str | None = None,
    timeout: float = 30.0,
    *,
    root_path: str = "/",
    workers: int | None = None,
) -> Partitioned | None:
    """A runner for the cycle over ``root_path``, partitions of ``RURALWATCH_DASK_PARTITION``:
    on the configured Dask scheduler (``RURALWATCH_DASK_SCHEDULER``); else on a pool of
    ``RURALWATCH_CYCLE_WORKERS`` local processes (started at its first task); ``None`` (the
    cycle runs in-process) when neither is of use (:func:`_pool_of_use`). Raises when the
    scheduler cannot be reached or the database cannot be shared with workers."""
    from django.conf import settings

    address = settings.RURALWATCH_DASK_SCHEDULER if scheduler is None else scheduler
    level = settings.RURALWATCH_DASK_PARTITION if level is None else level
    if not address:
        n = settings.RURALWATCH_CYCLE_WORKERS if workers is None else workers
        if not _pool_of_use(n, root_path):
            return None
        return Partitioned(level=level, pool=LocalPool(n, parallel_query=parallel_query_here()))
    if _sqlite_in_memory():
        raise RuntimeError("an in-memory SQLite database cannot be shared with Dask workers")
    from distributed import Client

    client = Client(address, timeout=timeout, set_as_default=False)  # type: ignore[no-untyped-call]
    return Partitioned(client, level)


def _pool_of_use(workers: int, root_path: str) -> bool:
    """Whether a local pool can share the cycle's work: more than one worker, a PostgreSQL
    database (SQLite takes one writer at a time, so its partitions would only wait for each
    other), no transaction open in the coordinator (the workers would not see what it has
    not committed), and more than one province in the subtree (one partition is the whole
    run, as fast in this process)."""
    from django.db import connection

    if workers <= 1 or connection.vendor != "postgresql" or connection.in_atomic_block:
        return False
    return len(parts(root_path, LEVELS["province"])) > 1
