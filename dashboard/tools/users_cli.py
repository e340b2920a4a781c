"""`mk-control users ...`: add, disable, enable, reset and list users from the command line.

Passwords are never taken as arguments (they would show in `ps` and shell history): a new one is
generated and printed once, or read from standard input with `--password-stdin`.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime

from dashboard.core.auth import accounts, roles
from dashboard.core.auth.records import normalise
from dashboard.core.store.db import make_engine, migrate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="create a user (prints a generated password unless --password-stdin)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=roles.ROLES)
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    for name, text in (("disable", "disable a user and end their sessions"), ("enable", "enable a user")):
        p = sub.add_parser(name, help=text)
        p.add_argument("username")
    reset = sub.add_parser("reset", help="set a new password (generated unless --password-stdin); ends sessions")
    reset.add_argument("username")
    reset.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    role = sub.add_parser("role", help="change a user's role; ends their sessions")
    role.add_argument("username")
    role.add_argument("role", choices=roles.ROLES)
    sub.add_parser("list", help="list users, roles and whether they are enabled")


def _read_password(args) -> str | None:
    if not getattr(args, "password_stdin", False):
        return None
    if sys.stdin.isatty():
        return getpass.getpass("password: ")
    return sys.stdin.readline().rstrip("\r\n")


def main(args, settings) -> int:
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        return _run(args, engine)
    except accounts.AccountError as exc:
        print(f"mk-control users: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


def _run(args, engine) -> int:
    action = args.users_command
    if action == "add":
        given = _read_password(args)
        password = accounts.add_user(engine, args.username, args.role, given)
        print(f"added {normalise(args.username)} ({args.role})" + ("" if given else f"; password: {password}"))
    elif action in ("disable", "enable"):
        accounts.set_disabled(engine, args.username, action == "disable")
        print(f"{action}d {normalise(args.username)}")
    elif action == "reset":
        given = _read_password(args)
        password = accounts.reset_password(engine, args.username, given)
        print(f"reset {normalise(args.username)}" + ("" if given else f"; new password: {password}"))
    elif action == "role":
        accounts.set_role(engine, args.username, args.role)
        print(f"{normalise(args.username)} is now {args.role}")
    elif action == "list":
        users = accounts.list_users(engine)
        print(f"{'user':<24} {'role':<9} {'state':<9} created")
        for u in users:
            created = datetime.fromtimestamp(u.created_at, UTC).strftime("%Y-%m-%d %H:%M")
            print(f"{u.username:<24} {u.role:<9} {'disabled' if u.disabled else 'enabled':<9} {created}")
        if not users:
            print("(no users: add one with `mk-control users add NAME --role admin`)")
    return 0
