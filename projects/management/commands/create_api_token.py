from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from projects.services.tokens import token_create


class Command(BaseCommand):
    help = "Create a personal API token for a user and print it (last line)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="command line")

    def handle(self, *args, username, name, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        _token, raw = token_create(user=user, name=name)
        self.stderr.write(f"Token {name!r} for {username}. It is shown only once:")
        self.stdout.write(raw)
