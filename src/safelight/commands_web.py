"""Sub-commands for the analyst side: `serve`, `user ...` and `audit ...`.

Importing this module registers them with `safelight.cli.command`.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from safelight.cli import Handler, _db_arg, command, emit, open_store, settings_from


@command("serve", "run the web app for analysts (pages and the JSON API under /api/)")
def _serve(p: argparse.ArgumentParser) -> Handler:
    _db_arg(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)

    def run(args: argparse.Namespace) -> int:
        from safelight.web.app import serve

        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print(
                f"safelight serve: listening on {args.host}: put TLS in front of it "
                "(a reverse proxy) before analysts log in over a network",
                file=sys.stderr,
            )
        print(f"Safelight on http://{args.host}:{args.port}/ (Ctrl-C stops)", file=sys.stderr)
        serve(settings_from(args), host=args.host, port=args.port, store=open_store(args))
        return 0

    return run


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise ValueError("the passwords differ")
    return first


@command("user", "manage analyst, auditor and admin accounts and their API tokens")
def _user(p: argparse.ArgumentParser) -> Handler:
    sub = p.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="create an account")
    add.add_argument("name")
    add.add_argument("--role", choices=("admin", "analyst", "auditor"), required=True)
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    token = sub.add_parser("token", help="print a new API token for the user (shown once)")
    token.add_argument("name")
    token.add_argument("--label", default="", help="what the token is for")
    passwd = sub.add_parser("passwd", help="set a new password")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true")
    disable = sub.add_parser("disable", help="stop an account from logging in; revoke its tokens")
    disable.add_argument("name")
    enable = sub.add_parser("enable", help="let a disabled account log in again")
    enable.add_argument("name")
    lst = sub.add_parser("list", help="list accounts")
    lst.add_argument("--json", action="store_true")
    for sp in (add, token, passwd, disable, enable, lst):
        _db_arg(sp)

    def run(args: argparse.Namespace) -> int:
        from safelight.cases import audit, users

        store = open_store(args)
        try:
            if args.action == "add":
                user = users.add_user(
                    store, args.name, args.role, _read_password(args.password_stdin)
                )
                audit.record(
                    store, "cli", "user.add", f"user:{user['name']}", {"role": user["role"]}
                )
                print(f"added {user['name']} ({user['role']})")
            elif args.action == "token":
                tok = users.create_token(store, args.name, args.label)
                audit.record(store, "cli", "user.token", f"user:{args.name}", {"label": args.label})
                print(tok)
            elif args.action == "passwd":
                users.set_password(store, args.name, _read_password(args.password_stdin))
                audit.record(store, "cli", "user.passwd", f"user:{args.name}")
                print(f"password of {args.name} changed")
            elif args.action in ("disable", "enable"):
                users.set_active(store, args.name, args.action == "enable")
                revoked = users.revoke_tokens(store, args.name) if args.action == "disable" else 0
                audit.record(
                    store,
                    "cli",
                    f"user.{args.action}",
                    f"user:{args.name}",
                    {"tokens_revoked": revoked},
                )
                print(
                    f"{args.name} {args.action}d"
                    + (f", {revoked} tokens revoked" if revoked else "")
                )
            else:
                for u in users.list_users(store):
                    if args.json:
                        emit(u)
                    else:
                        state = "active" if u["active"] else "disabled"
                        print(f"{u['name']:<24} {u['role']:<8} {state}")
        except ValueError as exc:  # UserError and mismatched passwords
            print(f"safelight user: {exc}", file=sys.stderr)
            return 2
        return 0

    return run


@command("audit", "read the audit log or verify its hash chain")
def _audit(p: argparse.ArgumentParser) -> Handler:
    sub = p.add_subparsers(dest="action", required=True)
    lst = sub.add_parser("list", help="newest entries first")
    lst.add_argument("--user")
    lst.add_argument("--action", dest="what", help="e.g. search, ad.view, case.export")
    lst.add_argument("--target", help="target prefix, e.g. case:3")
    lst.add_argument("--limit", type=int, default=100)
    lst.add_argument("--json", action="store_true")
    ver = sub.add_parser("verify", help="check that no entry was edited, inserted or removed")
    ver.add_argument("--json", action="store_true")
    for sp in (lst, ver):
        _db_arg(sp)

    def run(args: argparse.Namespace) -> int:
        from safelight.cases import audit

        store = open_store(args)
        if args.action == "verify":
            result = audit.verify(store)
            if args.json:
                emit(result)
            elif result["ok"]:
                print(f"audit log intact: {result['entries']} entries, head {result['head']}")
            else:
                print(
                    f"audit log BROKEN at entry {result['first_bad']}: {result['reason']} "
                    f"({result['entries']} entries before it are intact)"
                )
            return 0 if result["ok"] else 1
        for e in audit.list_entries(
            store, user=args.user, action=args.what, target=args.target, limit=args.limit
        ):
            if args.json:
                emit(e)
            else:
                print(f"{e['seq']:>7} {e['at']} {e['user']:<16} {e['action']:<16} {e['target']}")
        return 0

    return run


@command("purge", "delete ads past the retention period that no case, watch or network keeps")
def _purge(p: argparse.ArgumentParser) -> Handler:
    _db_arg(p)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--dry-run", action="store_true", help="show what would go (the default): counts and ids"
    )
    mode.add_argument("--apply", action="store_true", help="delete them, relink, and audit it")
    p.add_argument(
        "--days", type=int, help="retention in days (default: $SAFELIGHT_RETENTION_DAYS or 180)"
    )
    p.add_argument("--json", action="store_true", help="one JSON object with counts and ids")

    def run(args: argparse.Namespace) -> int:
        from safelight.cases.retention import purge

        try:
            result = purge(open_store(args), settings_from(args), apply=args.apply, days=args.days)
        except ValueError as exc:
            print(f"safelight purge: {exc}", file=sys.stderr)
            return 2
        if args.json:
            emit(result)
            return 0
        verb = "purged" if result["applied"] else "would purge"
        kept = ", ".join(f"{k} {v}" for k, v in result["kept_by_reason"].items() if v) or "none"
        print(
            f"{verb} {result['purge']} of {result['older']} ads ingested before "
            f"{result['cutoff']} ({result['days']} days); kept {result['kept']} as evidence "
            f"({kept})"
        )
        if not result["applied"]:
            for ad_id in result["ids"]:
                print(f"  {ad_id}")
            if result["purge"]:
                print("dry run: nothing deleted (add --apply to delete)")
        return 0

    return run
