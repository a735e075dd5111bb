"""Run names: how they are made and how they are recognised.

A run name is a short adjective-noun pair for humans; uniqueness is checked
against the names already in the repository by the caller. A name is never
shaped like a run id (`gitml.store.ids`), so the two never mix up.
"""

from __future__ import annotations

import random
import re
from collections.abc import Container

from gitml.store.ids import is_run_id

NAME_RULE = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"  # what run names look like
_NAME = re.compile(NAME_RULE)

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


def new_run_name(taken: Container[str], rng: random.Random | None = None) -> str:
    """An adjective-noun name not in `taken` (a set, or names looked up one at a time:
    `gitml.tracking.catalog.NamesInUse`); a numeric suffix once pairs run short."""
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
    return _NAME.fullmatch(name) is not None and not is_run_id(name)


def as_run_name(wanted: str | None) -> str | None:
    """A run name gitml can store for `wanted`: MLflow takes any run name, gitml's are
    words a command line can name (letters, digits, '.', '_', '-'), so other characters
    become '-'; None (a new name) when nothing of it is left."""
    if wanted is None or is_valid_run_name(wanted):
        return wanted
    adapted = re.sub(r"[^A-Za-z0-9._-]+", "-", wanted).strip("-._")[:100]
    return adapted if adapted and is_valid_run_name(adapted) else None
