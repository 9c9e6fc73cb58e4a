"""The `safelight` command: thin sub-commands over the library.

JSON lines in, JSON lines out where it makes sense; `--json` on everything that prints results;
a clean exit on a broken pipe.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from safelight.settings import Settings, describe
from safelight.store.store import QueryTimeout

Handler = Callable[[argparse.Namespace], int]
Setup = Callable[[argparse.ArgumentParser], Handler]
_COMMANDS: dict[str, tuple[Setup, str]] = {}


def command(name: str, help: str) -> Callable[[Setup], Setup]:
    """Register a sub-command: the decorated function adds its arguments and returns the handler."""

    def wrap(setup: Setup) -> Setup:
        _COMMANDS[name] = (setup, help)
        return setup

    return wrap


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {}
    for name in ("db", "region", "workers", "batch_size"):
        if getattr(args, name, None) is not None:
            overrides[name] = getattr(args, name)
    return Settings.from_env(**overrides)


def open_store(args: argparse.Namespace) -> Any:
    from safelight.store import Store

    return Store.open(settings_from(args).db)


def emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db", help="database URL or SQLite path (default: $SAFELIGHT_DB or safelight.db)"
    )


# ---- ingest and extract -------------------------------------------------------------------


@command("ingest", "read ads from JSONL/CSV/HTML pages/WARC into the database")
def _ingest(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("paths", nargs="+", help="files or folders of saved pages")
    _db_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON summary object")
    p.add_argument("--workers", type=int, help="extraction processes (default: one per core)")
    p.add_argument("--batch-size", type=int, dest="batch_size")
    p.add_argument("--region", help="default phone region (default US)")
    p.add_argument("--force", action="store_true", help="re-read sources already ingested whole")
    p.add_argument("--no-progress", action="store_true")

    def run(args: argparse.Namespace) -> int:
        from safelight.ingest.pipeline import ingest_paths

        settings = settings_from(args)
        store = open_store(args)
        try:
            summary = ingest_paths(
                args.paths,
                store,
                settings,
                force=args.force,
                progress=False if (args.no_progress or args.json) else None,
                on_batch=_after_batch(settings),
            )
        except FileNotFoundError as exc:
            print(f"safelight ingest: {exc}", file=sys.stderr)
            return 2
        from dataclasses import asdict

        from safelight.link.incremental import link_new

        # Linking once per run is incremental (only ads past the link watermark) and also
        # catches up on ads a killed run stored but did not link.
        from safelight.triage.queue import refresh_scores

        linked = asdict(link_new(store, settings))
        linked["networks_scored"] = refresh_scores(store)
        if args.json:
            emit({**summary.to_json(), "link": linked})
        else:
            s = summary
            print(
                f"read {s.read}, stored {s.stored}, duplicates {s.duplicates}, "
                f"rejected {s.rejected} in {s.seconds:.1f}s"
            )
            print(
                f"linked {linked['new_ads']} new ads: {linked['networks_changed']} networks "
                f"updated, {linked['hubs']} hub selectors held apart"
            )
            if s.rejected:
                print("see `safelight rejects` for the reasons")
        return 0

    return run


def _after_batch(settings: Settings) -> Callable[[Any, list[int]], None]:
    """Watches are checked on every stored batch, so alerts come while a long ingest runs."""
    from safelight.cases.watches import check_new_ads

    def on_batch(store: Any, pks: list[int]) -> None:
        check_new_ads(store, pks, settings)

    return on_batch


@command("extract", "extract selectors from ads (JSONL on stdin) or from --text")
def _extract(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("--text", help="extract from this one text instead of stdin")
    p.add_argument("--region", help="default phone region (default US)")

    def run(args: argparse.Namespace) -> int:
        from safelight.extract import extract_text, to_json
        from safelight.records import ad_text

        region = settings_from(args).region
        if args.text is not None:
            emit(to_json("text", extract_text(args.text, region)))
            return 0
        status = 0
        for n, line in enumerate(sys.stdin, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError("line is not a JSON object")
                text = ad_text(str(rec.get("title") or ""), str(rec.get("body") or ""))
            except ValueError as exc:
                print(f"safelight extract: line {n}: {exc}", file=sys.stderr)
                status = 1
                continue
            emit(to_json(str(rec.get("id", n)), extract_text(text, region)))
        return status

    return run


@command("rejects", "list input records that were rejected, with the reasons")
def _rejects(p: argparse.ArgumentParser) -> Handler:
    _db_arg(p)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true")

    def run(args: argparse.Namespace) -> int:
        for row in open_store(args).list_rejects(args.limit):
            if args.json:
                emit(row)
            else:
                print(f"{row['source']}:{row['line']}: {row['reason']}")
        return 0

    return run


# ---- search and lookup --------------------------------------------------------------------


@command("search", "full-text search with highlighted snippets")
def _search(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("query")
    _db_arg(p)
    p.add_argument("--site")
    p.add_argument("--place", help='normalised place, e.g. "Houston, TX"')
    p.add_argument("--from", dest="date_from", help="posted on or after (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", help="posted on or before (YYYY-MM-DD)")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument(
        "--rank-all",
        action="store_true",
        help="rank every match, not only the newest SAFELIGHT_SEARCH_RANK_WITHIN (slower)",
    )
    p.add_argument("--json", action="store_true")

    def run(args: argparse.Namespace) -> int:
        from safelight.store.fts import HIGHLIGHT_CLOSE, HIGHLIGHT_OPEN

        settings = settings_from(args)
        info: dict[str, Any] = {}
        try:
            results = open_store(args).search(
                args.query,
                site=args.site,
                place=args.place,
                date_from=args.date_from,
                date_to=args.date_to,
                limit=args.limit,
                timeout_ms=settings.query_timeout_ms,
                rank_within=0 if args.rank_all else settings.search_rank_within,
                info=info,
            )
        except QueryTimeout as exc:
            print(f"safelight search: {exc}", file=sys.stderr)
            return 1
        ranked_within = info.get("ranked_within")
        if args.json:
            emit(
                {
                    "query": args.query,
                    "ads": results,
                    "count": len(results),
                    "ranked_within": ranked_within,
                }
            )
            return 0
        if ranked_within:
            print(
                f"more than {ranked_within} ads match: these are the best of the {ranked_within}"
                " most recently added (--rank-all ranks every match)",
                file=sys.stderr,
            )
        bold, plain = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("[", "]")
        for r in results:
            snippet = (
                (r["snippet"] or "").replace(HIGHLIGHT_OPEN, bold).replace(HIGHLIGHT_CLOSE, plain)
            )
            print(f"{r['id']}  {r['posted_at'] or '-'}  {r['site']}  {r['place'] or r['location']}")
            print("    " + " ".join(snippet.split()))
        if not results:
            print("no ads match")
        return 0

    return run


@command("lookup", "every ad carrying a phone, email or handle, however it was written")
def _lookup(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("value", help="a phone, email, handle... in any spelling")
    _db_arg(p)
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--json", action="store_true")

    def run(args: argparse.Namespace) -> int:
        from safelight.extract.query import selectors_for_query

        settings = settings_from(args)
        pairs = selectors_for_query(args.value, settings.region)
        try:
            result = open_store(args).find_mentions(
                pairs, limit=args.limit, timeout_ms=settings.query_timeout_ms
            )
        except QueryTimeout as exc:
            print(f"safelight lookup: {exc}", file=sys.stderr)
            return 1
        result = {"query": args.value, "selectors": [f"{k}:{v}" for k, v in pairs], **result}
        if args.json:
            emit(result)
            return 0
        print(f"{args.value} → {', '.join(result['selectors']) or 'no selector recognised'}")
        print(
            f"{result['count']} ads; sites: {', '.join(result['sites']) or '-'}; "
            f"places: {', '.join(result['places']) or '-'}; "
            f"first seen {result['first_seen'] or '-'}, last seen {result['last_seen'] or '-'}"
        )
        for ad in result["ads"]:
            raws = "; ".join(sorted({m["raw"] for m in ad["matches"]}))
            print(
                f"  {ad['id']}  {ad['posted_at'] or '-'}  {ad['site']}  {ad['place'] or '-'}  as: {raws}"
            )
        return 0

    return run


# ---- corpus and demo ----------------------------------------------------------------------


@command("generate", "write a synthetic ad corpus with its ground truth")
def _generate(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("--ads", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--gzip", action="store_true")

    def run(args: argparse.Namespace) -> int:
        from safelight.generate import write_corpus

        emit(write_corpus(args.out, args.ads, seed=args.seed, gzip=args.gzip))
        return 0

    return run


@command("settings", "list every setting with its environment variable and default")
def _settings(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("--json", action="store_true")

    def run(args: argparse.Namespace) -> int:
        for row in describe():
            if args.json:
                emit(row)
            else:
                print(f"{row['env']:<32} {row['default']!s:<24} {row['help']}")
        return 0

    return run


def build_parser() -> argparse.ArgumentParser:
    import safelight.commands  # noqa: F401  (registers the commands of later stages)

    parser = argparse.ArgumentParser(prog="safelight", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (setup, help_text) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=setup(p))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from sqlalchemy.exc import SQLAlchemyError

        if not isinstance(exc, SQLAlchemyError) or os.environ.get("SAFELIGHT_DEBUG"):
            raise
        # The driver's own message only: SQLAlchemy's would add the statement and its
        # parameters, which for an ingest batch are pages of ad text.
        reason = str(getattr(exc, "orig", None) or exc.__class__.__name__).strip()
        print(f"safelight: database error: {reason}", file=sys.stderr)
        print("(SAFELIGHT_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 2
