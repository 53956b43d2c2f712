"""Hand-off digests: per owner, the accounts gained and lost in a plan or an applied run, and why."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from revrules.project import Project
from revrules.run.cascade import FOLLOWS, wanted_kinds
from revrules.state.ledger import WRITTEN, Ledger

MOVE_SCHEMA = pl.Schema({"id": pl.String, "from": pl.String, "to": pl.String, "reason": pl.String,
                         "territory": pl.String})
DIGEST_SCHEMA = pl.Schema({"owner": pl.String, "change": pl.String, "id": pl.String, "other_owner": pl.String,
                           "reason": pl.String, "territory": pl.String})

REASONS = {
    "rebalance": "rebalance",
    "owner-gone": "owner gone",
    "owner-unavailable": "owner unknown or inactive in the CRM",
    "least-loaded": "territory change",
    "overflow": "territory change (overflow)",
    "family": "family move",
    "override": "manual owner",
}
"""The owner rule of a change -> the reason a rep reads."""

RELATED_COLUMNS = {"Contact": "contacts", "contacts": "contacts", "Opportunity": "open_opportunities",
                   "deals": "open_deals"}
"""A related record's object -> the digest column counting those that moved with each account (`owner_change`)."""
_RELATED_LABELS = {"contacts": "contact(s)", "open_opportunities": "open opportunity(ies)",
                   "open_deals": "open deal(s)"}

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class Digests:
    """Every owner move, and per owner the accounts gained and lost."""

    moves: pl.DataFrame
    """One row per account whose owner changes: id, from, to, reason, territory."""
    rows: pl.DataFrame
    """One row per owner and account: owner, change (gained/lost), id, other_owner, reason, territory."""

    @property
    def owners(self) -> list[str]:
        """Every owner who gains or loses an account, sorted."""
        return sorted(set(self.rows["owner"].to_list()))

    def of(self, owner: str) -> pl.DataFrame:
        """One owner's digest rows: gained first, then lost, by account id."""
        return self.rows.filter(pl.col("owner") == owner).sort(["change", "id"])

    def summary(self) -> pl.DataFrame:
        """Per owner: accounts gained and lost."""
        counts = self.rows.group_by("owner").agg(
            (pl.col("change") == "gained").sum().cast(pl.Int64).alias("gained"),
            (pl.col("change") == "lost").sum().cast(pl.Int64).alias("lost"))
        return counts.sort("owner")


def reason_of(rule: pl.Expr, before: pl.Expr) -> pl.Expr:
    """The reader's reason for an owner change decided by `rule`; an account without an owner is `new owner`."""
    mapped = rule.replace_strict(REASONS, default=None, return_dtype=pl.String)
    return (pl.when(rule.is_in(["least-loaded", "overflow"]) & (before.is_null() | (before == "")))
            .then(pl.lit("new owner"))
            .when(mapped.is_not_null()).then(mapped)
            .otherwise(pl.lit("rule ") + rule.fill_null("?")))


def digests(project: Project, changes: pl.DataFrame, related: pl.DataFrame | None = None) -> Digests:
    """Digests of field changes (a plan's `changes` or a run's writes: id, field, before, after, rule).

    With `owner_change`, each row also counts the records of `related` (object, id, account:
    a plan's `related`, or `run_related`) that moved with the account, one column per kind.
    """
    owner_field = project.outputs.get(project.owner_output or "")
    territories = project.book.territories
    territory_field = project.outputs.get(territories.output) if territories else None
    owner_changes = changes.filter(pl.col("field") == (owner_field or "")).unique("id", keep="last")
    moved = territory_field and not changes.filter(pl.col("field") == territory_field).is_empty()
    territory = (changes.filter(pl.col("field") == territory_field).unique("id", keep="last")
                 .select("id", (pl.col("before").fill_null("(none)") + " -> " + pl.col("after").fill_null("(none)"))
                         .alias("territory"))
                 if moved else pl.DataFrame(schema={"id": pl.String, "territory": pl.String}))
    moves = (owner_changes
             .select("id", pl.col("before").replace("", None).alias("from"), pl.col("after").alias("to"),
                     reason_of(pl.col("rule"), pl.col("before")).alias("reason"))
             .join(territory, on="id", how="left").sort("id").select(MOVE_SCHEMA.names()).cast(MOVE_SCHEMA))
    gained = moves.filter(pl.col("to").is_not_null()).select(
        pl.col("to").alias("owner"), pl.lit("gained").alias("change"), "id", pl.col("from").alias("other_owner"),
        "reason", "territory")
    lost = moves.filter(pl.col("from").is_not_null()).select(
        pl.col("from").alias("owner"), pl.lit("lost").alias("change"), "id", pl.col("to").alias("other_owner"),
        "reason", "territory")
    rows = pl.concat([gained, lost]).cast(DIGEST_SCHEMA).sort(["owner", "change", "id"])
    return Digests(moves, _with_related_counts(project, rows, related))


