"""Run ids and run names: how they are made and how they are recognised.

A run id is a ULID-like string: 48 bits of milliseconds then 80 random bits,
in lowercase Crockford base32 (26 characters). Sorting ids sorts runs by start
time, and two machines never need to agree before making one.

A run name is a short adjective-noun pair for humans; uniqueness is checked
against the names already in the repository by the caller.
"""

from __future__ import annotations

import os
import random
import re
import time

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
ID_LENGTH = 26
_TIME_CHARS = 10
ID_PATTERN = re.compile(rf"^[{ALPHABET}]{{{ID_LENGTH}}}$")
ID_PREFIX_PATTERN = re.compile(rf"^[{ALPHABET}]{{4,{ID_LENGTH}}}$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

ADJECTIVES = """
able amber ancient arctic autumn azure bold brave breezy bright brisk bronze calm
candid cheerful chilly clever cobalt cosmic cozy crimson crisp curious daring dawn
deep dusty eager early earnest electric elegant emerald epic fabled fancy fast
fearless fern fiery firm fluent flying fond frosty gentle giant gifted glad gleaming
golden graceful grand green happy hardy hazel hidden hollow honest humble icy idle
indigo ivory jade jolly jovial keen kind lively loyal lucid lucky lunar magic major
mellow merry mighty misty modest molten mossy nimble noble northern novel oaken
olive opal orange patient peaceful perky plucky polar polished proud quick quiet
rapid rare ready regal rising robust rosy royal ruby rugged rustic sandy scarlet
serene sharp shiny silent silken silver simple sleek smooth snowy solar solid sonic
spare spry stable steady stellar stormy sturdy sunny super swift tame tawny tender
tidy tiny topaz tranquil true trusty upbeat urban valiant vast velvet vivid warm
wild windy wise witty wooden young zany zealous zesty
""".split()

NOUNS = """
acorn albatross alpaca anchor antelope apple arrow aspen badger bamboo basil bay
beacon bear beaver birch bison bloom boulder breeze brook buffalo cactus canyon
cardinal cedar cheetah cherry cicada cliff clover cobra comet condor coral cougar
coyote crane creek cricket crow cypress daisy delta dingo dolphin dove dragon
dune eagle echo egret elk ember falcon fennel fern finch fjord flame fox gazelle
gecko geyser glacier grove gull harbor hare hawk heron hill horizon ibis iris
island jackal jaguar jasmine kestrel kite koala lagoon lake lark laurel lemur
lily lion llama lotus lynx magpie maple marmot marsh meadow meteor mink moose moth
nebula newt oak ocelot orca osprey otter owl panda panther parrot peak pebble
pelican pine plover pond poppy prairie puffin quail quartz rabbit raven reef
river robin sage salmon sequoia shark sparrow spruce squid stork summit swan
thistle thrush tiger tulip tundra turtle valley viper walrus willow wolf wren
yak zebra
""".split()


def new_run_id(now_ms: int | None = None) -> str:
    """Return a fresh, time-ordered run id."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(ID_LENGTH):
        chars.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def run_id_time_ms(run_id: str) -> int:
    """The millisecond timestamp encoded in a run id."""
    value = 0
    for char in run_id[:_TIME_CHARS]:
        value = (value << 5) | ALPHABET.index(char)
    return value  # 26 chars hold 130 bits: the first 10 are 2 zero bits + 48 time bits


def is_run_id(text: str) -> bool:
    return bool(ID_PATTERN.match(text))


def could_be_id_prefix(text: str) -> bool:
    return bool(ID_PREFIX_PATTERN.match(text))


def new_run_name(taken: set[str], rng: random.Random | None = None) -> str:
    """An adjective-noun name not in `taken`; a numeric suffix once pairs run short."""
    rng = rng or random.SystemRandom()
    for _ in range(50):
        name = f"{rng.choice(ADJECTIVES)}-{rng.choice(NOUNS)}"
        if name not in taken:
            return name
    while True:
        name = f"{rng.choice(ADJECTIVES)}-{rng.choice(NOUNS)}-{rng.randrange(10, 10_000)}"
        if name not in taken:
            return name


def is_valid_run_name(name: str) -> bool:
    return bool(NAME_PATTERN.match(name)) and not is_run_id(name)
