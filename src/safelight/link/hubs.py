"""Hub selectors: values seen across many otherwise unrelated posters.

A site's support line, a payment processor or a boilerplate footer appears in the ads of
hundreds of posters who share nothing else. Merging on it would weld them into one false
network, so such a value is shown as evidence but does not merge.

The rule (documented in docs/linking.md): take the ads carrying the value; group them by the
*other* identities they carry (other selector values, the template they joined); ads with no
other identity belong to the value's owner and form no group. The value is a hub when it
spans at least `min_groups` groups. A controller phone shared by several persons of one
operation spans one group (their ads share a template or photos); a footer number spans one
group per poster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def count_groups(
    ads: Sequence[int],
    keys_of: Mapping[int, Iterable[int]],
    selector: int,
    ignore: frozenset[int] | set[int] = frozenset(),
) -> int:
    """How many groups of otherwise-identified ads carry `selector`.

    `keys_of[ad]` lists the identity keys of an ad (selector ids and template ids, interned
    as ints); `ignore` holds keys known to be hubs, which identify nobody."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    owners_of_key: dict[int, int] = {}
    identified: list[int] = []
    for ad in ads:
        has_other = False
        for key in keys_of.get(ad, ()):
            if key == selector or key in ignore:
                continue
            has_other = True
            first = owners_of_key.setdefault(key, ad)
            if first != ad:
                ra, rb = find(ad), find(first)
                if ra != rb:
                    parent[ra] = rb
        if has_other:
            identified.append(ad)
    return len({find(ad) for ad in identified})
