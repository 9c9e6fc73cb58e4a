"""Sub-commands of the later stages (link, networks, triage...), registered on import."""

from __future__ import annotations

import argparse
import sys

import safelight.commands_web  # noqa: F401  (serve, user, audit)
from safelight.cli import Handler, _db_arg, command, emit, open_store, settings_from


@command("link", "rebuild every link and network from scratch (ingest links incrementally)")
def _link(p: argparse.ArgumentParser) -> Handler:
    _db_arg(p)
    p.add_argument("--json", action="store_true")

    def run(args: argparse.Namespace) -> int:
        from dataclasses import asdict

        from safelight.link.incremental import rebuild
        from safelight.triage.queue import refresh_scores

        store = open_store(args)
        summary = asdict(rebuild(store, settings_from(args)))
        summary["networks_scored"] = refresh_scores(store)
        if args.json:
            emit(summary)
        else:
            print(", ".join(f"{k} {v}" for k, v in summary.items() if k != "details"))
        return 0

    return run


@command("networks", "list networks (connected groups of linked ads), largest first")
def _networks(p: argparse.ArgumentParser) -> Handler:
    _db_arg(p)
    p.add_argument("--min-size", type=int, default=2)
    p.add_argument("--limit", type=int)
    p.add_argument("--json", action="store_true", help="one JSON line per network")

    def run(args: argparse.Namespace) -> int:
        from safelight.link.networks import iter_networks

        for net in iter_networks(open_store(args), args.min_size, args.limit):
            if args.json:
                emit(net)
            else:
                print(
                    f"{net['id']:<10} {net['size']:>5} ads  {net['first_seen'] or '-'} → "
                    f"{net['last_seen'] or '-'}  {', '.join(net['places'][:4])}"
                )
        return 0

    return run


