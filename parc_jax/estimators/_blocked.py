"""Pair statistics over row blocks: PARC and kNN without an N x N matrix, spread over the local devices.

The dense estimators hold the N x N correlation (PARC) or distance (kNN) matrix. Here rows are
processed B at a time: a row block [B, N] is recomputed from the [N, d] features by one matmul whenever
a pass needs it, so memory is O(B N + capacity) and any N fits.

Row blocks are dealt to the local devices (`jax.shard_map` over a 1-D mesh named "blocks"); every
device loops over its blocks with `lax.fori_loop` and the partial results are combined with
collectives, so one compiled program serves 1 or many devices. Rows past N pad the last blocks and are
masked out.

PARC, single-label targets (see `_parc.py` for the rank-sum form): with G the smaller pair group and O
the other one, PARC needs S = sum_{o in O} (|G| - #{g < o} - #{g <= o}) / 2. The G values are split
into value ranges G_1, ..., G_R of at most `capacity` values each (R = 1 unless G is larger than
`max_capacity`); since #{g < o} = sum_r #{g in G_r < o}, S = sum_r S_r with S_r the same sum against
G_r alone. For each range:

1. gather pass: stream the blocks, collect the G values of the range into a buffer (one per device,
   then all-gathered) and sort it;
2. search pass: stream the blocks again and locate every O value in the sorted G_r. A table of
   T linear bins over [min G_r, max G_r] gives the slice of G_r whose bin is the value's bin (bins are
   monotone in the value, so everything below the slice is smaller and everything above is larger);
   a binary search of ceil(log2(largest bin + 1)) steps inside the slice gives #{g < o} and #{g <= o}
   exactly, ties included.

Each block row i also carries its mirror row i' = R - 1 - i (R padded rows): the pairs (i, j > i)
and (i', j > i') fill one row of N positions, so a pass streams N^2 / 2 pair values, not N^2.

With R > 1, a first pass builds a histogram of the G values over 2^20 linear bins on [-1, 1] and the
ranges are runs of bins holding about capacity / 2 values each. Pair values are the dot products of
the same unit rows as in the dense path (matrix products of other shapes, which may round the last bit
differently). S is accumulated in float32 with a compensated (two-sum) carry across blocks.

kNN: per row block, squared distances to all N samples, the sample itself excluded, `lax.top_k`
(equal distances: lower index first), and the integer vote hits of each row; the same numbers as the
dense path.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec

from parc_jax.estimators import _platform, _stats

AXIS = "blocks"
# Pair values per row block when the caller does not set block_size: 2^22 floats (16 MB per array) on
# the CPU, 2^25 on accelerators (fewer, larger kernels).
BLOCK_ELEMENTS = {"cpu": 2**22}
ACCELERATOR_BLOCK_ELEMENTS = 2**25
# Histogram bins of the range partition (only used when G is split into several ranges).
HISTOGRAM_BINS = 2**20
# Largest lookup table of the binary search (int32 entries).
MAX_SEARCH_BINS = 2**24


def max_group_capacity() -> int:
    """Largest number of G values sorted at once: 2^24 (64 MB) on the CPU, 2^27 on accelerators."""
    return 2**24 if _platform.is_cpu() else 2**27


@dataclasses.dataclass(frozen=True)
class BlockPlan:
    """Static layout of the row blocks over the devices (hashable: part of the compiled program's key).

    `block_rows` rows per block, `blocks_per_device` blocks on each of `num_devices` devices;
    rows [d * blocks_per_device * block_rows, (d + 1) * ...) live on device d.
    """

    n: int
    block_rows: int
    blocks_per_device: int
    num_devices: int
    folded: bool = False

    @property
    def padded_rows(self) -> int:
        """Rows held by the blocks: R (>= N), or R / 2 when folded (row i carries its mirror R - 1 - i)."""
        return self.num_devices * self.blocks_per_device * self.block_rows


def _num_devices() -> int:
    """Devices the blocks are dealt over: all local devices of the platform (`_platform.local_devices`)."""
    return len(_platform.local_devices())


# `method="auto"` takes the dense N x N path up to this many samples (about 1 GB of temporaries), blocks above.
DENSE_MAX_N = 4096


def resolve_method(method, n: int) -> str:
    """The dense/blocked policy of PARC and kNN: "dense", "blocked", or "auto" (dense up to DENSE_MAX_N)."""
    if method not in ("auto", "dense", "blocked"):
        raise ValueError(f"method must be 'auto', 'dense' or 'blocked', got {method!r}")
    if method == "auto":
        return "dense" if n <= DENSE_MAX_N else "blocked"
    return method


def check_block_size(block_size) -> int | None:
    if block_size is None:
        return None
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size < 1:
        raise ValueError(f"block_size must be None or an int >= 1 (rows per block), got {block_size!r}")
    return int(block_size)


def plan_blocks(n: int, block_size: int | None, *, folded: bool = False) -> BlockPlan:
    """Rows per block (default: about BLOCK_ELEMENTS pair values per block) dealt over the local devices.

    `folded`: the blocks cover the first half of the rows only, each row paired with its mirror row.
    """
    rows_needed = -(-n // 2) if folded else n
    elements = BLOCK_ELEMENTS.get(_platform.current(), ACCELERATOR_BLOCK_ELEMENTS)
    rows = block_size if block_size is not None else max(1, elements // n)
    rows = min(rows, rows_needed)
    num_devices = _num_devices()
    num_blocks = -(-rows_needed // rows)
    return BlockPlan(n, rows, -(-num_blocks // num_devices), num_devices, folded)


def _mesh(plan: BlockPlan) -> jax.sharding.Mesh:
    return jax.sharding.Mesh(np.array(_platform.local_devices()[: plan.num_devices]), (AXIS,))


def _row_ids(plan: BlockPlan) -> jax.Array:
    """[num_devices, blocks_per_device, block_rows] global row index of every padded block row."""
    return jnp.arange(plan.padded_rows, dtype=jnp.int32).reshape(
        plan.num_devices, plan.blocks_per_device, plan.block_rows
    )


def _pad_rows(x: jax.Array, rows: int) -> jax.Array:
    return jnp.pad(x, ((0, rows - x.shape[0]),) + ((0, 0),) * (x.ndim - 1))


def _two_sum(total: jax.Array, carry: jax.Array, value: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Compensated float32 accumulation (Knuth's two-sum): total + carry tracks the exact running sum."""
    new_total = total + value
    back = new_total - total
    error = (total - (new_total - back)) + (value - back)
    return new_total, carry + error


# ---------------------------------------------------------------------------------------------
# PARC, single-label targets


@dataclasses.dataclass(frozen=True)
class ParcPlan:
    """Static plan of the blocked rank-sum: blocks, the sorted-group buffer and the range partition.

    `capacity`: G values one device buffers per range; `num_ranges`: R value ranges (1: no histogram
    pass); `range_size`: histogram mass per range (capacity // 2); `search_bins`: lookup table size T.
    """

    blocks: BlockPlan
    group_is_same_class: bool
    capacity: int
    num_ranges: int
    range_size: int
    search_bins: int


def group_counts_per_row(labels: np.ndarray, group_is_same_class: bool) -> np.ndarray:
    """#{j > i : (i, j) in G} for every row i (G = same-class or different-class pairs)."""
    n = labels.shape[0]
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(labels)
    rank = np.empty(n, np.int64)  # position of i among the samples of its class, in index order
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank[order] = np.arange(n) - starts[labels[order]]
    same_after = counts[labels] - rank - 1
    return same_after if group_is_same_class else (n - 1 - np.arange(n)) - same_after


def plan_parc(
    labels: np.ndarray, group_is_same_class: bool, group_size: int, block_size: int | None, capacity_fn
) -> ParcPlan:
    """Choose the buffers on the host from the labels: G counts per device decide the capacity."""
    n = labels.shape[0]
    if group_size >= 2**31:
        raise ValueError(
            f"the smaller pair group has {group_size} pairs, more than the blocked PARC's int32 counters hold "
            "(2^31); score a random subset of the probe set"
        )
    blocks = plan_blocks(n, block_size, folded=True)
    max_capacity = max_group_capacity()
    if group_size <= max_capacity:
        per_row = group_counts_per_row(labels, group_is_same_class)
        rows_per_device = blocks.blocks_per_device * blocks.block_rows
        row = np.arange(n)
        home = np.where(row < blocks.padded_rows, row, 2 * blocks.padded_rows - 1 - row)  # folded onto its mirror
        per_device = np.bincount(home // rows_per_device, weights=per_row, minlength=blocks.num_devices)
        capacity, num_ranges = capacity_fn(int(per_device.max())), 1
    else:
        capacity, num_ranges = max_capacity, -(-group_size // (max_capacity // 2))
    merged = blocks.num_devices * capacity
    search_bins = min(MAX_SEARCH_BINS, 2 ** math.ceil(math.log2(max(merged, 2))))
    return ParcPlan(blocks, group_is_same_class, capacity, num_ranges, max(capacity // 2, 1), search_bins)


def _histogram_bin(values: jax.Array) -> jax.Array:
    """Monotone bin of a dissimilarity -r in [-1, 1] among HISTOGRAM_BINS linear bins (clipped)."""
    scaled = jnp.floor((values + 1.0) * (HISTOGRAM_BINS / 2))
    return jnp.clip(scaled, 0, HISTOGRAM_BINS - 1).astype(jnp.int32)


def _search_table(sorted_group: jax.Array, count: jax.Array, num_bins: int):
    """Lookup table of the binary search: linear bins over [min G, max G] of the sorted group.

    Returns (bin_of, start, steps): `bin_of(v)` is monotone in v, G values of bin b are
    sorted_group[start[b]:start[b+1]], and `steps` binary-search steps resolve the largest bin.
    """
    low = sorted_group[0]
    high = sorted_group[jnp.maximum(count - 1, 0)]
    width = high - low
    scale = jnp.where(width > 0, num_bins / jnp.where(width > 0, width, 1.0), 0.0)

    def bin_of(values):
        return jnp.clip(jnp.floor((values - low) * scale), 0, num_bins - 1).astype(jnp.int32)

    valid = jnp.arange(sorted_group.shape[0]) < count
    bins = jnp.where(valid, bin_of(jnp.where(valid, sorted_group, low)), num_bins)
    sizes = jnp.zeros(num_bins, jnp.int32).at[bins].add(1, mode="drop")
    start = jnp.concatenate([jnp.zeros(1, jnp.int32), jnp.cumsum(sizes)])
    steps = 32 - jax.lax.clz(jnp.max(sizes))  # bit length: ceil(log2(largest + 1))
    return bin_of, start, steps


def _count_below(sorted_group, equal_end, bin_of, start, steps, values):
    """(#{g < v}, #{g <= v}) for every v: binary search inside v's bin of the lookup table.

    `equal_end[i]` is the end of the run of values equal to sorted_group[i], so #{g <= v} follows from
    the position of the first g >= v without a second search.
    """
    bins = bin_of(values)

    def step(_, state):
        low, high = state
        middle = (low + high) // 2
        below = jnp.take(sorted_group, middle, mode="clip") < values
        active = low < high
        return jnp.where(active & below, middle + 1, low), jnp.where(active & ~below, middle, high)

    less, _ = jax.lax.fori_loop(0, steps, step, (start[bins], start[bins + 1]))
    equal = jnp.take(sorted_group, less, mode="clip") == values
    return less, jnp.where(equal, jnp.take(equal_end, less, mode="clip"), less)


def group_counter(sorted_group: jax.Array, count: jax.Array, num_bins: int):
    """For G sorted ascending (`count` values, then +inf padding): the function v -> (#{g < v}, #{g <= v})
    over arrays of values, with its lookup table (`_search_table`, `num_bins` bins) and the run ends of
    equal G values built once."""
    equal_end = jnp.searchsorted(sorted_group, sorted_group, side="right").astype(jnp.int32)
    bin_of, start, steps = _search_table(sorted_group, count, num_bins)
    return functools.partial(_count_below, sorted_group, equal_end, bin_of, start, steps)


def parc_rank_sum(unit: jax.Array, labels: jax.Array, plan: ParcPlan):
    """Blocked Mann-Whitney sums of the rank-sum PARC: returns (S, |G|, |O|) as float32 scalars.

    Args:
      unit: [N, d] unit rows (`_stats.unit_rows` of the prepared features); pair value (i, j) is
        -unit_i . unit_j, computed one row block at a time.
      labels: [N] int class labels.
      plan: the static `ParcPlan`.

    The result is NaN when a range of the partition overflowed its buffer (a single histogram bin
    holding more than capacity / 2 values: massive exact ties at N where G needs several ranges).
    """
    blocks = plan.blocks
    n = blocks.n
    num_pairs = n * (n - 1) // 2
    unit_padded = _pad_rows(unit, 2 * blocks.padded_rows)
    labels_padded = _pad_rows(labels, 2 * blocks.padded_rows)
    columns = jnp.arange(n, dtype=jnp.int32)

    mirror_of = 2 * blocks.padded_rows - 1  # row i of a block carries its mirror row R - 1 - i

    def block(rows):
        """Pair values, G mask and O mask of a folded row block, [B, N] each.

        Position p of row i holds pair (i, p) for p > i and pair (i', p + R - i) of the mirror row
        i' = R - 1 - i for p < i: together the N - 1 - i + N - 1 - i' <= N - 1 upper-triangle pairs
        of both rows (a row-block matmul).
        """
        mirrors = mirror_of - rows
        direct = -_stats.matmul(unit_padded[rows], unit.T) + 0.0  # + 0.0 turns -0.0 into 0.0
        mirrored = -_stats.matmul(unit_padded[mirrors], unit.T) + 0.0
        shifted = columns[None, :] + (mirror_of + 1 - rows)[:, None]  # column of the mirror pair
        upper = columns[None, :] > rows[:, None]
        values = jnp.where(upper, direct, jnp.take_along_axis(mirrored, jnp.minimum(shifted, n - 1), axis=1))
        valid = upper | ((columns[None, :] < rows[:, None]) & (shifted < n))
        partner = jnp.where(upper, labels[None, :], labels[jnp.minimum(shifted, n - 1)])
        own = jnp.where(upper, labels_padded[rows][:, None], labels_padded[mirrors][:, None])
        same = own == partner
        group = valid & (same if plan.group_is_same_class else ~same)
        return values, group, valid & ~group

    def per_device(device_rows):
        device_rows = device_rows[0]  # [blocks_per_device, block_rows]
        num_blocks = blocks.blocks_per_device

        if plan.num_ranges > 1:

            def histogram_block(b, histogram):
                values, group, _ = block(device_rows[b])
                bins = jnp.where(group, _histogram_bin(values), HISTOGRAM_BINS)
                return histogram.at[bins.reshape(-1)].add(1, mode="drop")

            histogram = jax.lax.fori_loop(0, num_blocks, histogram_block, jnp.zeros(HISTOGRAM_BINS, jnp.int32))
            histogram = jax.lax.psum(histogram, AXIS)
            range_of_bin = (jnp.cumsum(histogram) - histogram) // plan.range_size
            overflow = jnp.max(histogram) > plan.range_size
        else:
            range_of_bin = None
            overflow = jnp.array(False)

        def in_range(values, index):
            if range_of_bin is None:
                return True
            return range_of_bin[_histogram_bin(values)] == index

        def one_range(index, state):
            total, carry, group_size, overflow = state

            def gather_block(b, buffer_state):
                buffer, count = buffer_state
                values, group, _ = block(device_rows[b])
                take = (group & in_range(values, index)).reshape(-1)
                positions = jnp.where(take, count + jnp.cumsum(take, dtype=jnp.int32) - 1, plan.capacity)
                buffer = buffer.at[positions].set(values.reshape(-1), mode="drop")
                return buffer, count + jnp.sum(take, dtype=jnp.int32)

            empty = jnp.full(plan.capacity, jnp.inf, jnp.float32)
            buffer, count = jax.lax.fori_loop(0, num_blocks, gather_block, (empty, jnp.int32(0)))
            overflow = overflow | (jax.lax.psum((count > plan.capacity).astype(jnp.int32), AXIS) > 0)
            sorted_group = _stats.sort_floats(jax.lax.all_gather(buffer, AXIS, tiled=True))  # +inf padding sorts last
            range_count = jax.lax.psum(count, AXIS)
            counts_below = group_counter(sorted_group, range_count, plan.search_bins)

            def search_block(b, sums):
                values, _, other = block(device_rows[b])
                less, less_or_equal = counts_below(values)
                twice_u = (range_count - less - less_or_equal).astype(jnp.float32)
                block_sum = jnp.sum(jnp.sum(jnp.where(other, twice_u, 0.0), axis=1)) / 2
                return _two_sum(*sums, block_sum)

            total, carry = jax.lax.fori_loop(0, num_blocks, search_block, (total, carry))
            return total, carry, group_size + range_count, overflow

        zero = jnp.float32(0.0)
        total, carry, group_size, overflow = jax.lax.fori_loop(
            0, plan.num_ranges, one_range, (zero, zero, jnp.int32(0), overflow)
        )
        statistic = jax.lax.psum(total, AXIS) + jax.lax.psum(carry, AXIS)
        return statistic, group_size, overflow

    statistic, group_size, overflow = jax.shard_map(
        per_device,
        mesh=_mesh(blocks),
        in_specs=PartitionSpec(AXIS),
        out_specs=(PartitionSpec(), PartitionSpec(), PartitionSpec()),
        check_vma=False,
    )(_row_ids(blocks))
    n_group = group_size.astype(jnp.float32)
    statistic = jnp.where(overflow, jnp.nan, statistic)
    return statistic, n_group, jnp.float32(num_pairs) - n_group


# ---------------------------------------------------------------------------------------------
# kNN


def knn_hits(x: jax.Array, labels: jax.Array, plan: BlockPlan, *, k: int, vote_hits) -> jax.Array:
    """Sum over samples of the integer vote hits of their k nearest other samples, one row block at a time.

    `x` [N, D] (centred features), `vote_hits(votes [B, k], truth [B]) -> [B] int32`. Distances are
    computed as in the dense path: ||x_i||^2 + ||x_j||^2 - 2 x_i . x_j, clipped at 0.
    """
    n = plan.n
    norms = jnp.sum(x**2, axis=1)
    x_padded = _pad_rows(x, plan.padded_rows)
    norms_padded = _pad_rows(norms, plan.padded_rows)
    labels_padded = _pad_rows(labels, plan.padded_rows)
    columns = jnp.arange(n, dtype=jnp.int32)

    def per_device(device_rows):
        device_rows = device_rows[0]

        def one_block(b, hits):
            rows = device_rows[b]
            products = _stats.matmul(x_padded[rows], x.T)
            distances = jnp.maximum(norms_padded[rows][:, None] + norms[None, :] - 2.0 * products, 0.0)
            distances = jnp.where(columns[None, :] == rows[:, None], jnp.inf, distances)  # leave one out
            _, neighbours = jax.lax.top_k(-distances, k)
            row_hits = vote_hits(labels[neighbours], labels_padded[rows])
            return hits + jnp.sum(jnp.where(rows < n, row_hits, 0))

        hits = jax.lax.fori_loop(0, plan.blocks_per_device, one_block, jnp.int32(0))
        return jax.lax.psum(hits, AXIS)

    return jax.shard_map(
        per_device, mesh=_mesh(plan), in_specs=PartitionSpec(AXIS), out_specs=PartitionSpec(), check_vma=False
    )(_row_ids(plan))
