"""The greedy loops of the coloring package, in the subset of Python that numba compiles.

Every function here takes its buffers as arguments (NumPy integer arrays, int32 when the graph
fits, when numba compiles it; Python lists when it runs as plain Python: see ``_loops.py``) and
only indexes them, so the same source gives the same colors either way. Graphs are CSR arrays:

* a *walk* ``(ptr1, idx1, ptr2, idx2)`` reaches the neighbours of vertex ``v`` in two steps,
  ``v -> r`` in ``idx1[ptr1[v]:ptr1[v + 1]]`` and ``r -> w`` in ``idx2[ptr2[r]:ptr2[r + 1]]``:
  columns through their rows for a column coloring (distance 2 in the bipartite graph), or an
  adjacency graph followed by the identity (distance 1);
* an *adjacency* ``(ptr, nbr, mirror)`` lists the neighbours of ``v`` (no self-loops) at
  positions ``ptr[v]:ptr[v + 1]``; ``mirror[a]`` is the position of the reverse of position
  ``a``, and ``min(a, mirror[a])`` identifies the edge.

Star and acyclic colorings keep, per vertex ``w``, a small hash table from each color around
``w`` to the position of ``w``'s first neighbour of that color (``keys``/``vals`` in slots
``2 ptr[w] .. 2 ptr[w + 1]``, at most half full) and the list of its slots in insertion order
(``listed[ptr[w]:ptr[w] + nlisted[w]]``): a high-degree vertex is never rescanned, only its
distinct colors are.
"""

from __future__ import annotations

from typing import Any

Buf = Any  # a NumPy integer array (compiled) or a list of ints (plain Python)

HELPERS = ("_rebucket", "_fill", "_pop", "_take", "_push", "_lowest_free", "_first_free", "_slot",
           "_add", "_flag", "_forbid_around", "_find", "_merge")
KERNELS = ("distance2_degrees", "bucket_order", "saturation_order", "partial_distance2", "star",
           "acyclic", "tree_layout")


# ---- orders ---------------------------------------------------------------------------------
def distance2_degrees(ptr1: Buf, idx1: Buf, ptr2: Buf, idx2: Buf, mark: Buf, degree: Buf) -> None:
    """``degree[v]``: the number of distinct vertices ``w != v`` reached from ``v`` by the walk."""
    for v in range(len(ptr1) - 1):
        for a in range(ptr1[v], ptr1[v + 1]):
            r = idx1[a]
            for b in range(ptr2[r], ptr2[r + 1]):
                w = idx2[b]
                if w != v and mark[w] != v:
                    mark[w] = v
                    degree[v] += 1


def _rebucket(key: Buf, head: Buf, vertex: Buf, after: Buf, spare: Buf) -> int:
    """Drop the stale entries of the buckets, each bucket keeping its order; return the number
    of entries left, which then fill the pool from slot 0 (``spare``: scratch, one per vertex)."""
    count = 0
    for k in range(len(head)):
        e = head[k]
        while e >= 0:
            if key[vertex[e]] == k:
                spare[count] = vertex[e]
                count += 1
            e = after[e]
        head[k] = count  # where bucket k ends in spare
    start = 0
    for k in range(len(head)):
        end = head[k]
        head[k] = -1
        for e in range(end - 1, start - 1, -1):
            vertex[e] = spare[e]
            after[e] = head[k]
            head[k] = e
        start = end
    return count


def _fill(key: Buf, head: Buf, vertex: Buf, after: Buf, pick_max: bool) -> int:
    """Put every vertex in the bucket of its key, in increasing vertex order from the top of
    each bucket; return the top key (the largest, or smallest, of them)."""
    n = len(key)
    top = key[0]
    for v in range(n - 1, -1, -1):
        vertex[n - 1 - v], after[n - 1 - v] = v, head[key[v]]
        head[key[v]] = n - 1 - v
        top = max(top, key[v]) if pick_max else min(top, key[v])
    return top


def _pop(key: Buf, head: Buf, vertex: Buf, after: Buf, top: int, pick_max: bool) -> tuple[int, int]:
    """Take the vertex on top of the highest (lowest) non-empty bucket from ``top`` on, skipping
    stale entries; return it and its bucket, the new top."""
    while True:
        e = head[top]
        if e < 0:
            top += -1 if pick_max else 1
            continue
        head[top] = after[e]
        if key[vertex[e]] == top:
            return vertex[e], top


def _take(key: Buf, head: Buf, vertex: Buf, after: Buf, top: int, pick_max: bool, order: Buf,
          i: int) -> tuple[int, int]:
    """Pop the next vertex (:func:`_pop`), mark it taken (key -1) and put it at ``order[i]``."""
    v, top = _pop(key, head, vertex, after, top, pick_max)
    key[v] = -1
    order[i] = v
    return v, top


