"""`revrules init`: a starter config, rulebook, tests and a tiny CSV that run as they are."""

from __future__ import annotations

from pathlib import Path

from revrules.errors import InvalidInputError

CONFIG = """\
version: 1
crm:
  kind: csv
  path: accounts.csv
  id_column: Id
  output: out/accounts.csv
  lists_dir: out/lists
fields:
  name: Name
  employees: {source: NumberOfEmployees, type: number}
  industry: Industry
  country: {source: BillingCountry, type: string}
rules:
  - rules/
outputs:
  segment: Segment__c
  territory: Territory__c
  owner: OwnerId
overrides:
  segment: Segment_Override__c
provenance: Segmentation_Reason__c
safety:
  max_changed_records: 100%   # lower to 10-20% once the fields are populated
state_dir: .revrules
"""

RULEBOOK = """\
version: 1
decisions:
  segment:
    description: Company-size segment
    hit: first
    rules:
      - {id: enterprise, when: "employees >= 2000", then: Enterprise}
      - {id: mid-market, when: "employees >= 200", then: Mid-Market}
      - {id: smb, when: "employees >= 1", then: SMB}
    default: Unclassified
territories:
  output: territory
  owner_output: owner
  tree:
    - id: NA
      when: "country in ['US', 'USA', 'United States', 'CA', 'Canada']"
      children:
        - id: NA-ENT
          when: "segment == 'Enterprise'"
          owners: [{id: "0055e000001AAAA", weight: 2}, {id: "0055e000001BBBB"}]
        - id: NA-COMM
          when: "true"
          owners: [{id: "0055e000001CCCC"}]
    - id: ROW
      when: "true"
      owners: [{id: "0055e000001DDDD"}]
lists:
  - id: enterprise-abm
    name: Enterprise ABM
    when: "segment == 'Enterprise'"
"""

TESTS = """\
tests:
  - name: 2,000 employees is Enterprise
    account: {employees: 2000, country: US}
    expect: {segment: Enterprise, territory: NA-ENT, lists: [enterprise-abm]}
  - name: 1,999 employees is Mid-Market
    account: {employees: "1,999", country: Norway}
    expect: {segment: Mid-Market, territory: ROW}
  - name: no employee count is Unclassified
    account: {country: NO}
    expect: {segment: Unclassified, territory: ROW}
"""

ACCOUNTS = """\
Id,Name,NumberOfEmployees,Industry,BillingCountry,OwnerId,Segment_Override__c
0015e000001A001,Acme Corp,12000,Manufacturing,US,0055e000001AAAA,
0015e000001A002,Globex,350,Technology,United States,,
0015e000001A003,Initech,"1,200",Technology,USA,0055e000001CCCC,
0015e000001A004,Umbrella,45,Healthcare,Canada,,
0015e000001A005,Hooli,2500,Technology,US,,Strategic
0015e000001A006,Vandelay Industries,8,Other,NO,,
0015e000001A007,Soylent,unknown,Food & Beverage,France,,
0015e000001A008,Wonka,150,Food & Beverage,United Kingdom,0055e000001DDDD,
"""

FILES = {
    "revrules.yaml": CONFIG,
    "rules/segments.yaml": RULEBOOK,
    "rules/tests/segments.yaml": TESTS,
    "accounts.csv": ACCOUNTS,
}


def write_starter(folder: Path) -> list[Path]:
    """Write the starter files into `folder`; refuses to overwrite anything."""
    existing = [folder / name for name in FILES if (folder / name).exists()]
    if existing:
        raise InvalidInputError("init would overwrite " + ", ".join(str(p) for p in existing))
    written = []
    for name, text in FILES.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
