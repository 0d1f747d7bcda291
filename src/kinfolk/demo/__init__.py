"""The demo organisation generator: `kinfolk demo` and the first run of `make run`.

Same seed, same data (ids aside). People are made in chunks through kinfolk.people.bulk, from
name/street/phone pools built once from Faker, so a million people fit in bounded memory.

Planted duplicates (the ground truth for matching): every generated person carries
ExternalId(system="demo", value="<key>"); a planted duplicate instead carries
value="dup-of:<key of its original>". `planted_duplicates()` reads the pairs back from the
database; KINFOLK_HOME/demo-duplicates.csv lists them too, with the kinds of distortion.
"""

from kinfolk.demo.generator import generate, planted_duplicates

__all__ = ["generate", "planted_duplicates"]