def _push(key: Buf, head: Buf, vertex: Buf, after: Buf, spare: Buf, used: int, w: int) -> int:
    """Push ``w`` on the bucket of its (new) key, compacting the pool first when it is full;
    return the number of pool entries in use."""
    if used == len(vertex):
        used = _rebucket(key, head, vertex, after, spare)
    vertex[used], after[used] = w, head[key[w]]
    head[key[w]] = used
    return used + 1


def bucket_order(ptr1: Buf, idx1: Buf, ptr2: Buf, idx2: Buf, key: Buf, last: Buf, step: int,
                 pick_max: bool, head: Buf, vertex: Buf, after: Buf, spare: Buf,
                 order: Buf) -> None:
    """Repeatedly take the vertex with the largest (smallest) key, then add ``step`` to the key
    of each neighbour not yet taken; ``order`` receives the vertices as taken.

    ``key[v]`` is -1 once ``v`` is taken, ``last[v]`` the last vertex that reached ``v``.
    Buckets are stacks of entries ``(vertex[e], after[e])`` in a pool, from ``head[key]``,
    initially in increasing vertex order. A vertex whose key changes is pushed on its new
    bucket (first in it) and its old entry goes stale: keys move one way only, so a bucket holds
    at most one entry of a vertex, valid while ``key[v]`` is that bucket's. Stale entries are
    skipped when they reach the top of their bucket, and dropped when the pool is full; the
    pool has at least ``3 n`` entries, so that each compaction frees ``2 n`` of them (O(1) per
    update). No entry is unlinked from the middle of a list: an update writes two entries at
    the end of the pool and one head, instead of touching four vertices across memory.
    """
    top = _fill(key, head, vertex, after, pick_max)
    used = len(order)
    for i in range(len(order)):
        v, top = _take(key, head, vertex, after, top, pick_max, order, i)
        for a in range(ptr1[v], ptr1[v + 1]):
            r = idx1[a]
            for b in range(ptr2[r], ptr2[r + 1]):
                w = idx2[b]
                if key[w] < 0 or last[w] == v:
                    continue
                last[w] = v
                key[w] += step
                used = _push(key, head, vertex, after, spare, used, w)
                if (key[w] > top) if pick_max else (key[w] < top):
                    top = key[w]


def saturation_order(ptr1: Buf, idx1: Buf, ptr2: Buf, idx2: Buf, key: Buf, last: Buf,
                     seen: Buf, lines: Buf, forbidden: Buf, colors: Buf, head: Buf, vertex: Buf,
                     after: Buf, spare: Buf, order: Buf) -> None:
    """DSATUR [Brelaz79]: repeatedly color the vertex whose colored neighbours (through the
    walk) show the most distinct colors, its *saturation* ``key[v]``, with the lowest color
    none of them has; ``order`` receives the vertices as colored, so that the greedy coloring
    in that order gives the same colors.

    ``seen[w]`` is the bitmask of the colors below 62 counted in ``w``'s saturation; a higher
    color counts once per neighbour that has it (an approximation that only changes the order).
    ``lines[r]`` is the bitmask of the colors below 62 in line ``r``, as in
    :func:`partial_distance2`. Ties go to the vertex whose saturation rose last, then to the
    lowest vertex. The buckets are :func:`bucket_order`'s.
    """
    top = _fill(key, head, vertex, after, True)
    used = len(order)
    for i in range(len(order)):
        v, top = _take(key, head, vertex, after, top, True, order, i)
        c = _lowest_free(ptr1, idx1, ptr2, idx2, lines, forbidden, colors, v)
        colors[v] = c
        for a in range(ptr1[v], ptr1[v + 1]):
            r = idx1[a]
            if c < 62:
                lines[r] |= 1 << c
            for b in range(ptr2[r], ptr2[r + 1]):
                w = idx2[b]
                if key[w] < 0 or last[w] == v:
                    continue
                last[w] = v
                if c < 62:
                    if (seen[w] >> c) & 1:
                        continue
                    seen[w] |= 1 << c
                key[w] += 1
                used = _push(key, head, vertex, after, spare, used, w)
                if key[w] > top:
                    top = key[w]


# ---- greedy colorings -----------------------------------------------------------------------
def _first_free(forbidden: Buf, v: int) -> int:
    """The lowest color not forbidden for ``v`` (``forbidden[c] == v``)."""
    c = 0
    while forbidden[c] == v:
        c += 1
    return c


