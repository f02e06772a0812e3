import logging
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection

from projects.services.jobs import jobs_reconcile

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Fail jobs whose worker vanished (no heartbeat) or whose queue entry was "
        "lost. With --loop, repeat every --every seconds; an error in one round "
        "(database or Redis down) is logged and the next round runs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true")
        parser.add_argument("--every", type=float, default=10.0)

    def handle(self, *args, loop, every, **options):
        while True:
            if not loop:
                self.reconcile()
                return
            try:
                self.reconcile()
            except Exception:
                logger.exception("reconcile round failed; trying again in %s s", every)
                self.stderr.write("reconcile round failed; see the log")
                # A broken connection is reopened by the next round.
                connection.close()
            else:
                close_old_connections()
            time.sleep(every)

    def reconcile(self) -> None:
        for job_id in jobs_reconcile():
            self.stdout.write(f"failed lost job {job_id}")
