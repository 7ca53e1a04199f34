"""The collector pause around builds: nestable, and it leaves the collector as it found it."""

import gc
import threading

from matchgraph.core.gcpause import collection_paused


def test_pause_nests_and_resumes_only_after_the_last():
    assert gc.isenabled()
    with collection_paused():
        assert not gc.isenabled()
        with collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_pause_leaves_a_disabled_collector_disabled_and_resumes_after_errors():
    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
    try:
        with collection_paused():
            raise ValueError
    except ValueError:
        pass
    assert gc.isenabled()


def test_pauses_in_threads_resume_when_all_are_done():
    inside, release = threading.Barrier(3), threading.Event()

    def build():
        with collection_paused():
            inside.wait()
            release.wait()

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    inside.wait()
    assert not gc.isenabled()
    release.set()
    for t in threads:
        t.join()
    assert gc.isenabled()


def test_what_a_pause_made_is_in_the_oldest_generation_after_it():
    """Young collections after a load must not traverse its objects again and again."""
    with collection_paused():
        built = [[i] for i in range(5000)]
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert id(built) in oldest and all(id(b) in oldest for b in built[::500])
