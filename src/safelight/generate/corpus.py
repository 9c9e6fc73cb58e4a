"""The synthetic corpus: streams ads with an exact ground truth, deterministic per seed.

The plan (posters, sizes, phones) is fixed first; posters are then generated in plan order
and their ads are mixed chunk by chunk in posting-time order, so memory stays bounded
whatever the corpus size and neighbouring lines in the file come from different posters.
"""

from __future__ import annotations

import gzip as gz
import io
import json
import random
from collections.abc import Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any, TextIO

from safelight.generate.data import load
from safelight.generate.phones import e164
from safelight.generate.plan import Plan, plan
from safelight.generate.posters import Row, independent, organised

CHUNK_ADS = 4096  # ads mixed together before they are written
_ID_MULT = 0x9E3779B97F  # odd, so id = counter * mult (mod 2**40) is a bijection
_ID_MASK = (1 << 40) - 1
_ENCODE = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode


def _chunks(the_plan: Plan, salt: int) -> Iterator[tuple[list[Row], list[dict[str, Any]]]]:
    """Chunks of (time-ordered ads with ids, network rows of the posters in the chunk)."""
    domains = {s["site"]: s["domain"] for s in load("sites")["sites"]}
    counter = 0
    rows: list[Row] = []
    nets: list[dict[str, Any]] = []
    posters = the_plan.posters
    for i, p in enumerate(posters):
        poster_rows, net = organised(p) if p.kind == "organised" else independent(p)
        rows.extend(poster_rows)
        nets.append(net)
        if len(rows) < CHUNK_ADS and i + 1 < len(posters):
            continue
        rows.sort(key=itemgetter(0))
        for _, ad, truth in rows:
            ad_id = f"{(counter * _ID_MULT ^ salt) & _ID_MASK:010x}"
            counter += 1
            ad["id"] = truth["id"] = ad_id
            ad["url"] = f"https://{domains[ad['site']]}/ads/{ad_id}"
        yield rows, nets
        rows, nets = [], []


def _start(n_ads: int, seed: int) -> tuple[Plan, Iterator[tuple[list[Row], list[dict[str, Any]]]]]:
    if n_ads < 0:
        raise ValueError("n_ads must be >= 0")
    rng = random.Random(seed)
    the_plan = plan(n_ads, rng)
    return the_plan, _chunks(the_plan, rng.getrandbits(40))