def partial_distance2(ptr1: Buf, idx1: Buf, ptr2: Buf, idx2: Buf, order: Buf, used: Buf,
                      forbidden: Buf, colors: Buf) -> None:
    """Greedy partial distance-2 coloring [GMP05]: each vertex of ``order`` takes the lowest
    color of no vertex the walk reaches from it.

    ``used[r]`` is the bitmask of the colors below 62 met in line ``r`` (the first step of the
    walk), so a vertex reads one word per line; only when all of them are taken does it walk
    its distance-2 neighbours for the higher colors.
    """
    for v in order:
        c = _lowest_free(ptr1, idx1, ptr2, idx2, used, forbidden, colors, v)
        colors[v] = c
        if c < 62:
            for a in range(ptr1[v], ptr1[v + 1]):
                used[idx1[a]] |= 1 << c


def _lowest_free(ptr1: Buf, idx1: Buf, ptr2: Buf, idx2: Buf, used: Buf, forbidden: Buf,
                 colors: Buf, v: int) -> int:
    """The lowest color of no vertex the walk reaches from ``v``: one word per line of ``v``
    for the colors below 62, the distance-2 neighbours only when all of those are taken."""
    taken = 0
    for a in range(ptr1[v], ptr1[v + 1]):
        taken |= used[idx1[a]]
    c = 0
    while c < 62 and (taken >> c) & 1:
        c += 1
    if c == 62:
        for a in range(ptr1[v], ptr1[v + 1]):
            r = idx1[a]
            for b in range(ptr2[r], ptr2[r + 1]):
                if colors[idx2[b]] >= 62:
                    forbidden[colors[idx2[b]]] = v
        while forbidden[c] == v:
            c += 1
    return c


def _slot(keys: Buf, base: int, cap: int, c: int) -> int:
    """The slot of color ``c`` in the table at ``base`` (``cap`` slots), or the empty one for it."""
    s = base + c % cap
    while keys[s] >= 0 and keys[s] != c:
        s = s + 1 if s + 1 < base + cap else base
    return s


def _add(ptr: Buf, keys: Buf, vals: Buf, listed: Buf, nlisted: Buf, w: int, c: int,
         val: int) -> int:
    """Record ``val`` for color ``c`` around ``w`` unless one is recorded; return the slot."""
    s = _slot(keys, 2 * ptr[w], 2 * (ptr[w + 1] - ptr[w]), c)
    if keys[s] < 0:
        keys[s] = c
        vals[s] = val
        listed[ptr[w] + nlisted[w]] = s
        nlisted[w] += 1
    return s


def _flag(ptr: Buf, keys: Buf, flags: Buf, w: int, c: int) -> None:
    """Mark color ``c`` around ``w`` as the color of a hub of a star where ``w`` is a leaf."""
    flags[_slot(keys, 2 * ptr[w], 2 * (ptr[w + 1] - ptr[w]), c)] = 1


def _forbid_around(ptr: Buf, keys: Buf, flags: Buf, listed: Buf, nlisted: Buf,
                   forbidden: Buf, w: int, v: int, hubs_only: bool) -> None:
    """Forbid for ``v`` the colors around ``w`` (only the flagged hub colors if ``hubs_only``)."""
    for k in range(ptr[w], ptr[w] + nlisted[w]):
        s = listed[k]
        if not hubs_only or flags[s]:
            forbidden[keys[s]] = v


