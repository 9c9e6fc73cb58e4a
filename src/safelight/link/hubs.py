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

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from safelight.link.arrays import dense_ids, first_of_each, ranges


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


class Identities:
    """`count_groups` for many selectors at once, in numpy: what makes the hub rule cheap for
    hundreds of thousands of selectors (a rebuild of a million ads).

    Keys are ints: selectors 0..n_selectors-1, then one per template. `sel_ptr`/`sel_ads` list
    each selector's ads (compact ad indices, distinct) as CSR; `lonely` marks ads that carry an
    identity no other ad shares (it identifies the ad but joins it to nobody, so it need not
    be a key). The groups of selector s are the connected components of the bipartite graph of
    its identified ads and their other (non-ignored) keys: each (s, key) pair is its own node,
    so one selector's components never touch another's and all are found in one pass.
    """

    def __init__(
        self,
        sel_ptr: np.ndarray,
        sel_ads: np.ndarray,
        n_ads: int,
        template_ads: np.ndarray,
        template_keys: np.ndarray,
        lonely: np.ndarray,
    ) -> None:
        self.sel_ptr = np.asarray(sel_ptr, dtype=np.int64)
        self.sel_ads = np.asarray(sel_ads, dtype=np.int64)
        self.n_selectors = len(self.sel_ptr) - 1
        counts = np.diff(self.sel_ptr)
        n_templates = int(template_keys.max()) + 1 if len(template_keys) else 0
        self.n_keys = self.n_selectors + n_templates
        # The transpose: each ad's keys (selectors it carries, then its template).
        ad_of = np.concatenate([self.sel_ads, np.asarray(template_ads, dtype=np.int64)])
        key_of = np.concatenate(
            [
                np.repeat(np.arange(self.n_selectors, dtype=np.int64), counts),
                self.n_selectors + np.asarray(template_keys, dtype=np.int64),
            ]
        )
        order = np.argsort(ad_of, kind="stable")
        self.ad_keys = key_of[order]
        self.ad_ptr = np.zeros(n_ads + 1, dtype=np.int64)
        np.cumsum(np.bincount(ad_of, minlength=n_ads), out=self.ad_ptr[1:])
        self.lonely = np.asarray(lonely, dtype=bool)

    def count_groups(self, which: np.ndarray, ignore: np.ndarray | None = None) -> np.ndarray:
        """Groups of each selector in `which` (as `count_groups` counts them); `ignore` is a
        boolean per key, True for the hubs, which identify nobody."""
        which = np.asarray(which, dtype=np.int64)
        counts = np.diff(self.sel_ptr)[which]
        pos_sel = np.repeat(which, counts)  # (selector, ad) incidences of the selectors asked
        ad = self.sel_ads[ranges(self.sel_ptr[which], counts)]
        deg = self.ad_ptr[ad + 1] - self.ad_ptr[ad]
        e_pos = np.repeat(np.arange(len(ad), dtype=np.int64), deg)
        e_key = self.ad_keys[ranges(self.ad_ptr[ad], deg)]
        keep = e_key != pos_sel[e_pos]
        if ignore is not None:
            keep &= ~ignore[e_key]
        e_pos, e_key = e_pos[keep], e_key[keep]
        identified = self.lonely[ad]
        identified[e_pos] = True
        # One node per incidence, then one per distinct (selector, other key).
        e_node = dense_ids(pos_sel[e_pos] * self.n_keys + e_key)
        n_nodes = len(ad) + (int(e_node.max()) + 1 if len(e_node) else 0)
        graph = coo_matrix(
            (np.ones(len(e_pos), dtype=np.int8), (e_pos, len(ad) + e_node)),
            shape=(n_nodes, n_nodes),
        ).tocsr()
        _, labels = connected_components(graph, directed=False)
        # A component holds one selector's nodes only: count distinct labels per selector.
        lab = labels[: len(ad)][identified]
        first = first_of_each(lab)
        per_selector = np.bincount(pos_sel[identified][first], minlength=self.n_selectors)
        return per_selector[which]
