"""Slab cache, read-ahead and LatestOnly: behaviour checked by counting real reads."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from hpcdash.data import LatestOnly, SliceRequest, Superseded, open_volume, write_volume
from hpcdash.data.cache import SlabCache


class CountingDataset:
    """Wraps an h5py.Dataset and logs every read that reaches the file: ``ds[...]``
    selections, and the lock-free readers' file accesses (gzip chunks, raw byte spans)."""

    def __init__(self, ds):
        self._ds = ds
        self.reads = []

    def __getitem__(self, sel):
        self.reads.append(sel)
        return self._ds[sel]

    def __getattr__(self, name):
        return getattr(self._ds, name)


def count_reads(vol) -> CountingDataset:
    """Route every file read of ``vol`` through a CountingDataset."""
    counter = CountingDataset(vol._ds)
    vol._ds = counter
    if vol._direct is not None:
        vol._direct.on_read = lambda kind, where: counter.reads.append((kind, where))
    return counter


@pytest.fixture
def cube(tmp_path):
    data = np.random.default_rng(5).normal(size=(32, 24, 20)).astype("f4")
    path = tmp_path / "cube.h5"
    write_volume(path, "/m/v", data, {"z": None, "y": None, "x": None}, chunks=(8, 8, 8), compression="gzip")
    return path, data


def test_second_slice_in_same_slab_does_not_touch_file(cube, fresh_cache):
    path, data = cube
    with open_volume(path) as vol:
        assert vol._direct is not None  # gzip: chunks are inflated in parallel
        counter = count_reads(vol)
        np.testing.assert_array_equal(vol.slice("z", 9).values, data[9])
        # the whole chunk slab z 8..15: 3 x 3 chunks of 8^3, each read once
        assert sorted(counter.reads) == [("chunk", (8, y, x)) for y in (0, 8, 16) for x in (0, 8, 16)]
        for i in range(8, 16):  # all other planes of the slab: memory only
            np.testing.assert_array_equal(vol.slice("z", i).values, data[i])
        assert len(counter.reads) == 9
        stats = fresh_cache.stats()
        assert stats.loads == 1 and stats.hits == 8
        np.testing.assert_array_equal(vol.slice("z", 16).values, data[16])  # next slab: 9 more chunks
        assert len(counter.reads) == 18
        np.testing.assert_array_equal(vol.slice("x", 3).values, data[:, :, 3])  # other axis: own slab
        assert len(counter.reads) == 18 + 4 * 3


def test_h5py_path_reads_one_slab(cube, fresh_cache):
    path, data = cube
    with open_volume(path) as vol:
        vol._direct = None  # the plain h5py path used for blosc, zstd, lz4, ...
        counter = count_reads(vol)
        np.testing.assert_array_equal(vol.slice("y", 9).values, data[:, 9])
        assert counter.reads == [(slice(None), slice(8, 16), slice(None))]
        for i in range(8, 16):
            np.testing.assert_array_equal(vol.slice("y", i).values, data[:, i])
        assert len(counter.reads) == 1


def test_uncompressed_random_jump_reads_plane_then_slab_when_stepping(tmp_path, fresh_cache):
    data = np.random.default_rng(1).normal(size=(32, 24, 20)).astype("f4")
    path = tmp_path / "plain.h5"
    write_volume(path, "/m/v", data, {"z": None, "y": None, "x": None}, chunks=(8, 8, 8))
    with open_volume(path) as vol:
        counter = count_reads(vol)
        np.testing.assert_array_equal(vol.slice("x", 11).values, data[:, :, 11])
        assert counter.reads == [(slice(None), slice(None), slice(11, 12))]  # only the plane, via HDF5
        np.testing.assert_array_equal(vol.slice("x", 11).values, data[:, :, 11])  # asked again: not a step
        assert len(counter.reads) == 1
        np.testing.assert_array_equal(vol.slice("x", 12).values, data[:, :, 12])  # stepping: the slab
        assert counter.reads[1] == ("raw", ((0, 32), (0, 24), (8, 16)))
        for i in range(8, 16):
            np.testing.assert_array_equal(vol.slice("x", i).values, data[:, :, i])
        assert len(counter.reads) == 2
        np.testing.assert_array_equal(vol.slice("z", 20).values, data[20])  # slowest axis: raw bytes
        assert counter.reads[2] == ("raw", ((20, 21), (0, 24), (0, 20)))
        # two random jumps into one slab, far apart: planes, not the slab
        np.testing.assert_array_equal(vol.slice("y", 16).values, data[:, 16])
        np.testing.assert_array_equal(vol.slice("y", 23).values, data[:, 23])
        assert counter.reads[3:] == [(slice(None), slice(16, 17), slice(None)),
                                     (slice(None), slice(23, 24), slice(None))]


