"""gateway.ids: the 26-character encoding takes 10 bits a step; it must write what 5 bits a step wrote."""

from __future__ import annotations

import random
import re

from gateway import ids


def _five_bits_a_step(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(ids._ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def test_the_encoding_is_unchanged():
    rng = random.Random(7)
    values = [0, 1, 31, 32, 1023, 1024, (1 << 128) - 1, (1 << 130) - 1, 1 << 130, (1 << 140) + 5]
    values += [rng.getrandbits(rng.randint(1, 140)) for _ in range(20_000)]
    for value in values:
        assert ids._encode(value, 26) == _five_bits_a_step(value, 26), value
    assert ids._encode(12345, 7) == _five_bits_a_step(12345, 7)


def test_new_ids_keep_their_shape_and_sort_by_time():
    first = ids.new_id("merchant")
    assert re.fullmatch(r"mch_[0-9a-hjkmnp-tv-z]{26}", first)
    assert ids.new_id("merchant")[4:14] >= first[4:14]  # the millisecond part leads


def test_request_ids_have_the_shape_of_every_id_and_differ_between_forked_workers():
    import os

    first = ids.new_request_id()
    assert re.fullmatch(r"req_[0-9a-hjkmnp-tv-z]{26}", first)
    assert ids.new_request_id()[4:14] >= first[4:14]
    assert len({ids.new_request_id() for _ in range(10_000)}) == 10_000
    # gunicorn forks its workers after the app is loaded: each must draw its own random bits
    read, write = os.pipe()
    pids = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:  # pragma: no cover  (the child)
            os.write(write, ids.new_request_id()[14:].encode() + b"\n")
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    os.close(write)
    with os.fdopen(read) as stream:
        children = stream.read().split()
    assert len(children) == 2 and children[0] != children[1]