def _with_related_counts(project: Project, rows: pl.DataFrame, related: pl.DataFrame | None) -> pl.DataFrame:
    """`rows` with, per account, how many of each kind of related record moved with it (`owner_change` only)."""
    kinds = wanted_kinds(project)
    if not kinds:
        return rows
    deals = "open_opportunities" if project.config.model.crm.kind == "salesforce" else "open_deals"
    columns = [deals if kind == "open_deals" else kind for kind in kinds]
    moved = related if related is not None else pl.DataFrame(schema={"object": pl.String, "id": pl.String,
                                                                      "account": pl.String})
    counts = (moved.select(pl.col("account").alias("id"),
                           pl.col("object").replace_strict(RELATED_COLUMNS, default=None).alias("kind"))
              .filter(pl.col("kind").is_in(columns))
              .group_by("id").agg(*[(pl.col("kind") == c).sum().cast(pl.Int64).alias(c) for c in columns]))
    return rows.join(counts, on="id", how="left", maintain_order="left").with_columns(
        pl.col(c).fill_null(0) for c in columns)


def run_changes(ledger: Ledger, run_id: int) -> pl.DataFrame:
    """The changes a run wrote (failed and skipped writes did not move anything)."""
    return ledger.writes(run_id, WRITTEN, ("id", "field", "before", "after", "rule"))


def run_related(ledger: Ledger, run_id: int) -> pl.DataFrame:
    """The related records a run moved with their account (object, id, account); a rollback's name none."""
    return (ledger.related_writes(run_id, WRITTEN).filter(pl.col("rule").str.starts_with(FOLLOWS))
            .select("object", "id", pl.col("rule").str.strip_prefix(FOLLOWS).alias("account")))


def write_digests(found: Digests, folder: Path, title: str) -> list[Path]:
    """Write `<owner>.md` and `<owner>.csv` per owner and `summary.md`/`summary.csv`; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for owner in found.owners:
        rows = found.of(owner)
        markdown, table = folder / f"{_file_name(owner)}.md", folder / f"{_file_name(owner)}.csv"
        rows.drop("owner").write_csv(table)
        markdown.write_text(owner_markdown(owner, rows, title), encoding="utf-8")
        written += [markdown, table]
    summary = found.summary()
    summary.write_csv(folder / "summary.csv")
    lines = [f"# Hand-off: {title}", "", "| owner | gained | lost |", "|---|---:|---:|"]
    lines += [f"| {o} | {g} | {lo} |" for o, g, lo in summary.iter_rows()]
    (folder / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [*written, folder / "summary.md", folder / "summary.csv"]


def owner_markdown(owner: str, rows: pl.DataFrame, title: str) -> str:
    """One owner's digest as Markdown, ready to send."""
    lines = [f"# Your book changes: {owner}", "", f"_{title}_"]
    for change, heading, other in (("gained", "Accounts you gain", "from"), ("lost", "Accounts you hand off", "to")):
        part = rows.filter(pl.col("change") == change)
        if part.is_empty():
            continue
        lines += ["", f"## {heading} ({part.height})", "", f"| account | {other} | reason | territory |",
                  "|---|---|---|---|"]
        lines += [f"| {r['id']} | {r['other_owner'] or '(nobody)'} | {r['reason']} | {r['territory'] or ''} |"
                  for r in part.iter_rows(named=True)]
        lines += _related_lines(part)
    return "\n".join(lines) + "\n"


def _related_lines(part: pl.DataFrame) -> list[str]:
    """One line per account that related records moved with: `- 001...: 2 contact(s), 1 open deal(s) move with it`."""
    columns = [c for c in _RELATED_LABELS if c in part.columns]
    lines: list[str] = []
    for row in part.iter_rows(named=True):
        counted = [f"{row[c]} {_RELATED_LABELS[c]}" for c in columns if row[c]]
        if counted:
            lines.append(f"- {row['id']}: {', '.join(counted)} move with it")
    return ["", *lines] if lines else []


def _file_name(owner: str) -> str:
    """A file name for an owner id; ids are CRM ids, but a queue or email could hold `/` or `@`."""
    return _UNSAFE.sub("_", owner) or "_"
