"""Dates: resolve the date of each appearance from record, configuration, file name or page header."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

from generator.errors import Problem
from generator.ingest.source_names import MONTHS
from generator.models import Listing, RawRecord

_ISO_IN_NAME = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_YEAR_IN_NAME = re.compile(r"(?<!\d)(19\d{2}|20\d{2})(?!\d)")


@dataclass(frozen=True)
class SourceSettings:
    """Per-source overrides from the configuration."""

    date: dt.date | None = None
    """Date of every entry of the source (beats file name and header)."""
    title: str | None = None
    """Display title of the source's digest page."""
    year: int | None = None
    """Year for the page's header date (beats the global `year`)."""


def date_from_name(name: str) -> dt.date | None:
    """An ISO date `YYYY-MM-DD` in the file name, if it names a real day."""
    return day_of(_ISO_IN_NAME.search(name))


def day_of(match: re.Match[str] | None) -> dt.date | None:
    """The day of a `(year)(month)(day)` match, or None when there is no match or no such day."""
    if not match:
        return None
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def year_from_name(name: str) -> int | None:
    """A four-digit year (1900-2099) in the file name, if any."""
    match = _YEAR_IN_NAME.search(name)
    return int(match.group(1)) if match else None


def listing_date(listing: Listing, settings: SourceSettings, year: int | None) -> tuple[dt.date | None, list[Problem]]:
    """The date that applies to a listing's entries without a date of their own.

    Order: the configured date; an ISO date in the file name; the header date (`May 29`)
    with the year from the file name, the source's `year` or the global `year`.
    A header date with no year available is a warning, never a silent guess; so is a header
    date that disagrees with the file name's (the file name's wins).
    """
    if settings.date is not None:
        return settings.date, []
    from_name = date_from_name(listing.source)
    if from_name is not None:
        return from_name, header_disagrees(listing, from_name)
    name_problems: list[Problem] = []
    if match := _ISO_IN_NAME.search(listing.source):
        name_problems.append(
            Problem("warning", listing.path, None, f"impossible date {match.group(0)} in the file name ignored")
        )
    if listing.header_date is None:
        return None, name_problems
    month, day = listing.header_date
    header_year = year_from_name(listing.source) or settings.year or year
    if header_year is None:
        return None, [
            *name_problems,
            Problem(
                "warning",
                listing.path,
                None,
                f"header date {month:02d}-{day:02d} has no year: set `year` or a date for this source; left undated",
            ),
        ]
    try:
        return dt.date(header_year, month, day), name_problems
    except ValueError:
        return None, [
            *name_problems,
            Problem("warning", listing.path, None, f"impossible header date {header_year}-{month:02d}-{day:02d}"),
        ]


def header_disagrees(listing: Listing, from_name: dt.date) -> list[Problem]:
    """A warning naming both dates when the page's header date (`May 28`) is not the day of
    the ISO date in the file name, which wins: the name is what the person saving the page
    chose, and it already decides the digest's URL."""
    if listing.header_date is None or listing.header_date == (from_name.month, from_name.day):
        return []
    month, day = listing.header_date
    header = f"{MONTHS[month - 1]} {day}" if 1 <= month <= 12 else f"{month:02d}-{day:02d}"
    return [
        Problem(
            "warning",
            listing.path,
            None,
            f"the header date {header} disagrees with the date {from_name.isoformat()} in the file name; "
            f"dated {from_name.isoformat()} (rename the file, or set `date` for this source in `overrides`)",
        )
    ]


def resolve_dates(
    listings: list[Listing], settings: Mapping[str, SourceSettings], year: int | None
) -> tuple[dict[tuple[str, int], dt.date | None], list[Problem]]:
    """Date of every record, keyed by (listing source, position); a record's own date wins."""
    dates: dict[tuple[str, int], dt.date | None] = {}
    problems: list[Problem] = []
    for listing in listings:
        default, found = listing_date(listing, settings.get(listing.source, SourceSettings()), year)
        problems.extend(found)
        for record in listing.records:
            dates[(listing.source, record.position)] = record_date(record, default)
    return dates, problems


def record_date(record: RawRecord, default: dt.date | None) -> dt.date | None:
    """A record's own date, else its listing's."""
    return record.date if record.date is not None else default
