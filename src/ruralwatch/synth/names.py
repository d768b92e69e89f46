"""Plausible Chinese place names for synthetic areas, built from short character lists.

Names are drawn from combinatorial pools without a loop over areas: inside each parent the
k-th child gets pool entry ``(offset + k · stride) mod M`` where M (the pool size) is prime and
the stride is not a multiple of M, so siblings never share a name as long as a parent has
fewer than M children.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = [
    "county_names",
    "name_pool",
    "pick_names",
    "prefecture_names",
    "township_names",
    "village_names",
]

# Syllables written for this project: directions, colours, landscape, auspicious words, surnames.
_LEAD = "东西南北中上下前后大小新老长高青白红黄石金银龙凤马牛鹿柳桃杏梨松柏竹兰梅安平永太"
_SECOND = "山河溪川湖泉岭峰岗坡源江水林川田原丰乐和宁兴隆昌盛福寿康庆阳明远清华"
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
_VILLAGE_TAIL = "庄湾坪沟岭寨屯营堡坝店集铺口塘洼岗峪墩桥院台"
_PLACE_MID = "家"

IntArray = npt.NDArray[np.int64]


def _largest_prime_at_most(n: int) -> int:
    for m in range(n, 1, -1):
        if all(m % d for d in range(2, int(m**0.5) + 1)):
            return m
    return 2


def name_pool(kind: str) -> list[str]:
    """The pool of base names for a kind of area, trimmed to a prime length."""
    if kind == "village":
        family = [s + _PLACE_MID + t for s in _SURNAMES for t in _VILLAGE_TAIL]
        scenic = [a + b for a in _LEAD for b in _VILLAGE_TAIL]
        scenic += [a + b + t for a in _LEAD[:12] for b in _SECOND[:12] for t in "村庄"]
        pool = sorted(set(family + scenic))
    else:
        pool = sorted({a + b for a in _LEAD for b in _SECOND if a != b})
    m = _largest_prime_at_most(len(pool))
    return pool[:m]


def pick_names(
    rng: np.random.Generator, parent: IntArray, rank: IntArray, pool: list[str]
) -> pl.Series:
    """One pool entry per child; siblings (same ``parent``) get distinct entries.

    Args:
        parent: index of each child's parent (any non-negative integers).
        rank: 0-based rank of each child among its siblings.
        pool: candidate names; its length should be prime (see :func:`name_pool`).
    """
    m = len(pool)
    if rank.size and int(rank.max()) >= m:
        raise ValueError(f"a parent has more than {m} children: the name pool is too small")
    n_parent = int(parent.max()) + 1 if parent.size else 0
    offset = rng.integers(0, m, size=n_parent)
    stride = rng.integers(1, m, size=n_parent)
    idx = (offset[parent] + rank * stride[parent]) % m
    return pl.Series("name", pool, dtype=pl.String).gather(idx)


def _suffix(base: pl.Series, suffix: npt.NDArray[np.str_] | str) -> pl.Series:
    tail = pl.Series("s", np.broadcast_to(np.asarray(suffix), base.shape).tolist())
    return (base + tail).alias("name")


def township_names(
    rng: np.random.Generator, parent: IntArray, rank: IntArray, is_town: npt.NDArray[np.bool_]
) -> pl.Series:
    """Township names: a two-character base plus 镇 (town) or 乡 (township)."""
    base = pick_names(rng, parent, rank, name_pool("township"))
    return _suffix(base, np.where(is_town, "镇", "乡"))


def village_names(
    rng: np.random.Generator, parent: IntArray, rank: IntArray, committee: npt.NDArray[np.bool_]
) -> pl.Series:
    """Village names ending in 村委会 (villagers' committee) or 村."""
    base = pick_names(rng, parent, rank, name_pool("village"))
    stem = pl.select(
        pl.when(base.str.ends_with("村")).then(base).otherwise(base + "村")
    ).to_series()
    return _suffix(stem, np.where(committee, "委会", ""))


def county_names(rng: np.random.Generator, parent: IntArray, rank: IntArray) -> pl.Series:
    """County names ending in 县."""
    return _suffix(pick_names(rng, parent, rank, name_pool("county")), "县")


def prefecture_names(rng: np.random.Generator, n: int) -> pl.Series:
    """Prefecture names ending in 市."""
    parent = np.zeros(n, dtype=np.int64)
    rank = np.arange(n, dtype=np.int64)
    return _suffix(pick_names(rng, parent, rank, name_pool("prefecture")), "市")
