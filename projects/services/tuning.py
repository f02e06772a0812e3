"""Step 8: tuning studies whose trials run as jobs on every worker.

A study starts ``parallelism`` chains of ``trial`` jobs on the training queue. Each
trial job reserves a slot of the budget (an atomic UPDATE, so the budget holds
across workers), asks Optuna for parameters, scores them by cross-validation on
the training split (reporting each fold so the pruner can stop a clearly bad
trial), tells Optuna the result, records the Trial row, and enqueues the next job
of its chain while budget remains. Optuna's state lives in its RDB storage on the
app's database, so any worker sharing the database and Redis takes part, and a
worker that dies loses only its running trial (the reconciler fails the job; the
trial is marked failed and the chain goes on).

When the last chain ends, the best parameters are trained as a normal experiment
(step 6), linked from the study.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import numpy as np
import optuna
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Avg, F, Q
from django.utils import timezone
from sqlalchemy import event
from sqlalchemy import exc as sqlalchemy_exc

from projects.ml.catalog import algorithm_get, validate_params
from projects.ml.errors import SpecError
from projects.ml.tuning import (
    PRUNING_STRATEGIES,
    TrialPruned,
    default_trial_params,
    fold_values,
    gain_over,
    grid_size,
    make_pruner,
    make_sampler,
    score_params,
    suggest_params,
    validate_search_space,
)
from projects.models import Dataset, Experiment, Job, JobStatus, Project, Study, Trial
from projects.services.audit import audit_record
from projects.services.experiments import (
    dataset_require_prepared,
    dataset_splits,
    experiment_create,
    features_resolve,
)
from projects.services.jobs import job_cancel, job_create, job_fence, queue_require
from projects.services.preparation import spec_validation_error

logger = logging.getLogger(__name__)
optuna.logging.set_verbosity(optuna.logging.WARNING)

MAX_TRIALS = 1_000
# Why a trial stopped early when the pruner did not stop it (``Trial.error``).
TIME_IS_UP = "the time budget would run out before it ended"
# The slot whose seed seeds a study's confirmation folds: no trial has it.
CONFIRM_SLOT = 2**31 - 1
MAX_TIME_BUDGET_S = 24 * 60 * 60
_storage_lock = threading.Lock()
_storages: dict[str, optuna.storages.RDBStorage] = {}


def optuna_storage() -> optuna.storages.RDBStorage:
    """Optuna's RDB storage on the app's own database (one engine per process).

    Opening it costs 0.3-0.9 s (SQLAlchemy's engine, Optuna's table check and its
    alembic version check), so an rqworker opens it once before it forks its work
    horses (``optuna_storage_prepare_for_fork``) and every horse inherits it.
    """
    params = connection.settings_dict
    if params["ENGINE"].endswith("sqlite3"):
        url = f"sqlite:///{params['NAME']}"
        kwargs: dict[str, Any] = {"connect_args": {"timeout": 30}}
    else:
        user = params.get("USER") or ""
        password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
        auth = f"{user}{password}@" if user else ""
        host = params.get("HOST") or "127.0.0.1"
        port = params.get("PORT") or 5432
        url = f"postgresql+psycopg://{auth}{host}:{port}/{params['NAME']}"
        kwargs = {"pool_pre_ping": True}
    with _storage_lock:
        if url not in _storages:
            storage = _rdb_storage(url, kwargs)
            if url.startswith("sqlite"):
                _immediate_transactions(storage.engine)
            _storages[url] = storage
        return _storages[url]


def _rdb_storage(url: str, kwargs: dict) -> optuna.storages.RDBStorage:
    """Open the storage; on a new database the first trials of a study race to
    create Optuna's tables (the loser's INSERT of the schema version fails): the
    other process made them, so opening again finds them."""
    for attempt in range(3):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except sqlalchemy_exc.SQLAlchemyError:
            if attempt == 2:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def optuna_storage_prepare_for_fork() -> None:
    """Open the storage in a process that will fork (the rqworker), then close its
    connections: a forked child must never use a connection of its parent's. The
    engine, its event hooks and the checks done stay; each child's pool starts
    empty (``_forget_parent_connections`` runs in every child too)."""
    storage = optuna_storage()
    storage.engine.dispose()


def _forget_parent_connections() -> None:
    # SQLAlchemy's recipe for forked processes: a new, empty pool that leaves the
    # parent's connections (if any) alone rather than closing them from the child.
    for storage in _storages.values():
        storage.engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_parent_connections)


def optuna_storages_close() -> None:
    """Close Optuna's database connections (tests, before the database is dropped)."""
    with _storage_lock:
        for storage in _storages.values():
            storage.engine.dispose()
        _storages.clear()


