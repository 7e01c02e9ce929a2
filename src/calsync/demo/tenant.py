"""The demo tenant: a university with students and staff, a mail-enabled security group that scopes the
app (an application access policy), an app registration that signs in with a certificate, and a few
people the policy leaves out or who have no mailbox, so the demo shows how calsync reports them."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calsync.certs import CertificateFiles, create_certificate
from graphemu import World, world_from_seed

TENANT = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
CLIENT = "9a3b5c7d-1e2f-4a6b-8c9d-0e1f2a3b4c5d"
DOMAIN = "uni.example"
GROUP = "Timetable sync"
FIRST = [
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Elif",
    "Femi",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Kira",
    "Luca",
    "Mina",
    "Noah",
    "Olga",
    "Pau",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Umar",
    "Vera",
    "Wen",
    "Xavi",
    "Yara",
    "Zeno",
]
LAST = [
    "Adler",
    "Berg",
    "Costa",
    "Dahl",
    "Eze",
    "Fox",
    "Gray",
    "Holm",
    "Ito",
    "Jung",
    "Kaur",
    "Lund",
    "Moreau",
    "Nagy",
    "Ortiz",
    "Park",
    "Quist",
    "Rossi",
    "Sato",
    "Tran",
    "Ueda",
    "Vogel",
    "Weber",
    "Yilmaz",
    "Zorn",
]


@dataclass
class DemoTenant:
    world: World
    certificate: CertificateFiles
    students: list[str]
    staff: list[str]
    group_id: str
    left_out: list[str]  # in the group but unreachable: no mailbox; and one outside the policy scope


def build(directory: Path, *, students: int = 200, staff: int = 12, seed: int = 1) -> DemoTenant:
    """Create the certificate in `directory` and a world holding the tenant."""
    rng = random.Random(seed)  # noqa: S311 - demo data
    cert = create_certificate(directory, name="demo-app", common_name="calsync demo", overwrite=True)
    names: set[str] = set()
    people: list[dict[str, Any]] = []

    def person(role: str) -> str:
        while True:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            upn = f"{first}.{last}".lower() + f"@{DOMAIN}"
            if upn not in names:
                names.add(upn)
                people.append(
                    {
                        "userPrincipalName": upn,
                        "displayName": f"{first} {last}",
                        "jobTitle": role,
                        "givenName": first,
                        "surname": last,
                        "timeZone": "W. Europe Standard Time",
                    }
                )
                return upn

    student_upns = [person("Student") for _ in range(students)]
    staff_upns = [person("Lecturer") for _ in range(staff)]
    no_mailbox = person("Student")  # an unlicensed account: in the group, but without a mailbox
    people[-1]["hasMailbox"] = False
    half = len(student_upns) // 2
    seed_doc = {
        "tenants": [{"id": TENANT, "domain": DOMAIN, "displayName": "Example University"}],
        "users": people,
        "groups": [
            {"displayName": "Students year 1", "members": student_upns[:half]},
            {"displayName": "Students year 2", "members": student_upns[half:]},
            {"displayName": "Teaching staff", "members": staff_upns},
            {
                "displayName": GROUP,
                "mail": f"timetable-sync@{DOMAIN}",
                "members": ["Students year 1", "Students year 2", "Teaching staff", no_mailbox],
            },
        ],
        "apps": [
            {
                "clientId": CLIENT,
                "displayName": "calsync (demo)",
                "certificates": [{"pem": cert.certificate.read_text()}],
                "applicationPermissions": ["Calendars.ReadWrite", "GroupMember.Read.All", "User.Read.All"],
            }
        ],
        "accessPolicies": [{"clientId": CLIENT, "group": f"timetable-sync@{DOMAIN}"}],
    }
    world = world_from_seed(seed_doc)
    group_id = next(g.id for g in world.groups.values() if g.display_name == GROUP)
    return DemoTenant(world, cert, student_upns, staff_upns, group_id, [no_mailbox])