def test_cache_shared_between_volumes_of_same_file(cube, fresh_cache):
    path, data = cube
    with open_volume(path) as a, open_volume(path) as b:
        a.slice("y", 2)
        counter = count_reads(b)
        np.testing.assert_array_equal(b.slice("y", 3).values, data[:, 3])
        assert counter.reads == []


def test_prefetch_loads_next_slab_in_direction(cube, fresh_cache):
    path, data = cube
    with open_volume(path) as vol:
        vol.slice("z", 6)
        fut = vol.prefetch("z", 6, +1)
        assert fut is not None
        fut.result(timeout=30)
        counter = count_reads(vol)
        np.testing.assert_array_equal(vol.slice("z", 8).values, data[8])
        assert counter.reads == []
        assert vol.prefetch("z", 8, -1) is None  # slab 0-7 is cached already
        fut = vol.prefetch("z", 31, +1)  # current slab not cached: loads it (no next slab)
        assert fut is not None
        fut.result(timeout=30)
        np.testing.assert_array_equal(vol.slice("z", 30).values, data[30])
        assert {r[1][0] for r in counter.reads} == {24}  # chunks of slab 24..31 only
        assert vol.prefetch("z", 99, 1) is None  # out of range: nothing, no exception


def test_budget_evicts_lru_and_oversized_slabs_are_cut(cube, fresh_cache):
    path, data = cube
    slab_bytes = 8 * 24 * 20 * 4  # one z slab
    fresh_cache.set_budget(2 * slab_bytes + 100)  # two slabs fit (each at most half the budget)
    with open_volume(path) as vol:
        vol.slice("z", 0)
        vol.slice("z", 8)
        vol.slice("z", 0)  # slab 0 is now the most recently used
        vol.slice("z", 16)  # evicts slab 8
        stats = fresh_cache.stats()
        assert stats.entries == 2 and stats.evictions == 1 and stats.nbytes <= fresh_cache.budget
        counter = count_reads(vol)
        vol.slice("z", 1)
        assert counter.reads == []
        vol.slice("z", 9)
        assert len(counter.reads) == 9  # 3 x 3 chunks
        fresh_cache.set_budget(slab_bytes)  # a slab no longer fits: half of it is kept
        vol._direct = None
        counter = count_reads(vol)
        np.testing.assert_array_equal(vol.slice("z", 17).values, data[17])
        assert counter.reads[0][0] == slice(16, 20)


def test_cached_arrays_are_read_only_and_slices_are_copies(cube):
    path, data = cube
    with open_volume(path) as vol:
        da = vol.slice("z", 1)
        da.values[:] = 0  # the caller owns its copy
        np.testing.assert_array_equal(vol.slice("z", 1).values, data[1])
        raw = vol.read_raw("z", 1)
        assert not raw.flags.writeable


