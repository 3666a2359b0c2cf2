#!/usr/bin/env python3
"""Find the test account by email and print what test mode needs: its user id, its connections
and scheduled posts, and the two lines to add to .env.

    .venv/bin/python find_test_user.py [--email EMAIL]

The email defaults to TEST_USER_EMAIL, else services@atsnai.com. Users are found through the
Supabase Auth admin API (the only place emails live), paging through every user; that needs the
service-role key. Tokens are never read: connections are listed by account name and state.

Exit codes: 0 found; 1 not found (or the database could not be asked); 2 configuration error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

# Run as a file from anywhere: make the project importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from services.config import load_config, read_environment, secret_values
from services.errors import ConfigError, StoreError
from services.operator_reads import OperatorReads
from services.posts import TABLES
from services.redaction import register_secret, scrub
from services.store import Store, make_client

DEFAULT_EMAIL = "services@atsnai.com"
EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    parser = argparse.ArgumentParser(
        prog="find_test_user.py",
        description="Find a user by email (Supabase Auth admin API) and print the .env lines for test mode.",
        epilog="Needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY (and ENCRYPTION_KEY, like every command) "
        "in the environment or in .env.",
    )
    parser.add_argument(
        "--email", help=f"the account's email [default: TEST_USER_EMAIL, else {DEFAULT_EMAIL}]"
    )
    return parser


def describe_connection(row: dict[str, object]) -> str:
    """One connection as an operator needs it: name, page id, state. Never a token."""
    name = row.get("page_name") or row.get("page_username") or "(no name)"
    state = "active" if row.get("is_active") else f"INACTIVE ({row.get('connection_status') or 'unknown'})"
    kind = " organization" if row.get("organization_id") else ""
    return f"{name} (page {row.get('page_id') or '?'}{kind}) {state}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    env = read_environment()
    register_secret(*secret_values(env))
    try:
        config = load_config(env)
    except ConfigError as exc:
        print(f"Configuration error:\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    email = (args.email or config.test_user_email or DEFAULT_EMAIL).strip()
    try:
        store = OperatorReads(Store(make_client(config)))
        user, searched = store.find_user(email)
        if user is None:
            print(
                f"No user with the email {email} among the {searched} users of {config.supabase_url}.\n"
                "Check the spelling, and that SUPABASE_URL is the app's project; or pass --email.",
                file=sys.stderr,
            )
            return EXIT_NOT_FOUND
        connections = store.user_connections(user["id"])
        scheduled = {table: store.count_scheduled(table, user["id"]) for table in TABLES}
    except StoreError as exc:
        print(scrub(f"Could not search the users: {exc}"), file=sys.stderr)
        return EXIT_NOT_FOUND
    lines = [f"user id:  {user['id']}", f"email:    {user['email']}", "connections:"]
    if not connections:
        lines.append("  none: connect the test accounts in the app first")
    for row in connections:
        lines.append(f"  {row.get('platform')!s:<10} {describe_connection(row)}")
    lines.append("scheduled posts:")
    for table, count in scheduled.items():
        lines.append(f"  {table:<16} {count}")
    lines += ["", "Add these two lines to .env for test mode:", f"TEST_USER_ID={user['id']}"]
    lines.append(f"TEST_USER_EMAIL={user['email']}")
    print(scrub("\n".join(lines)))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