def star(ptr: Buf, nbr: Buf, mirror: Buf, order: Buf, colors: Buf, forbidden: Buf,
         treated: Buf, first_v: Buf, first_w: Buf, first_e: Buf, star_of: Buf, hub: Buf,
         keys: Buf, vals: Buf, flags: Buf, listed: Buf, nlisted: Buf) -> None:
    """Star coloring, Algorithm 4.1 of [GTMP07] (as in SparseMatrixColorings.jl).

    Edges are grouped into 2-colored stars; ``hub[s]`` is the hub of star ``s`` (-1 while it
    is a single edge). A color is forbidden for ``v`` if it would make a 2-colored path on four
    vertices: the colors around a vertex that has two neighbours of ``v`` of one color, and the
    hub colors around each neighbour (``first_*[c]``: ``v``'s first neighbour of color ``c``).
    """
    nstars = 0
    for v in order:
        for a in range(ptr[v], ptr[v + 1]):
            w = nbr[a]
            cw = colors[w]
            if cw < 0:
                continue
            forbidden[cw] = v
            if first_v[cw] == v:  # two neighbours of color cw: no 2-colored P4 through them
                for u in (first_w[cw], w):
                    if treated[u] != v:
                        _forbid_around(ptr, keys, flags, listed, nlisted, forbidden, u, v, False)
                        treated[u] = v
            else:  # v would extend a star centred at a hub next to w
                first_v[cw], first_w[cw], first_e[cw] = v, w, min(a, mirror[a])
                _forbid_around(ptr, keys, flags, listed, nlisted, forbidden, w, v, True)
        c = colors[v] = _first_free(forbidden, v)
        for a in range(ptr[v], ptr[v + 1]):
            w = nbr[a]
            cw = colors[w]
            p = vals[_add(ptr, keys, vals, listed, nlisted, w, c, mirror[a])]
            if cw < 0:
                continue
            if nbr[p] != v:  # joins the star of w and its neighbour nbr[p] of color c
                s = star_of[min(p, mirror[p])]
                if hub[s] != w:
                    hub[s] = w
                    _flag(ptr, keys, flags, nbr[p], cw)
                _flag(ptr, keys, flags, v, cw)
            elif first_v[cw] == v and first_w[cw] != w:  # joins the star centred at v
                s = star_of[first_e[cw]]
                if hub[s] != v:
                    hub[s] = v
                    _flag(ptr, keys, flags, first_w[cw], c)
                _flag(ptr, keys, flags, w, c)
            else:  # a new single-edge star
                s = nstars
                hub[s] = -1
                nstars += 1
            star_of[min(a, mirror[a])] = s


def _find(parent: Buf, e: int) -> int:
    """Root of ``e`` in a disjoint-set forest, halving the path."""
    while parent[e] != e:
        parent[e] = parent[parent[e]]
        e = parent[e]
    return e


def acyclic(ptr: Buf, nbr: Buf, mirror: Buf, order: Buf, colors: Buf, forbidden: Buf,
            first_v: Buf, first_e: Buf, parent: Buf, visit_v: Buf, visit_w: Buf,
            keys: Buf, vals: Buf, listed: Buf, nlisted: Buf) -> None:
    """Acyclic coloring, Algorithm 3.1 of [GTPW09] (as in ColPack).

    2-colored trees are a disjoint-set forest over edges (``parent``); a color is forbidden for
    ``v`` if ``v`` would close a 2-colored cycle, that is if two of its neighbours reach one tree
    through neighbours of that color (``visit_*`` per tree root).
    """
    for v in order:
        for a in range(ptr[v], ptr[v + 1]):
            if colors[nbr[a]] >= 0:
                forbidden[colors[nbr[a]]] = v
        for a in range(ptr[v], ptr[v + 1]):
            w = nbr[a]
            if colors[w] < 0:
                continue
            for k in range(ptr[w], ptr[w] + nlisted[w]):
                s = listed[k]
                if forbidden[keys[s]] == v:
                    continue
                root = _find(parent, min(vals[s], mirror[vals[s]]))
                if visit_v[root] != v:
                    visit_v[root], visit_w[root] = v, w
                elif visit_w[root] != w:
                    forbidden[keys[s]] = v
        c = colors[v] = _first_free(forbidden, v)
        for a in range(ptr[v], ptr[v + 1]):
            p = vals[_add(ptr, keys, vals, listed, nlisted, nbr[a], c, mirror[a])]
            if colors[nbr[a]] >= 0:  # the edge joins the trees of its two colors
                _merge(parent, first_v, first_e, colors[nbr[a]], v, min(a, mirror[a]),
                       min(p, mirror[p]) if nbr[p] != v else -1)


def _merge(parent: Buf, first_v: Buf, first_e: Buf, cw: int, v: int, e: int, f: int) -> None:
    """Join edge ``e`` (from ``v`` to a neighbour of color ``cw``) to the tree of ``v``'s first
    edge to color ``cw``, and to the tree of edge ``f`` (-1: none) from that neighbour."""
    if first_v[cw] != v:
        first_v[cw], first_e[cw] = v, e
    else:
        parent[_find(parent, e)] = _find(parent, first_e[cw])
    if f >= 0:
        x, y = _find(parent, e), _find(parent, f)
        if x != y:
            parent[x] = y


# ---- substitution trees ---------------------------------------------------------------------
def tree_layout(parent: Buf, depth: Buf, size: Buf) -> None:
    """Depth and subtree size of each node of a forest in preorder (``parent[i] < i``, -1 for
    a root); ``depth`` starts at 0 and ``size`` at 1."""
    for i in range(len(parent)):
        if parent[i] >= 0:
            depth[i] = depth[parent[i]] + 1
    for i in range(len(parent) - 1, -1, -1):
        if parent[i] >= 0:
            size[parent[i]] += size[i]