def test_concurrent_requests_for_one_slab_read_it_once(cube, fresh_cache):
    path, data = cube
    with open_volume(path) as vol:
        counter = count_reads(vol)
        results = {}

        def read(i):
            results[i] = vol.slice("y", i).values

        threads = [threading.Thread(target=read, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(counter.reads) == 12 and len(set(counter.reads)) == 12  # 4 x 3 chunks, once each
        for i in range(8):
            np.testing.assert_array_equal(results[i], data[:, i])


def test_slab_cache_unit():
    cache = SlabCache(1000)
    cache.put("a", np.zeros(200, dtype="u1"))
    cache.put("b", np.zeros(400, dtype="u1"))
    cache.put("huge", np.zeros(600, dtype="u1"))  # over half the budget: not kept
    assert cache.get("huge") is None
    assert cache.get("a") is not None  # a is now most recent
    cache.put("c", np.zeros(450, dtype="u1"))  # evicts b (least recently used)
    assert cache.get("b") is None and cache.get("a") is not None
    assert cache.invalidate(lambda k: k == "a") == 1
    calls = []
    assert cache.get_or_load("d", lambda: calls.append(1) or np.ones(3)).sum() == 3
    assert cache.get_or_load("d", lambda: calls.append(1) or np.ones(3)).sum() == 3
    assert calls == [1]
    with pytest.raises(ZeroDivisionError):
        cache.get_or_load("e", lambda: 1 / 0)
    assert not cache.contains("e")


def test_the_limit_grows_with_the_volumes_open_up_to_the_maximum():
    class Owner:  # stands in for an open volume
        pass

    cache = SlabCache(1000, max_bytes=2500)
    owners = [Owner() for _ in range(4)]
    assert cache.limit == 1000  # nothing open: one budget
    cache.use(owners[0])
    cache.use(owners[1])
    assert cache.limit == 2000
    for k in range(4):
        cache.put(k, np.zeros(450, dtype="u1"))
    assert cache.stats().entries == 4 and cache.stats().limit == 2000
    cache.use(owners[2])
    cache.use(owners[3])
    assert cache.limit == 2500  # the maximum
    cache.release(owners[3])
    cache.release(owners[2])
    cache.release(owners[1])  # one open: what is over one budget goes, least recently used first
    assert cache.limit == 1000 and cache.stats().nbytes <= 1000
    assert cache.get(0) is None and cache.get(3) is not None
    del owners[0]  # a volume dropped without closing counts no more
    assert cache.limit == 1000
    same = [Owner(), Owner()]
    for o in same:  # two volumes of one dataset share their slabs: one budget
        cache.use(o, ("run.h5", "/model"))
    assert cache.limit == 1000
    assert SlabCache(3000, max_bytes=1000).limit == 3000  # the maximum never cuts one budget


def test_volumes_stepped_together_keep_their_slabs(tmp_path, fresh_cache):
    """Four runs stepped plane by plane together, as linked panes are, with read-ahead: each slab is
    read once. With one budget for all, each volume's read-ahead evicted the others' slabs and every
    step read the planes again."""
    data = np.random.default_rng(7).normal(size=(32, 24, 20)).astype("f4")
    paths = []
    for k in range(4):
        paths.append(tmp_path / f"run{k}.h5")
        write_volume(paths[-1], "/m/v", data + k, {"z": None, "y": None, "x": None}, chunks=(8, 8, 8),
                     compression="gzip")
    slab = 8 * 24 * 20 * 4
    fresh_cache.set_budget(2 * slab + 100)  # per volume: the slab in view and the one read ahead
    vols = [open_volume(p) for p in paths]
    try:
        counters = [count_reads(v) for v in vols]
        for i in range(24):
            for k, v in enumerate(vols):
                fut = v.prefetch("z", i, +1)
                if fut is not None:
                    fut.result(timeout=30)
                np.testing.assert_array_equal(v.slice("z", i).values, data[i] + k)
        for c in counters:  # slabs 0, 8 and 16 (and 24, read ahead): 3 x 3 chunks each, once
            assert len(c.reads) == 4 * 9, len(c.reads)
        assert fresh_cache.stats().limit == 4 * (2 * slab + 100)
    finally:
        for v in vols:
            v.close()
    assert fresh_cache.limit == 2 * slab + 100  # closed: back to one budget
    assert fresh_cache.stats().nbytes <= 2 * slab + 100


def test_latest_only_drops_superseded_requests():
    started = threading.Event()
    release = threading.Event()
    ran = []

    def slow(tag):
        ran.append(tag)
        started.set()
        release.wait(10)
        return tag

    with LatestOnly() as latest:
        first = latest.submit(slow, "first")
        assert started.wait(10)
        second = latest.submit(ran.append, "second")
        third = latest.submit(lambda: ran.append("third") or "third")
        assert second.cancelled()
        assert latest.is_latest(third) and not latest.is_latest(first)
        release.set()
        assert first.result(10) == "first"  # a started request completes
        assert third.result(10) == "third"
        assert ran == ["first", "third"]
        with pytest.raises(ZeroDivisionError):
            latest.run(lambda: 1 / 0)


def test_latest_only_run_and_arun_raise_superseded():
    release = threading.Event()
    started = threading.Event()

    def block():
        started.set()
        release.wait(10)
        return "old"

    latest = LatestOnly()
    latest.submit(block)
    assert started.wait(10)
    outcome = {}

    def waiter():
        try:
            outcome["run"] = latest.run(lambda: "stale")
        except Superseded:
            outcome["run"] = "superseded"

    t = threading.Thread(target=waiter)
    t.start()
    while latest._pending is None:  # wait until the waiter's request is queued
        pass
    newest = latest.submit(lambda: "new")
    release.set()
    t.join(10)
    assert outcome["run"] == "superseded"
    assert newest.result(10) == "new"

    async def scenario():
        gate, holding = threading.Event(), threading.Event()

        def hold():
            holding.set()
            gate.wait(10)

        latest.submit(hold)
        # the worker has taken it (a request queued before that would simply replace it)
        assert holding.wait(10)
        stale = asyncio.ensure_future(latest.arun(lambda: "stale"))
        await asyncio.sleep(0)
        fresh = asyncio.ensure_future(latest.arun(lambda: "fresh"))
        await asyncio.sleep(0)
        gate.set()
        with pytest.raises(Superseded):
            await stale
        return await fresh

    assert run_coroutine_in_thread(scenario) == "fresh"
    latest.close()
    with pytest.raises(RuntimeError):
        latest.submit(print)


def test_slice_request_reads_and_prefetches(cube, fresh_cache):
    path, data = cube
    with open_volume(path) as vol, LatestOnly() as latest:
        request = SliceRequest(vol, "z", 13, direction=-1)
        da = latest.run(request)
        np.testing.assert_array_equal(da.values, data[13])
        request.prefetched.result(30)  # slab 0..7 loaded in the background
        counter = count_reads(vol)
        np.testing.assert_array_equal(latest.run(SliceRequest(vol, "z", 7)).values, data[7])
        assert counter.reads == []


def test_close_during_a_read_waits_for_it(cube, fresh_cache):
    path, data = cube
    vol = open_volume(path)
    inside = threading.Event()
    release = threading.Event()
    real_read = vol._direct.read

    def slow_read(*args, **kwargs):
        inside.set()
        release.wait(10)
        return real_read(*args, **kwargs)

    vol._direct.read = slow_read
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("da", vol.slice("z", 3)))
    t.start()
    assert inside.wait(10)
    vol.close()  # must not pull the file from under the running read
    assert vol.closed and vol._fd is not None
    release.set()
    t.join(10)
    np.testing.assert_array_equal(result["da"].values, data[3])
    assert vol._fd is None and vol._file is None


def test_compressed_slab_too_big_keeps_the_planes_that_fit(tmp_path, fresh_cache):
    data = np.random.default_rng(2).normal(size=(4, 32, 16)).astype("f4")
    path = tmp_path / "long_chunks.h5"
    write_volume(path, "/m/v", data, {"z": None, "y": None, "x": None}, chunks=(4, 32, 16), compression="gzip")
    plane = 4 * 16 * 4  # bytes of one y-plane (z, x)
    fresh_cache.set_budget(2 * 8 * plane)  # 8 y-planes fit, the 32-plane chunk does not
    with open_volume(path) as vol:
        counter = count_reads(vol)
        np.testing.assert_array_equal(vol.slice("y", 9).values, data[:, 9])
        for i in range(8, 16):
            np.testing.assert_array_equal(vol.slice("y", i).values, data[:, i])
        assert len(counter.reads) == 1
        np.testing.assert_array_equal(vol.slice("y", 16).values, data[:, 16])
        assert len(counter.reads) == 2


def run_coroutine_in_thread(make_coro):
    """asyncio.run in a thread of its own: the browser tests' Playwright keeps an event loop
    running in the main thread for the whole session, and asyncio.run refuses to nest."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = asyncio.run(make_coro())
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(60)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_loads_of_known_size_make_room_before_reading():
    """With nbytes, least recently used entries are evicted before the loader runs: the cache and the
    array being read never hold more than the budget together."""
    c = SlabCache(1000)
    c.put("a", np.zeros(400, np.uint8))
    c.put("b", np.zeros(400, np.uint8))
    held_during_load = []

    def loader():
        held_during_load.append(c.stats().nbytes)
        return np.zeros(400, np.uint8)

    c.get_or_load("c", loader, nbytes=400)
    assert held_during_load == [400]  # "a" went first, before the read
    assert c.contains("b") and c.contains("c") and not c.contains("a")
    assert c.stats().nbytes == 800 and c._reserved == 0

    def failing():
        raise OSError("disk gone")

    with pytest.raises(OSError):
        c.get_or_load("d", failing, nbytes=400)
    assert c._reserved == 0  # a failed load gives its reservation back
