from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from projects.models import Membership, Project, Role
from projects.security import DEMO_GROUP, demo_logins_allowed
from projects.services.datasets import dataset_upload
from projects.services.jobs import QueueUnavailable
from projects.services.projects import project_create

DEMO_DATA = Path(__file__).resolve().parents[2] / "demo_data" / "penguins.csv"
DEMO_PASSWORD = "lifecycle-demo"  # noqa: S105 (demo only; refused in production)
DEMO_USERS = [
    # username, role in the demo project, staff/superuser
    ("admin", None, True),
    ("olivia", Role.OWNER, False),
    ("sam", Role.SCIENTIST, False),
    ("ada", Role.APPROVER, False),
    ("victor", Role.VIEWER, False),
]


class Command(BaseCommand):
    help = (
        "Create demo users and a demo project with the Palmer Penguins data "
        "(idempotent)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--password", default=DEMO_PASSWORD)

    def handle(self, *args, password, **options):
        if settings.PRODUCTION:
            raise CommandError(
                "seed_demo creates known logins; it refuses to run in production mode."
            )
        User = get_user_model()
        # The app knows the demo users by this group: they may log in only on
        # loopback (projects/security.py). A user whose password was changed
        # from the demo one is not a demo login any more.
        demo_group, _ = Group.objects.get_or_create(name=DEMO_GROUP)
        users = {}
        for username, _role, is_admin in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"is_staff": is_admin, "is_superuser": is_admin},
            )
            if created:
                user.set_password(password)
                user.save()
            if created or user.check_password(password):
                user.groups.add(demo_group)
            else:
                user.groups.remove(demo_group)
            users[username] = user

        project = Project.objects.filter(slug="penguin-species").first()
        if project is None:
            with transaction.atomic():
                project = project_create(
                    user=users["olivia"],
                    name="Penguin species",
                    task_type="classification",
                    business_goal=(
                        "Tell Adelie, Chinstrap and Gentoo penguins apart from body "
                        "measurements, so field teams need not wait for a specialist."
                    ),
                    primary_metric="f1_macro",
                    success_threshold=0.9,
                    latency_budget_ms=50,
                    description="Demo project: Palmer Archipelago penguins (CC0).",
                )
                # The seed knows the data, so it sets the choices a user would make
                # after the upload; the profiling job then analyses them at once.
                project.target_column = "species"
                project.sensitive_columns = ["sex"]
                project.save()
                for username, role, _ in DEMO_USERS:
                    if role and role != Role.OWNER:
                        Membership.objects.create(
                            project=project, user=users[username], role=role
                        )
        if not project.datasets.exists():
            try:
                dataset_upload(
                    project=project,
                    user=users["olivia"],
                    path=DEMO_DATA,
                    filename="penguins.csv",
                )
            except QueueUnavailable as exc:
                raise CommandError(
                    f"Could not start profiling the demo data: {exc.message}"
                ) from exc

        self.stdout.write(f"Demo logins (password for all: {password}):")
        for username, role, is_admin in DEMO_USERS:
            what = (
                "administrator (staff, superuser)"
                if is_admin
                else f"{role} of '{project.name}'"
            )
            self.stdout.write(f"  {username:<8} {what}")
        if not demo_logins_allowed():
            self.stdout.write(
                f"These logins are REFUSED here: the app listens on {settings.HOST}, "
                "not loopback. They work only with HOST=127.0.0.1."
            )
