import time

from django.core.management.base import BaseCommand

from projects.services.jobs import jobs_reconcile


class Command(BaseCommand):
    help = (
        "Fail jobs whose worker vanished (no heartbeat) or whose queue entry was "
        "lost. With --loop, repeat every --every seconds."
    )

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true")
        parser.add_argument("--every", type=float, default=10.0)

    def handle(self, *args, loop, every, **options):
        while True:
            failed = jobs_reconcile()
            for job_id in failed:
                self.stdout.write(f"failed lost job {job_id}")
            if not loop:
                return
            time.sleep(every)
