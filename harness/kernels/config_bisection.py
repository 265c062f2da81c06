# SPDX-License-Identifier: GPL-2.0-only
"""Which Kconfig option changed the verdict: the search, on whole configs, without building anything.

As ktest.pl's config_bisect does: both configs are normalised (olddefconfig), the options that differ
are the suspects, and each step takes a part of them at the bad config's values onto the good config,
normalises it again and asks the caller to judge it.  A judged candidate replaces the endpoint it
matches, so the suspects shrink every step, until one option is left, or no part of them makes a
config strictly between the two (Kconfig drags the rest along or reverts it), or every such config
shows a third outcome (neither endpoint's): then the smallest set is the answer, with why.

A candidate counts only when it is closer to each endpoint than they are to each other (fewer options
differ), so that whichever it replaces, the suspects shrink.  Kconfig may move an option the endpoints
agree on (a derived one, like EXCLUSIVE_SYSTEM_RAM from STRICT_DEVMEM): that counts against it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

Config = dict[str, str]  # symbol (no CONFIG_) -> value; absent reads as "n", as Kconfig writes it
GOOD, BAD, OTHER = "good", "bad", "other"  # a judged candidate; OTHER: a third outcome, not forced
# Candidates tried before a set is called unsplittable: each is an olddefconfig (a second or two), and
# thousands of suspects would otherwise mean thousands of them.
MAX_TRIES = 48


def value(config: Config, symbol: str) -> str:
    return config.get(symbol, "n")


def differing(good: Config, bad: Config) -> list[str]:
    """The suspects: options whose value differs, in a stable order."""
    return sorted(s for s in good.keys() | bad.keys() if value(good, s) != value(bad, s))


def closer(candidate: Config, good: Config, bad: Config) -> bool:
    """Fewer options differ between the candidate and either endpoint than between the endpoints."""
    apart = len(differing(good, bad))
    return 0 < len(differing(good, candidate)) < apart and 0 < len(differing(candidate, bad)) < apart


def with_values(config: Config, symbols: list[str], source: Config) -> Config:
    """`config` with `symbols` at `source`'s values (absent there: not set)."""
    out = dict(config)
    for s in symbols:
        out[s] = value(source, s)
    return out


def parts(suspects: list[str]) -> Iterator[list[str]]:
    """Halves first, then quarters, ... down to single options: the order ktest tries them in, with the
    smaller parts as the way round a half that Kconfig will not take alone."""
    size = (len(suspects) + 1) // 2
    seen: set[tuple[str, ...]] = set()
    while size >= 1:
        for start in range(0, len(suspects), size):
            part = tuple(suspects[start : start + size])
            if part not in seen and len(part) < len(suspects):
                seen.add(part)
                yield list(part)
        size = size // 2 if size > 1 else 0


@dataclass
class Tried:
    """One candidate: what was asked, what Kconfig made of it, and (when it lay between) the judgement."""

    asked: dict[str, str]  # option -> the value taken from the other endpoint
    direction: str  # "bad onto good" or "good onto bad"
    reverted: list[str]  # asked, but olddefconfig set it back
    dragged: list[str]  # not asked, but olddefconfig changed it too
    config: Config
    judged: str | None = None  # GOOD, BAD, OTHER; None: not closer to both endpoints, not built
    detail: str = ""  # what the step observed, or why it was not built
    landed: str | None = None  # not closer: olddefconfig made it GOOD's or BAD's config, or OTHER (neither)

    @property
    def crossed(self) -> bool:
        """Kconfig turned the endpoint it started from into the other one: with what it drags along, this
        part alone makes the whole difference."""
        return self.landed == (BAD if self.direction == "bad onto good" else GOOD)


@dataclass
class Outcome:
    suspects: list[str]  # one option, or the smallest set found
    good: Config
    bad: Config
    tried: list[Tried] = field(default_factory=list)
    why: str = ""  # why the set could not be split (empty when one option is left)
    follows: list[str] = field(default_factory=list)  # options Kconfig derives from the one found

    @property
    def single(self) -> bool:
        return len(self.suspects) == 1


def candidates(good: Config, bad: Config, normalise: Callable[[Config], Config]) -> Iterator[Tried]:
    """Every way the suspects may be split, each normalised: bad values onto the good config, and (the
    way round a dependency) good values onto the bad config."""
    suspects = differing(good, bad)
    for part in parts(suspects):
        for base, other, direction in ((good, bad, "bad onto good"), (bad, good, "good onto bad")):
            asked = {s: value(other, s) for s in part}
            config = normalise(with_values(base, part, other))
            reverted = [s for s in part if value(config, s) != value(other, s)]
            dragged = sorted(
                s for s in config.keys() | base.keys() if s not in asked and value(config, s) != value(base, s)
            )
            yield Tried(asked, direction, reverted, dragged, config)