def generate(n_ads: int, seed: int = 0) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Yield (ad input record, truth row) pairs; the same (n_ads, seed) gives the same ads."""
    _, chunks = _start(n_ads, seed)
    for rows, _ in chunks:
        for _, ad, truth in rows:
            yield ad, truth


def _open(path: Path, gzip: bool) -> TextIO:
    if gzip:  # mtime=0 keeps the compressed bytes identical between runs
        raw = gz.GzipFile(path, "wb", compresslevel=1, mtime=0)
        return io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
    return path.open("w", encoding="utf-8", newline="\n")


_COUNTS = (
    "ads",
    "organised_ads",
    "youth_ads",
    "independent_ads",
    "lookalike_ads",
    "ads_with_phone",
    "phone_obfuscated_ads",
    "hub_ads",
    "networks",
    "organised_networks",
    "youth_networks",
    "independent_posters",
    "lookalike_posters",
    "persons",
    "posters_without_phone",
    "phones_written",
)


def _tally(c: dict[str, int], rows: list[Row], nets: list[dict[str, Any]]) -> None:
    """Add one chunk to the summary counts (ads by kind come from the network rows)."""
    c["ads"] += len(rows)
    c["ads_with_phone"] += sum(1 for _, _, t in rows if t["phones"])
    c["phone_obfuscated_ads"] += sum(1 for _, _, t in rows if t["phone_obfuscated"])
    c["hub_ads"] += sum(1 for _, _, t in rows if t["hub"])
    for n in nets:
        c["networks"] += 1
        c["persons"] += len(n["persons"])
        c["phones_written"] += len(n["phones"])
        c["posters_without_phone"] += not n["phones"]
        if n["kind"] == "organised":
            c["organised_networks"] += 1
            c["organised_ads"] += n["n_ads"]
            if n["youth"]:
                c["youth_networks"] += 1
                c["youth_ads"] += n["n_ads"]
        else:
            c["independent_posters"] += 1
            c["independent_ads"] += n["n_ads"]
            if n["lookalike"] is not None:
                c["lookalike_posters"] += 1
                c["lookalike_ads"] += n["n_ads"]


def write_corpus(
    out_dir: str | Path, n_ads: int, seed: int = 0, gzip: bool = False
) -> dict[str, Any]:
    """Write ads.jsonl[.gz], truth.jsonl, networks.jsonl, summary.json and README.txt.

    Returns the summary: counts by kind, the hub selectors, the phone pool use.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    the_plan, chunks = _start(n_ads, seed)
    ads_name = "ads.jsonl.gz" if gzip else "ads.jsonl"
    c: dict[str, int] = dict.fromkeys(_COUNTS, 0)
    with (
        _open(out / ads_name, gzip) as f_ads,
        (out / "truth.jsonl").open("w", encoding="utf-8", newline="\n") as f_truth,
        (out / "networks.jsonl").open("w", encoding="utf-8", newline="\n") as f_net,
    ):
        for rows, nets in chunks:
            f_ads.write("".join([_ENCODE(ad) + "\n" for _, ad, _ in rows]))
            f_truth.write("".join([_ENCODE(t) + "\n" for _, _, t in rows]))
            f_net.write("".join([_ENCODE(n) + "\n" for n in nets]))
            _tally(c, rows, nets)
    summary: dict[str, Any] = {
        "n_ads": n_ads,
        "seed": seed,
        **c,
        "phone_pool": the_plan.phone_pool,
        "hub_phones": [e164(x) for x in the_plan.hub_phones],
        "hub_emails": list(the_plan.hub_emails),
        "files": [ads_name, "truth.jsonl", "networks.jsonl", "summary.json", "README.txt"],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    (out / "README.txt").write_text(
        README.format(**{**summary, "ads_file": ads_name}), encoding="utf-8"
    )
    return summary


README = """\
Safelight synthetic ad corpus: {n_ads} ads, seed {seed}. Entirely generated: every phone is in
the fictional 555-0100..0199 range, every email at example.com/.org/.net, every site under the
reserved .example domain. No real person, no explicit text. Same ads count and seed give
byte-identical files (`safelight generate --ads {n_ads} --seed {seed}`).

{ads_file}
  The input: one ad record per line (id, site, url, posted_at ISO 8601 UTC, title, body,
  location "City, ST", images [{{url, sha256, pdq}}], and on some sites structured phone /
  age / name fields). Lines are mixed across posters in posting-time order per chunk.
  pdq is a fake 256-bit perceptual hash (64 hex): each person has 2-6 base photos and every
  use flips 0-10 bits, so copies of one photo stay within Hamming distance 10.

truth.jsonl
  One row per ad, same order: id, network (the poster group), kind (organised |
  independent), youth, person, name, phones (E.164 of the poster's own numbers written in the
  ad, text or structured field), phone_obfuscated, phone_styles (how each number in the text
  is written: dash, paren, dot, bare, intl, space, intl_dash are plain; words, mixed,
  letters, spaced, junk, emoji_sep, keycap, fullwidth, dotword are disguised), emails,
  handles, payments (Cash App tags), age (stated in the ad, else null), city, indicators (cue
  categories planted: third_party_control, trust, ethnicity, youth, movement, screening),
  lookalike (the harmless decoy phrase, else null), hub (site support phone/email in the
  ad's footer; these are hubs, never a poster's selectors).

networks.jsonl
  One row per poster group: network, kind, youth, persons [{{person, name, age}}], phones,
  emails, handles, payments (as written in its ads), cities (in posting order), sites, n_ads,
  template (organised networks share one text template), lookalike.

summary.json
  The counts below plus the hub selectors.

Counts: {networks} networks ({organised_networks} organised, {youth_networks} of them youth;
{independent_posters} independent posters, {lookalike_posters} look-alike decoys);
{organised_ads} organised ads, {independent_ads} independent ads; {hub_ads} ads carry a hub.
Phones: {phones_written} distinct poster numbers from a pool of {phone_pool};
{posters_without_phone} posters give only an email or a handle.

How it is built: about 30% of ads come from organised networks (2-8 persons, 1-3 shared
controller phones often from a distant area code, one template, a city circuit changing
every 3-10 days, phones disguised in 60% of ads, third-party-control and trust wording,
sometimes ethnicity); one organised network in four is a youth network (youth wording and
emoji, stated ages mostly 18-19). Independents write their own text, mostly from one city
with a local number, sometimes on a trip, use movement and screening wording more often
and disguise phones rarely (10% of posters). Hub footers appear on about 2% of each
site's ads. Indicator directions follow the JRSA/NIJ study (J. Human Trafficking 2024).
"""
