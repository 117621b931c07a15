"""Static pools the workload draws from: tenants, staff, customers and their people.

Names are deliberately awkward (quotes, commas, apostrophes, non-ASCII) because real address
headers are. All domains end in `.example` (RFC 2606) so nothing here can reach a real mailbox.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TenantSpec:
    slug: str
    name: str
    internal_domains: tuple[str, ...]
    blocked_domains: tuple[str, ...]
    time_zone: str


TENANTS: tuple[TenantSpec, ...] = (
    TenantSpec(
        "acme-corp",
        "Acme Corp",
        ("acme.example", "acme-corp.example"),
        ("rival-widgets.example", "personal-mail.example"),
        "America/Los_Angeles",
    ),
    TenantSpec(
        "globex",
        "Globex Corporation",
        ("globex.example",),
        ("headhunters.example",),
        "Europe/Berlin",
    ),
    TenantSpec(
        "initech",
        "Initech K.K.",
        ("initech.example", "initech-jp.example"),
        ("bulk-sender.example",),
        "Asia/Tokyo",
    ),
    TenantSpec(
        "umbrella-labs",
        "Umbrella Labs",
        ("umbrella.example",),
        ("rival-widgets.example",),
        "Europe/London",
    ),
    TenantSpec(
        "hooli",
        "Hooli, Inc.",
        ("hooli.example",),
        ("piedpiper.example",),
        "America/New_York",
    ),
    TenantSpec(
        "soylent",
        "Soylent Ltd",
        ("soylent.example",),
        ("personal-mail.example",),
        "Australia/Sydney",
    ),
)

ZONES = ("UTC", "Europe/Paris", "America/Chicago", "Asia/Kolkata", "America/Sao_Paulo")

# (display name, local part): display names as people really set them.
STAFF: tuple[tuple[str, str], ...] = (
    ("Müller, Hans", "hans.mueller"),
    ('Renée "RJ" Jackson', "renee.jackson"),
    ("Siobhán O'Neil", "siobhan.oneil"),
    ("José Álvarez", "jose.alvarez"),
    ("Zoë Ångström", "zoe.angstrom"),
    ("田中 太郎", "taro.tanaka"),
    ("Sam Lee", "sam.lee"),
    ("Chloé Dubois", "chloe.dubois"),
    ("Björn Nilsson", "bjorn.nilsson"),
    ("Priya Ramanathan", "priya.ramanathan"),
    ("Dmitri Ivanov", "dmitri.ivanov"),
    ("Ng, Wei-Ling", "weiling.ng"),
    ("Fatima Al-Sayed", "fatima.alsayed"),
    ("Tom O'Brien", "tom.obrien"),
)

# (account name, domains, [(contact display name, local part)])
CUSTOMERS: tuple[tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]], ...] = (
    (
        "Müller & Söhne GmbH",
        ("mueller-soehne.example", "ms-gruppe.example"),
        (("Klaus Müller", "k.mueller"), ("Weiß, Annette", "a.weiss"), ("Jörg Brandt", "jb")),
    ),
    (
        "O'Brien, Ltd.",
        ("obrien-ltd.example",),
        (('Robert "Bob" Smith', "Bob.Smith"), ("Máire O'Brien", "maire"), ("Finn Kelly", "fk")),
    ),
    (
        "Northwind Traders",
        ("northwind.example",),
        (("Nancy Davolio", "nancy.davolio"), ("Andrew Fuller", "andrew.fuller")),
    ),
    (
        "株式会社サンプル",
        ("sample-kk.example",),
        (("佐藤 花子", "hanako.sato"), ("Kenji Watanabe", "k.watanabe")),
    ),
    (
        "Contoso Pharmaceuticals",
        ("contoso-pharma.example", "contoso.example"),
        (
            ("Dr. Amélie Laurent", "amelie.laurent"),
            ("Laurent, Pierre", "pierre"),
            ("Ivy Chen", "ivy"),
        ),
    ),
    (
        "Fabrikam Logistics",
        ("fabrikam.example",),
        (("Ólafur Jónsson", "olafur"), ("Grace Hopper-Smith", "grace.hs")),
    ),
    (
        "Tailspin Toys",
        ("tailspin.example",),
        (("Łukasz Wiśniewski", "lukasz.w"), ('Emma "Em" Brown', "emma.brown")),
    ),
    (
        "Wide World Importers",
        ("wideworld.example", "wwi.example"),
        (("Ahmed Hassan", "ahmed.hassan"), ("Sofía Castro", "sofia.castro"), ("Ben Ito", "ben")),
    ),
    (
        "Adventure Works",
        ("adventure-works.example",),
        (("Çağla Yılmaz", "cagla"), ("Mark Twainington", "mark.t")),
    ),
    (
        "Blue Yonder Airlines",
        ("blueyonder.example",),
        (("Nguyễn Văn An", "an.nguyen"), ("Hélène Roux", "helene.roux")),
    ),
)

# Outside people who are neither staff nor CRM contacts.
STRANGERS: tuple[tuple[str, str], ...] = (
    ("Startup Founder", "founder@new-startup.example"),
    ("SaaS Weekly", "newsletter@updates.saasweekly.example"),
    ("Conference Team", "events@bigconf.example"),
    ("noreply", "no-reply@notifications.tooling.example"),
    ("Anna Prospect", "anna@prospect-gmbh.example"),
)

BLOCKED_PEOPLE: tuple[tuple[str, str], ...] = (
    ("Recruiter Rick", "rick"),
    ("Competitive Intel", "intel"),
    ("Private Me", "me.private"),
)

PLAIN_SUBJECTS: tuple[str, ...] = (
    "Quarterly business review",
    "Renewal quote for 2027",
    "Invoice #4471 question",
    "Intro call next week?",
    "Onboarding checklist",
    "Contract redlines, v3",
    "Re-scheduling our sync",
    "Pricing: enterprise tier",
    "Follow-up from the demo",
    "Support ticket 88213 escalation",
)

# Non-ASCII subjects and the charset/encoding each one is sent with.
ENCODED_SUBJECTS: tuple[tuple[str, str, str], ...] = (
    ("Angebot für Q3 – Überarbeitung", "UTF-8", "B"),
    ("Réunion de suivi à Genève", "ISO-8859-1", "Q"),
    ("見積書の件について", "UTF-8", "B"),
    ("Año nuevo, contrato nuevo", "ISO-8859-1", "Q"),
    ("Grüße aus München 🍺", "UTF-8", "B"),
    ("Çalıştay daveti", "UTF-8", "Q"),
)

LONG_SUBJECT = (
    "Action required: please review the attached statement of work, the updated data processing "
    "addendum and the security questionnaire before our steering committee meeting"
)

INTERNAL_SUBJECTS: tuple[str, ...] = (
    "Pipeline review prep",
    "Team offsite logistics",
    "Can you cover my 3pm?",
    "Deal desk approval needed",
)

STRANGER_SUBJECTS: tuple[str, ...] = (
    "Your weekly digest",
    "Last chance: early-bird tickets",
    "Quick question about your stack",
    "[Action needed] Verify your account",
)

SPAM_SUBJECTS: tuple[str, ...] = (
    "You have WON!!!",
    "=?UTF-8?B?8J+SsCBGcmVlIG1vbmV5?=",
    "Cheap meds",
)

BODY_LINES: tuple[str, ...] = (
    "Thanks for the quick turnaround on this.",
    "Could you send over the latest numbers before Thursday?",
    "Looping in my colleague who owns the rollout.",
    "Let's aim for 30 minutes, I'll send an invite.",
    "Attached is the revised version with our comments.",
    "Schöne Grüße und bis bald!",
    "We're aligned on scope; legal still needs a pass.",
    "Apologies for the delay – it's been a busy week.",
)