@command("network", "show one network with the evidence for every ad in it")
def _network(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("id")
    _db_arg(p)
    p.add_argument("--json", action="store_true")

    def run(args: argparse.Namespace) -> int:
        from safelight.link.networks import get_network

        net = get_network(open_store(args), args.id)
        if net is None:
            print(f"no network {args.id}", file=sys.stderr)
            return 1
        if args.json:
            emit(net)
            return 0
        print(f"network {net['id']}: {net['size']} ads, {net['first_seen']} → {net['last_seen']}")
        print("selectors:")
        for s in net["selectors"]:
            hub = "  (hub: shown, not merged)" if s["hub"] else ""
            print(
                f"  {s['kind']:<8} {s['value']:<32} {s['count']:>4} ads  as {', '.join(s['written_as'][:3])}{hub}"
            )
        if net["persons"]:
            print("persons: " + "; ".join(f"{p['name']} {p['ages'] or ''}" for p in net["persons"]))
        print(
            "movement: "
            + " → ".join(f"{t['place']} ({t['from']}..{t['to']})" for t in net["timeline"])
        )
        if net["template"]:
            print(f"template ({net['template']['ads']} ads): {net['template']['text'][:300]}")
        print("ads:")
        for ad in net["ads"]:
            print(f"  {ad['id']}  {ad['posted_at'] or '-'}  {ad['place'] or '-'}")
            for reason in ad["why"]:
                print(f"      - {reason}")
        return 0

    return run


@command("triage", "the ranked review queue: networks and unlinked ads, best first")
def _triage(p: argparse.ArgumentParser) -> Handler:
    _db_arg(p)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--status", choices=("new", "reviewing", "escalated", "dismissed"))
    p.add_argument("--place", help='only items posted in this place, e.g. "Houston, TX"')
    p.add_argument("--min-size", type=int, default=1)
    p.add_argument("--json", action="store_true", help="a JSON list, best first")

    def run(args: argparse.Namespace) -> int:
        from safelight.triage.queue import triage

        items = triage(
            open_store(args),
            limit=args.limit,
            status=args.status,
            place=args.place,
            min_size=args.min_size,
        )
        if args.json:
            emit(items)
            return 0
        for rank, it in enumerate(items, 1):
            print(
                f"{rank:>3}. {it['network']:<10} score {it['score']:.2f}  {it['size']} ads  "
                f"{', '.join(it['places'][:3]) or '-'}  last seen {it['last_seen'] or '-'}  [{it['status']}]"
            )
            for reason in it["reasons"][:3]:
                print(f"       - {reason}")
        return 0

    return run


@command("status", "mark a triage item reviewing, escalated or dismissed, with a reason")
def _status(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("item", help="network id")
    p.add_argument("status", choices=("new", "reviewing", "escalated", "dismissed"))
    p.add_argument("--reason", default="")
    p.add_argument("--user", default=None, help="who decides (default: $USER)")
    _db_arg(p)

    def run(args: argparse.Namespace) -> int:
        import os

        from safelight.triage.queue import set_status

        try:
            emit(
                set_status(
                    open_store(args),
                    args.item,
                    args.status,
                    args.reason,
                    args.user or os.environ.get("USER", "cli"),
                )
            )
        except (KeyError, ValueError) as exc:
            print(f"safelight status: {exc}", file=sys.stderr)
            return 1
        return 0

    return run


@command("explain", "the full working behind an ad's or a network's score")
def _explain(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("id", help="an ad id or a network id")
    _db_arg(p)
    p.add_argument("--json", action="store_true")

    def run(args: argparse.Namespace) -> int:
        from safelight.triage.explain import explain

        result = explain(open_store(args), args.id)
        if result is None:
            print(f"no ad or network {args.id}", file=sys.stderr)
            return 1
        if args.json:
            emit(result)
            return 0
        print(
            f"{result['kind']} {result['id']}: score {result['score']:.3f} "
            f"(registry {result['registry_version']})"
        )
        if result["kind"] == "ad":
            for h in result["hits"]:
                print(
                    f'  + {h["category"]:<20} {h["weight"]:.2f}  "{h["matched"]}" at {h["start"]}-{h["end"]}'
                    f"  [{h['indicator']}; source {h['source']}]"
                )
            for key, cite in result["sources"].items():
                print(f"  source {key}: {cite}")
        else:
            for r in result["reasons"]:
                print(f"  {'+' if r['weight'] > 0 else ' '} {r['weight']:.3f}  {r['text']}")
        return 0

    return run


@command("demo", "generate ads, ingest, link, score and serve the app on the embedded default")
def _demo(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("--dir", default="demo", help="where the corpus and the database go")
    p.add_argument("--ads", type=int, default=20000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--no-serve", action="store_true", help="stop after ingest, link and score")

    def run(args: argparse.Namespace) -> int:
        from dataclasses import asdict
        from pathlib import Path

        from safelight.generate import write_corpus
        from safelight.ingest.pipeline import ingest_paths
        from safelight.link.incremental import link_new
        from safelight.settings import Settings
        from safelight.store import Store
        from safelight.triage.queue import refresh_scores, triage

        base = Path(args.dir)
        corpus = base / f"corpus-{args.ads}-{args.seed}"
        if not (corpus / "ads.jsonl").exists():
            print(f"generating {args.ads} ads into {corpus} ...")
            write_corpus(corpus, args.ads, seed=args.seed)
        db = str((base / "safelight.db").resolve())
        settings = Settings.from_env(db=db)
        store = Store.open(db)
        print("ingesting (extract, score, store) ...")
        summary = ingest_paths([corpus / "ads.jsonl"], store, settings)
        print(
            f"  read {summary.read}, stored {summary.stored}, duplicates {summary.duplicates}, "
            f"rejected {summary.rejected} in {summary.seconds:.1f}s"
        )
        linked = asdict(link_new(store, settings))
        print(
            f"linked: {linked['networks_changed']} networks updated, {linked['hubs']} hubs held apart"
        )
        print(f"scored {refresh_scores(store)} networks; top of the queue:")
        for it in triage(store, limit=5, min_size=2):
            print(
                f"  {it['network']:<10} {it['score']:.2f}  {it['size']} ads  {'; '.join(it['reasons'][:2])}"
            )
        if args.no_serve:
            return 0
        from safelight.web.demo import ensure_demo_user, serve

        name, password = ensure_demo_user(store)
        print(
            f"\nSafelight is running at http://{args.host}:{args.port}/  (login: {name} / {password})"
        )
        print("Press Ctrl-C to stop.")
        serve(settings, host=args.host, port=args.port)
        return 0

    return run


@command("model", "train or show the optional learned model (shown beside the rule score)")
def _model(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("action", choices=("train", "show"))
    _db_arg(p)

    def run(args: argparse.Namespace) -> int:
        from safelight.triage.learned import META_KEY, train

        store = open_store(args)
        if args.action == "train":
            try:
                data = train(store)
            except ValueError as exc:
                print(f"safelight model: {exc}", file=sys.stderr)
                return 1
        else:
            import json

            raw = store.get_meta(META_KEY)
            if raw is None:
                print(
                    "no learned model yet: mark items escalated/dismissed, then `safelight model train`"
                )
                return 1
            data = json.loads(raw)
        emit(
            {
                "quality": data.get("quality"),
                "trained_at": data.get("trained_at"),
                "registry_version": data.get("registry_version"),
            }
        )
        return 0

    return run


@command("hash", "perceptual (PDQ) and exact hashes of image files; the images are not kept")
def _hash(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("images", nargs="+")
    p.add_argument("--json", action="store_true", help="one JSON line per image")

    def run(args: argparse.Namespace) -> int:
        from safelight.extract.photos import ImageError, hash_image

        status = 0
        for path in args.images:
            try:
                ph = hash_image(path)
            except (ImageError, OSError) as exc:
                print(f"safelight hash: {path}: {exc}", file=sys.stderr)
                status = 1
                continue
            row = {
                "path": path,
                "pdq": ph.pdq,
                "quality": ph.quality,
                "low_quality": ph.low_quality,
                "sha256": ph.sha256,
                "md5": ph.md5,
            }
            if args.json:
                emit(row)
            else:
                flag = "  (low quality: not used for linking)" if ph.low_quality else ""
                print(f"{path}  pdq {ph.pdq}  quality {ph.quality}  sha256 {ph.sha256}{flag}")
        return status

    return run


@command("hashlist", "import and list known-hash lists (PDQ, MD5, SHA-256)")
def _hashlist(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("action", choices=("import", "list"))
    p.add_argument("file", nargs="?", help="CSV/TSV or ThreatExchange export (for import)")
    p.add_argument("--name", help="the list's name (for import)")
    p.add_argument("--kind", choices=("csam", "missing", "custom"), default="custom")
    _db_arg(p)
    p.add_argument("--json", action="store_true")

    def run(args: argparse.Namespace) -> int:
        from safelight.link.known import import_hashlist, list_hashlists

        store = open_store(args)
        if args.action == "import":
            if not args.file or not args.name:
                print("safelight hashlist import: FILE and --name are required", file=sys.stderr)
                return 2
            result = import_hashlist(store, args.file, args.name, args.kind, settings_from(args))
            from safelight.cases import audit

            audit.record(
                store,
                "cli",
                "hashlist.import",
                f"hashlist:{args.name}",
                {"kind": args.kind, "hashes": result["hashes"], "matches": result["matches"]},
            )
            from safelight.triage.queue import refresh_scores

            refresh_scores(store)
            emit(result) if args.json else print(
                f"imported {result['hashes']} hashes into '{args.name}' ({result['rejected_rows']} rows "
                f"rejected); {result['matches']} stored photos match"
            )
            return 0
        for row in list_hashlists(store):
            emit(row) if args.json else print(
                f"{row['name']:<24} {row['kind']:<8} {row['n_hashes']:>8} hashes  imported {row['imported_at']}"
            )
        return 0

    return run


@command("matches", "photos that matched a known-hash list (which ad, which list, what distance)")
def _matches(p: argparse.ArgumentParser) -> Handler:
    _db_arg(p)
    p.add_argument("--json", action="store_true", help="one JSON line per match")

    def run(args: argparse.Namespace) -> int:
        from safelight.link.known import list_matches

        for m in list_matches(open_store(args)):
            emit(m) if args.json else print(
                f"{m['ad']}  list {m['list']} ({m['list_kind']})  {m['kind']} distance {m['distance']}"
                f"  network {m['network'] or '-'}"
            )
        return 0

    return run
