"""Sub-commands of the later stages (link, networks, triage...), registered on import."""

from __future__ import annotations

import argparse
import sys

from safelight.cli import Handler, _db_arg, command, emit, open_store, settings_from


@command("link", "rebuild every link and network from scratch (ingest links incrementally)")
def _link(p: argparse.ArgumentParser) -> Handler:
    _db_arg(p)
    p.add_argument("--json", action="store_true")

    def run(args: argparse.Namespace) -> int:
        from dataclasses import asdict

        from safelight.link.incremental import rebuild

        summary = asdict(rebuild(open_store(args), settings_from(args)))
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
                print(f"{net['id']:<10} {net['size']:>5} ads  {net['first_seen'] or '-'} → "
                      f"{net['last_seen'] or '-'}  {', '.join(net['places'][:4])}")
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
            print(f"  {s['kind']:<8} {s['value']:<32} {s['count']:>4} ads  as {', '.join(s['written_as'][:3])}{hub}")
        if net["persons"]:
            print("persons: " + "; ".join(f"{p['name']} {p['ages'] or ''}" for p in net["persons"]))
        print("movement: " + " → ".join(f"{t['place']} ({t['from']}..{t['to']})" for t in net["timeline"]))
        if net["template"]:
            print(f"template ({net['template']['ads']} ads): {net['template']['text'][:300]}")
        print("ads:")
        for ad in net["ads"]:
            print(f"  {ad['id']}  {ad['posted_at'] or '-'}  {ad['place'] or '-'}")
            for reason in ad["why"]:
                print(f"      - {reason}")
        return 0

    return run