def search(
    good: Config,
    bad: Config,
    normalise: Callable[[Config], Config],
    judge: Callable[[Tried], str],
    on_step: Callable[[Tried, list[str]], None] = lambda tried, suspects: None,
    judged: dict[tuple, tuple[str, str]] | None = None,
    choice: Callable[[list[str]], str | None] = lambda symbols: None,
) -> Outcome:
    """Shrink the suspects until one is left or none of their parts can be judged.

    `judge` builds and boots a candidate and says GOOD, BAD or OTHER; `on_step` sees every candidate
    (judged or not) with the suspects left after it, for the log and for resuming; `judged` holds the
    judgements of a bisection resumed (config_key -> (judgement, detail)); `choice` says where the Kconfig
    `choice` is whose members the last suspects all are (then they are the answer together)."""
    tried: list[Tried] = []
    judged = dict(judged or {})  # a config judged once is not built again (two parts may give one config)
    while len(differing(good, bad)) > 1:
        moved, round_start = False, len(tried)
        for n, cand in enumerate(candidates(good, bad, normalise)):
            if n == MAX_TRIES:
                break
            key = config_key(cand.config)
            if not closer(cand.config, good, bad):
                cand.detail = _not_closer(cand, good, bad)
                if judged.get(key, ("",))[0] == OTHER:  # built in an earlier round: its third outcome says why
                    cand.judged, cand.detail = OTHER, f"{judged[key][1]}, built in an earlier round"
            else:
                if key not in judged:
                    judged[key] = (judge(cand), cand.detail)
                cand.judged, cand.detail = judged[key]
            tried.append(cand)
            if cand.judged == GOOD:
                good = cand.config
            elif cand.judged == BAD:
                bad = cand.config
            on_step(cand, differing(good, bad))
            if cand.judged in (GOOD, BAD):
                moved = True
                break
        if not moved:
            last, suspects = tried[round_start:], differing(good, bad)
            where = choice(suspects)
            lead = None if where else _leader(last, suspects)
            if lead:
                return Outcome([lead], good, bad, tried, follows=[s for s in suspects if s != lead])
            why = _why_unsplit(last)
            if where:
                why = f"they are the members of one Kconfig choice ({where}): one of them is y; {why}"
            return Outcome(suspects, good, bad, tried, why)
    return Outcome(differing(good, bad), good, bad, tried)


def config_key(config: Config) -> tuple:
    return tuple(sorted((s, v) for s, v in config.items() if v != "n"))


def _not_closer(cand: Tried, good: Config, bad: Config) -> str:
    if not differing(cand.config, good):
        where, cand.landed = "the good config", GOOD
    elif not differing(cand.config, bad):
        where, cand.landed = "the bad config", BAD
    else:
        where, cand.landed = "a config no closer to either", OTHER
    notes = []
    if cand.reverted:
        notes.append("Kconfig set back " + ", ".join(cand.reverted))
    if cand.dragged:
        notes.append("dragged along " + ", ".join(cand.dragged[:8]) + (" ..." if len(cand.dragged) > 8 else ""))
    return f"olddefconfig made it {where}" + (f" ({'; '.join(notes)})" if notes else "")


def _leader(last: list[Tried], suspects: list[str]) -> str | None:
    """The one option of an unsplit set that, asked alone, turns one endpoint into the other.

    Kconfig drags the rest along: STRICT_DEVMEM=n takes EXCLUSIVE_SYSTEM_RAM (a `def_bool` with no
    prompt) with it, DEVMEM=n takes STRICT_DEVMEM (it depends on DEVMEM).  Then that option decides, and
    the others follow it.  Two such options (the members of a `choice`) leave the set as it is."""
    leads = {s for t in last if len(t.asked) == 1 and t.crossed for s in t.asked}
    return leads.pop() if len(leads) == 1 else None


def _why_unsplit(last: list[Tried]) -> str:
    """Why the last suspects stayed together: Kconfig would not take a part alone, or a part's config
    showed neither endpoint's outcome."""
    others = list({config_key(t.config): t for t in last if t.judged == OTHER}.values())
    refused = [t for t in last if t.judged is None]
    reasons = []
    if refused:
        reasons.append(
            "Kconfig would not take "
            + "; ".join(f"{', '.join(t.asked)} alone ({t.detail})" for t in refused[:4])
            + (f"; and {len(refused) - 4} more" if len(refused) > 4 else "")
        )
    if others:
        reasons.append(
            "a third outcome with "
            + "; ".join(f"{', '.join(f'{s}={v}' for s, v in t.asked.items())} ({t.detail})" for t in others[:4])
        )
    if len(last) >= MAX_TRIES:
        reasons.append(f"gave up after {MAX_TRIES} candidates")
    return "; ".join(reasons) or "no part of them could be judged"