def _immediate_transactions(engine) -> None:
    """SQLite: take the write lock at BEGIN, as Django's connection does (R09), so
    a reader never fails to upgrade to a writer under concurrent workers."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        # As Django's connection (settings.py): in WAL mode, NORMAL does not sync
        # on every commit and still never corrupts the database; Optuna commits
        # about ten times a trial.
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()


def _optuna_study(study: Study, *, slot: int = 0) -> optuna.Study:
    """The study in Optuna's storage, with a sampler for the trial in ``slot``.

    Every trial job makes a new sampler, so its seed must differ per trial: with
    the study's seed alone each job would start from the same random state and
    draw the same parameters (random search would try one point over and over,
    TPE's startup trials too). ``trial_seed(random_state, slot)`` keeps a study
    reproducible where the order of its trials is (one chain). The grid keeps
    the study's seed: it shuffles its points with it and hands them out by trial
    number, so every job must see the same order.
    """
    return optuna.create_study(
        storage=optuna_storage(),
        study_name=study.optuna_name,
        sampler=_sampler(study, slot),
        pruner=make_pruner(study.strategy),
        direction="maximize" if study.higher_is_better else "minimize",
        load_if_exists=True,
    )


def _sampler(study: Study, slot: int) -> optuna.samplers.BaseSampler:
    grid = study.strategy == "grid"
    seed = study.random_state if grid else trial_seed(study.random_state, slot)
    return make_sampler(study.strategy, study.search_space, seed=seed)


def trial_seed(random_state: int, slot: int) -> int:
    """The sampler seed of the trial in ``slot``: mixed from both numbers, so
    studies whose ``random_state`` differs by a few draw different points (with
    ``random_state + slot``, slot 1 of seed 0 drew what slot 0 of seed 1 did)."""
    return int(np.random.SeedSequence([random_state, slot]).generate_state(1)[0])


def _field(exc: SpecError) -> ValidationError:
    return spec_validation_error(exc, "")


def study_create(
    *,
    project: Project,
    dataset: Dataset,
    algorithm: Any,
    strategy: Any,
    user,
    max_trials: int | None = None,
    time_budget_s: int | None = None,
    search_space: Any = None,
    features: Any = None,
    cv_folds: int = 5,
    random_state: int = 0,
    parallelism: int | None = None,
    source_experiment: Experiment | None = None,
) -> Study:
    """Check everything, create the study and start its trial chains."""
    if dataset.project_id != project.pk:
        raise ValidationError(
            {"dataset_id": "That version belongs to another project."}
        )
    dataset_require_prepared(dataset)
    try:
        entry = algorithm_get(project.task_type, algorithm)
        space = validate_search_space(
            project.task_type, algorithm, search_space, strategy=strategy
        )
    except SpecError as exc:
        raise _field(exc) from None
    if entry.baseline:
        raise ValidationError({"algorithm": "The baseline has nothing to tune."})
    if max_trials is None and time_budget_s is None:
        raise ValidationError(
            {"max_trials": "Give a budget: a number of trials, a time, or both."}
        )
    if max_trials is not None and not 1 <= max_trials <= MAX_TRIALS:
        raise ValidationError({"max_trials": f"Give 1 to {MAX_TRIALS:,} trials."})
    if time_budget_s is not None and not 10 <= time_budget_s <= MAX_TIME_BUDGET_S:
        raise ValidationError(
            {"time_budget_s": "Give 10 seconds to 24 hours (86,400 s)."}
        )
    if strategy == "grid":
        size = grid_size(space)
        max_trials = size if max_trials is None else min(max_trials, size)
    if not 2 <= cv_folds <= 20:
        raise ValidationError({"cv_folds": "Give 2 to 20 folds."})
    spec, overridden = features_resolve(project, dataset, features)
    parallelism = parallelism or settings.TUNING_PARALLELISM
    if not 1 <= parallelism <= 32:
        raise ValidationError({"parallelism": "Give 1 to 32 trials at once."})
    queue_require()
    with transaction.atomic():
        study = Study(
            project=project,
            dataset=dataset,
            algorithm=algorithm,
            strategy=strategy,
            search_space=space,
            feature_spec=spec,
            features_overridden=overridden,
            metric=project.primary_metric,
            higher_is_better=project.higher_is_better,
            max_trials=max_trials,
            time_budget_s=time_budget_s,
            cv_folds=cv_folds,
            random_state=random_state,
            parallelism=parallelism,
            source_experiment=source_experiment,
            optuna_name=f"lifecycle-{uuid.uuid4().hex}",
            created_by=user if user is not None and user.is_authenticated else None,
        )
        study.full_clean()
        study.save()
        chains = min(parallelism, max_trials or parallelism)
        study.jobs = [_next_trial_job(study, user) for _ in range(chains)]
        audit_record(
            actor=user,
            verb="study.created",
            obj=study,
            project=project,
            data={"strategy": strategy, "algorithm": algorithm},
        )
    return study


def _next_trial_job(study: Study, user) -> Job:
    return job_create(
        kind="trial",
        project=study.project,
        subject_type="study",
        subject_id=study.pk,
        user=user,
        queue="training",
    )


def _budget_left(study: Study) -> bool:
    """Whether another trial may start: a trial of the budget is left, and the
    time to the deadline is at least what the study's finished trials took on
    average (none finished: any time). A trial started with less time than
    that rarely ends in it; cut at its first fold, it only kept its worker from
    the check on new folds, and the study from ending on time."""
    deadline = _deadline(study)
    if deadline is not None:
        left = (deadline - timezone.now()).total_seconds()
        typical = study.trials.filter(status=Trial.Status.COMPLETE).aggregate(
            seconds=Avg("seconds")
        )["seconds"]
        if left <= 0 or left < (typical or 0.0):
            return False
    return study.max_trials is None or study.trials_started < study.max_trials


def _deadline(study: Study):
    """When a time budget's trials must end (None without one): its end, less
    the time kept for the check on new folds."""
    if study.time_budget_s is None or study.started_at is None:
        return None
    reserve = _confirm_reserve(study)
    return study.started_at + timedelta(seconds=study.time_budget_s - reserve)


def _time_is_up(study: Study, folds_done: int, seconds: float) -> bool:
    """Whether a running trial stops at this fold: the study has a finished
    trial to show for its time (so a study whose first trial outlasts the budget
    still ends with a result), and this trial cannot end by the deadline: the
    folds it has left, at its pace so far, would end after it. Such a trial
    would be cut anyway, and its worker is better spent on a trial that can end
    (or on the check on new folds); waiting for the deadline itself let a slow
    trial run on for a whole fold past it. Read afresh at each fold, as cancel
    is (the room kept for the check grows when a slower trial becomes best)."""
    current = (
        Study.objects.filter(pk=study.pk, best_score__isnull=False)
        .only(
            "pk",
            "started_at",
            "time_budget_s",
            "best_trial_number",
            "parallelism",
            "cv_folds",
        )
        .first()
    )
    deadline = _deadline(current) if current is not None else None
    if deadline is None:
        return False
    left = seconds / folds_done * (study.cv_folds - folds_done)
    return timezone.now() + timedelta(seconds=left) >= deadline


def _confirm_reserve(study: Study) -> float:
    """Seconds a time budget keeps for the check on new folds (``study_finish``):
    a cross-validation of the defaults and one of the best so far, as long as
    their trials took, shared out among the study's workers."""
    picked = Q(is_defaults=True)
    if study.best_trial_number is not None:
        picked |= Q(number=study.best_trial_number)
    seconds = study.trials.filter(picked, status=Trial.Status.COMPLETE).values_list(
        "seconds", flat=True
    )
    workers = max(1, min(study.parallelism, 2 * study.cv_folds))
    return sum(s or 0.0 for s in seconds) / workers


def _reserve_slot(study: Study) -> int | None:
    """Take one trial of the budget, atomically across workers; returns its slot
    (0, 1, ...: unique within the study), or None when none is left."""
    qs = Study.objects.filter(pk=study.pk, status=Study.Status.RUNNING)
    if study.max_trials is not None:
        qs = qs.filter(trials_started__lt=study.max_trials)
    with transaction.atomic():
        # The UPDATE holds the row (PostgreSQL) or the database (SQLite, BEGIN
        # IMMEDIATE) until commit, so the count read back is this job's own.
        if not qs.update(trials_started=F("trials_started") + 1):
            return None
        taken = Study.objects.values_list("trials_started", flat=True).get(pk=study.pk)
    return taken - 1


def study_trial_run(*, job: Job, progress) -> None:
    """Job: run trials of the study, then continue the chain or finish.

    A job runs one trial, then more of its chain while it has run less than
    ``TUNING_JOB_SECONDS``: short trials share one job's fixed costs (the work
    horse's fork, claiming the job, Django's connection, Optuna's study, the
    training split read from Parquet) instead of paying them each. Every trial
    still reserves its own slot and is recorded as it ends, so the budget, cancel
    and a lost worker (only the running trial is lost) work as with one trial a
    job; the next job of the chain is enqueued when the slice is spent.
    """
    study = Study.objects.select_related("project", "dataset").get(pk=job.subject_id)
    if not study.is_active:
        progress(100, f"The study is {study.status}; nothing to do")
        return
    now = timezone.now()
    Study.objects.filter(pk=study.pk, status=Study.Status.QUEUED).update(
        status=Study.Status.RUNNING, started_at=now
    )
    study.refresh_from_db()
    started = time.monotonic()
    state = _JobState()
    while True:
        slot = _reserve_slot(study) if _goes_on(study) else None
        if slot is None:
            with job_fence(job):
                _chain_ended(study, job)
            return
        _run_trial(study, job, slot, progress, state)
        study.refresh_from_db()
        if (
            _goes_on(study)
            and time.monotonic() - started >= settings.TUNING_JOB_SECONDS
        ):
            with job_fence(job):
                _next_trial_job(study, job.created_by)
            return


def _goes_on(study: Study) -> bool:
    return study.status == Study.Status.RUNNING and _budget_left(study)


class _JobState:
    """What the trials of one job share: Optuna's study object (its cache of
    finished trials) and the training split."""

    def __init__(self) -> None:
        self.ostudy: optuna.Study | None = None
        self.train = None


def _run_trial(study: Study, job: Job, slot: int, progress, state: _JobState) -> None:
    progress(3, "Asking the sampler for parameters")
    if state.ostudy is None:
        state.ostudy = _optuna_study(study, slot=slot)
    else:
        # A new sampler per trial, seeded by its slot, exactly as a new job makes.
        state.ostudy.sampler = _sampler(study, slot)
    ostudy = state.ostudy
    if slot == 0 and study.strategy != "grid":
        _enqueue_defaults(study, ostudy)
    otrial = ostudy.ask()
    params = suggest_params(otrial, study.search_space)
    trial = Trial.objects.create(
        study=study,
        number=otrial.number,
        params=params,
        job_id=job.pk,
        is_defaults=bool(otrial.user_attrs.get("defaults")),
    )
    progress(5, f"Trial {otrial.number}: scoring {len(params)} parameter(s)")
    if state.train is None:
        state.train = dataset_splits(study.dataset)["train"]
    intermediate: list[float] = []

    prunes = study.strategy in PRUNING_STRATEGIES
    timed = study.time_budget_s is not None
    time_up = False
    started = time.perf_counter()

    def on_fold(done: int, mean: float) -> bool:
        nonlocal time_up
        intermediate.append(mean)
        progress(
            5 + 90 * done / study.cv_folds,
            f"Trial {otrial.number}: fold {done} of {study.cv_folds}",
        )
        elapsed = time.perf_counter() - started
        if timed and done < study.cv_folds and _time_is_up(study, done, elapsed):
            time_up = True
            return True
        if not prunes:
            return False  # our Trial row keeps the folds; Optuna needs them to prune
        otrial.report(mean, done)
        return otrial.should_prune()

    outcome: dict[str, Any]
    try:
        score, _cv = _score(study, state.train, params, on_fold=on_fold)
    except TrialPruned:
        ostudy.tell(otrial, state=optuna.trial.TrialState.PRUNED)
        outcome = {
            "status": Trial.Status.PRUNED,
            "score": intermediate[-1],
            "error": TIME_IS_UP if time_up else "",
        }
    except (ValueError, ArithmeticError, MemoryError) as exc:
        # An invalid combination or a solver that gives up: recorded, study goes on.
        ostudy.tell(otrial, state=optuna.trial.TrialState.FAIL)
        outcome = {
            "status": Trial.Status.FAILED,
            "error": str(exc)[:2000] or type(exc).__name__,
        }
    except BaseException:
        # Cancelled (or the worker is stopping): this trial does not count.
        ostudy.tell(otrial, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
        Trial.objects.filter(pk=trial.pk).update(
            status=Trial.Status.FAILED,
            error="Stopped before it finished.",
            finished_at=timezone.now(),
            seconds=time.perf_counter() - started,
        )
        raise
    else:
        ostudy.tell(otrial, score)
        outcome = {"status": Trial.Status.COMPLETE, "score": score}
    with job_fence(job):
        _record(study, trial, outcome, intermediate, time.perf_counter() - started)


def _score(study: Study, train, params: dict, **kw) -> tuple[float, dict]:
    """``score_params`` of ``params`` as the study scores them (its target,
    features, algorithm, metric, folds and seed); ``kw`` adds ``on_fold`` or
    ``fold_seed``."""
    return score_params(
        train,
        target=study.project.target_column or None,
        task_type=study.project.task_type,
        feature_spec=study.feature_spec,
        algorithm=study.algorithm,
        params=params,
        metric=study.metric,
        cv_folds=study.cv_folds,
        random_state=study.random_state,
        **kw,
    )


def _enqueue_defaults(study: Study, ostudy: optuna.Study) -> None:
    """Queue the algorithm's defaults as the study's first trial (slot 0 is taken
    once per study, so they are queued once; whichever job asks next runs them).
    A search then never ends below the model trained without tuning, on its own
    folds. The grid keeps to its points."""
    params = default_trial_params(
        study.project.task_type, study.algorithm, study.search_space
    )
    if params:
        ostudy.enqueue_trial(params, user_attrs={"defaults": True})


def _record(study: Study, trial: Trial, outcome: dict, intermediate, seconds) -> None:
    with transaction.atomic():
        Trial.objects.filter(pk=trial.pk).update(
            **outcome,
            intermediate=intermediate,
            seconds=seconds,
            finished_at=timezone.now(),
        )
        current = Study.objects.select_for_update().get(pk=study.pk)
        current.n_trials += 1
        score = outcome.get("score")
        better = score is not None and outcome["status"] == Trial.Status.COMPLETE
        if better and current.best_score is not None:
            better = (
                score > current.best_score
                if current.higher_is_better
                else score < current.best_score
            )
        if better:
            current.best_score = score
            current.best_params = trial.params
            current.best_trial_number = trial.number
        current.save(
            update_fields=["n_trials", "best_score", "best_params", "best_trial_number"]
        )


def _chain_ended(study: Study, job: Job) -> None:
    """A chain has no budget left; the last one to end finishes the study."""
    others = (
        Job.objects.filter(
            subject_type="study",
            subject_id=study.pk,
            kind="trial",
            status__in=Job.ACTIVE,
        )
        .exclude(pk=job.pk)
        .exists()
    )
    if others:
        return
    claimed = Study.objects.filter(pk=study.pk, status=Study.Status.RUNNING).update(
        status=Study.Status.FINISHING
    )
    if claimed:
        study_finish(study=Study.objects.get(pk=study.pk))


def study_finish(*, study: Study) -> Study:
    """Train what the study picked (``study_select``); when its best leads the
    defaults on the search's folds, check that lead on new folds first (jobs
    shared out among the workers, ``study_check_run``), which then trains."""
    if study.best_params is None:
        first_error = (
            study.trials.exclude(error="").values_list("error", flat=True).first()
        )
        reason = "No trial finished."
        if first_error:
            reason += f" The first failure: {first_error}"
        Study.objects.filter(pk=study.pk).update(
            status=Study.Status.FAILED, error=reason, finished_at=timezone.now()
        )
        return Study.objects.get(pk=study.pk)
    selection = study_select(study)
    if selection["kept"] == "best" and "gain" in selection:
        _check_start(study, selection)
    else:
        _train_selection(study, selection)
    return Study.objects.get(pk=study.pk)


def _train_selection(study: Study, selection: dict) -> None:
    """Train the selection as a normal experiment and end the study."""
    entry = algorithm_get(study.project.task_type, study.algorithm)
    kept_defaults = selection["kept"] == "defaults"
    try:
        experiment = experiment_create(
            project=study.project,
            dataset=study.dataset,
            algorithm=study.algorithm,
            params=validate_params(
                study.project.task_type, study.algorithm, selection["params"]
            ),
            features=study.feature_spec if study.features_overridden else None,
            user=study.created_by,
            name=f"{entry.label}, "
            + ("defaults kept by" if kept_defaults else "best of")
            + f" study #{study.pk}",
            cv_folds=study.cv_folds,
            random_state=study.random_state,
        )
    except ValidationError as exc:
        reason = "; ".join(exc.messages)
        Study.objects.filter(pk=study.pk).update(
            status=Study.Status.FAILED,
            selection=selection,
            checking={},
            error=f"The {selection['kept']} parameters could not be trained: {reason}",
            finished_at=timezone.now(),
        )
        return
    Study.objects.filter(pk=study.pk).update(
        status=Study.Status.SUCCEEDED,
        best_experiment=experiment,
        selection=selection,
        checking={},
        finished_at=timezone.now(),
    )
    audit_record(
        actor=study.created_by,
        verb="study.finished",
        obj=study,
        project=study.project,
        data={
            "best_score": study.best_score,
            "kept": selection["kept"],
            "experiment_id": experiment.pk,
        },
    )


def study_select(study: Study) -> dict:
    """What the study trains, as far as the search's own folds tell: its best
    trial, unless that beats the defaults trial by no more than one standard
    error of their per-fold difference (the "one standard error" rule); then
    the defaults are kept.

    Both trials were scored on the same folds, so the difference is paired. The
    best of many trials on a few hundred rows often leads by noise alone, and on
    new folds does worse than the defaults (B5's breast cancer task); a lead
    smaller than its standard error is not evidence enough to leave the defaults.
    A best kept with that evidence (``gain`` in the result) was still picked on
    the search's folds (the winner's curse): ``study_finish`` scores both again
    on folds no trial used, and the best must pass the same rule there.
    """
    best = {
        "kept": "best",
        "trial": study.best_trial_number,
        "params": study.best_params,
        "score": study.best_score,
    }
    defaults = study.trials.filter(
        is_defaults=True, status=Trial.Status.COMPLETE
    ).first()
    if defaults is None or defaults.number == study.best_trial_number:
        return best
    winner = study.trials.get(number=study.best_trial_number)
    if len(winner.intermediate) != len(defaults.intermediate):
        return best
    gain, se = gain_over(
        fold_values(winner.intermediate),
        fold_values(defaults.intermediate),
        higher_is_better=study.higher_is_better,
    )
    evidence = {
        "best_trial": winner.number,
        "defaults_trial": defaults.number,
        "gain": gain,
        "se": _finite(se),
        "folds": len(winner.intermediate),
    }
    if gain > se:
        return {**best, **evidence}
    return _keep_defaults(defaults, evidence)


def _keep_defaults(defaults: Trial, evidence: dict) -> dict:
    return {
        "kept": "defaults",
        "trial": defaults.number,
        "params": defaults.params,
        "score": defaults.score,
        **evidence,
    }


def _finite(value: float) -> float | None:
    return None if math.isinf(value) else value


def confirm_seed(random_state: int) -> int:
    """The fold seed of a study's confirmation: folds no trial of it used."""
    return trial_seed(random_state, CONFIRM_SLOT)


def _check_start(study: Study, selection: dict) -> None:
    """Hand the check on new folds out as jobs: one per worker the study has,
    up to one per fold to score (the best's folds, then the defaults'). Each job
    takes the next fold until none is left, so the check takes about the time
    of both cross-validations divided by the workers."""
    units = 2 * selection["folds"]
    defaults = study.trials.get(number=selection["defaults_trial"])
    check = {
        "selection": selection,
        # What the folds score: the best's first, then the defaults'.
        "params": [selection["params"], defaults.params],
        "fold_seed": confirm_seed(study.random_state),
        "claimed": 0,
        "scores": [None] * units,
        "fold_seconds": 0.0,
        "started": time.time(),
        "jobs": min(study.parallelism, units),
    }
    with transaction.atomic():
        Study.objects.filter(pk=study.pk).update(checking=check)
        for _ in range(check["jobs"]):
            job_create(
                kind="study_check",
                project=study.project,
                subject_type="study",
                subject_id=study.pk,
                user=study.created_by,
                queue="training",
            )


@contextmanager
def _check_locked(study_id: int):
    """The running check's state, locked for update (atomically across
    workers) and saved on leaving; None when the check has ended."""
    with transaction.atomic():
        current = Study.objects.select_for_update().get(pk=study_id)
        if current.status != Study.Status.FINISHING or not current.checking:
            yield None
            return
        yield current.checking
        current.save(update_fields=["checking"])


def _check_claim(study_id: int) -> tuple[int, dict] | None:
    """Take the next fold of the check: its index and the check; None when
    every fold is taken or the check has ended."""
    with _check_locked(study_id) as check:
        if check is None or check["claimed"] >= len(check["scores"]):
            return None
        index = check["claimed"]
        check["claimed"] = index + 1
    return index, check


def _check_record(study_id: int, index: int, value: float, seconds: float) -> bool:
    """Store one fold's score; True when it was the last one missing."""
    with _check_locked(study_id) as check:
        if check is None:
            return False
        check["scores"][index] = value
        check["fold_seconds"] += seconds
    return None not in check["scores"]


def study_check_run(*, job: Job, progress) -> None:
    """Job: score folds of the check on new folds (the best's and the
    defaults', same model seed, folds seeded by ``confirm_seed``) until none is
    left; the job that scores the last one decides and trains."""
    study = Study.objects.select_related("project", "dataset").get(pk=job.subject_id)
    train = None
    while (claimed := _check_claim(study.pk)) is not None:
        index, check = claimed
        selection = check["selection"]
        folds = selection["folds"]
        which = "best" if index < folds else "defaults"
        progress(
            100 * index / len(check["scores"]),
            f"Checking the {which} on new fold {index % folds + 1} of {folds}",
        )
        params = check["params"][index // folds]
        if train is None:
            train = dataset_splits(study.dataset)["train"]
        started = time.perf_counter()
        try:
            _mean, cv = _score(
                study,
                train,
                params,
                fold_seed=check["fold_seed"],
                only_folds={index % folds},
            )
        except (ValueError, ArithmeticError, MemoryError) as exc:
            with job_fence(job):
                _check_end(study.pk, error=str(exc)[:500] or type(exc).__name__)
            return
        (value,) = cv[study.metric]["folds"]
        seconds = time.perf_counter() - started
        with job_fence(job):
            if _check_record(study.pk, index, value, seconds):
                _check_end(study.pk)
    progress(100, "No fold of the check left")


def _check_end(study_id: int, *, error: str = "") -> None:
    """Decide on the check's scores and train (once, whichever job comes
    first). A check that could not run keeps the search's verdict, with the
    reason."""
    with transaction.atomic():
        study = (
            Study.objects.select_for_update()
            .select_related("project", "dataset")
            .get(pk=study_id)
        )
        check = study.checking
        if study.status != Study.Status.FINISHING or not check:
            return
        selection = dict(check["selection"])
        folds = selection["folds"]
        confirm: dict[str, Any] = {
            "folds": folds,
            "fold_seed": check["fold_seed"],
            "seconds": time.time() - check["started"],
            "fold_seconds": check["fold_seconds"],
            "jobs": check["jobs"],
        }
        if error:
            confirm["error"] = error
        else:
            scores = check["scores"]
            gain, se = gain_over(
                scores[:folds],
                scores[folds:],
                higher_is_better=study.higher_is_better,
            )
            confirm.update(gain=gain, se=_finite(se))
        selection["confirm"] = confirm
        if not error and not (confirm["se"] is not None and gain > confirm["se"]):
            defaults = study.trials.get(number=selection["defaults_trial"])
            evidence = {k: v for k, v in selection.items() if k not in _PICK}
            selection = _keep_defaults(defaults, evidence)
        _train_selection(study, selection)


# The keys of a selection that say what is trained (the rest is evidence).
_PICK = ("kept", "trial", "params", "score")


def study_check_progress(study: Study) -> dict | None:
    """How far the check on new folds is (None when none runs: a study
    cancelled during its check keeps its scores so far, unused)."""
    scores = study.checking.get("scores")
    if not scores or study.status != Study.Status.FINISHING:
        return None
    return {"folds_done": sum(v is not None for v in scores), "folds": len(scores)}


def study_check_ended(job: Job) -> None:
    """A check job failed (also: its worker died): the check ends with the
    search's verdict and the reason. A cancelled one is the study's cancel."""
    if job.status == JobStatus.FAILED:
        _check_end(job.subject_id, error=job.error or job.message or "its job failed")


def study_trial_ended(job: Job) -> None:
    """A trial job failed or was cancelled (also: its worker died)."""
    trial = Trial.objects.filter(job_id=job.pk, status=Trial.Status.RUNNING).first()
    study = Study.objects.filter(pk=job.subject_id).first()
    if trial is not None:
        Trial.objects.filter(pk=trial.pk).update(
            status=Trial.Status.FAILED,
            error=job.error or job.message,
            finished_at=timezone.now(),
        )
        Study.objects.filter(pk=trial.study_id).update(n_trials=F("n_trials") + 1)
        # Optuna writes on its own connection: after this transaction, or SQLite
        # would make it wait for the lock this one holds.
        transaction.on_commit(lambda: _tell_failed(study, trial.number))
    if study is None or study.status != Study.Status.RUNNING:
        return
    if job.status == JobStatus.FAILED and _budget_left(study):
        # A lost worker costs one trial, not the study: continue the chain.
        _next_trial_job(study, job.created_by)
    else:
        _chain_ended(study, job)


def _tell_failed(study: Study, number: int) -> None:
    try:
        _optuna_study(study).tell(
            number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True
        )
    except Exception:  # the storage may be what failed; the Trial row says enough
        logger.exception("could not mark optuna trial failed study=%s", study.pk)


def study_cancel(*, study: Study, user) -> Study:
    """Stop a study: queued trials are dropped, running ones stop at their next
    fold; finished trials and the best result are kept."""
    changed = Study.objects.filter(pk=study.pk, status__in=Study.ACTIVE).update(
        status=Study.Status.CANCELLED, finished_at=timezone.now()
    )
    if not changed:
        raise ValidationError(
            {"status": f"The study is {study.status}: nothing to cancel."}
        )
    for job in Job.objects.filter(
        subject_type="study", subject_id=study.pk, status__in=Job.ACTIVE
    ):
        job_cancel(job=job, user=user)
    audit_record(actor=user, verb="study.cancelled", obj=study, project=study.project)
    study.refresh_from_db()
    return study


def study_importance(study: Study) -> dict[str, float] | None:
    """Parameter importance once enough trials finished.

    Optuna 5's default evaluator of ``get_param_importances``: PED-ANOVA
    (``PedAnovaImportanceEvaluator``), not fANOVA; normalised to sum to 1.
    """
    complete = study.trials.filter(status=Trial.Status.COMPLETE).count()
    if complete < 5 or len(study.search_space) < 2:
        return None
    try:
        ostudy = optuna.load_study(
            study_name=study.optuna_name, storage=optuna_storage()
        )
        return {
            k: float(v)
            for k, v in optuna.importance.get_param_importances(ostudy).items()
        }
    except (KeyError, ValueError, RuntimeError):
        return None
