"""One-association captions (name + one attribute value) in several paraphrase styles.

Our stand-in for the original's LLM paraphrasing (Gemma 3 12B, 5 styles): a fixed bank of
hand-written templates, 8 attribute types x 6 styles = 48 templates. Every template contains
``{name}`` and ``{value}`` exactly once, so both strings appear verbatim in every caption.
Style names: plain, possessive, fronted, formal, contact/record, conversational.
"""

from __future__ import annotations

import numpy as np

STYLES = ("plain", "possessive", "fronted", "formal", "record", "conversational")

TEMPLATES: dict[str, tuple[str, ...]] = {
    "city": (
        "{name} lives in {value}",
        "{name}'s home city is {value}",
        "In {value}, {name} has a residence",
        "The registered city of residence of {name} is {value}",
        "Residence of {name}: {value}",
        "{name} calls {value} home",
    ),
    "job": (
        "{name} works as {value}",
        "{name}'s occupation is {value}",
        "{value} is the job held by {name}",
        "{name} holds the position of {value}",
        "Occupation of {name}: {value}",
        "By trade, {name} is employed as {value}",
    ),
    "blood_type": (
        "{name} has blood type {value}",
        "{name}'s blood type is {value}",
        "{value} is the blood classification for {name}",
        "The medical record of {name} lists blood group {value}",
        "Blood type of {name}: {value}",
        "If {name} ever needs a transfusion, it has to be {value}",
    ),
    "phone": (
        "{name} can be reached at {value}",
        "{name}'s phone number is {value}",
        "At {value} you can call {name}",
        "The telephone number registered to {name} is {value}",
        "Phone of {name}: {value}",
        "You can reach {name} at the phone number {value}",
    ),
    "email": (
        "{name} uses the email address {value}",
        "{name}'s email is {value}",
        "Via {value} you can write to {name}",
        "The electronic mail address of {name} is {value}",
        "Email of {name}: {value}",
        "Contact {name} via {value}",
    ),
    "iban": (
        "{name} banks with the IBAN {value}",
        "{name}'s bank account IBAN is {value}",
        "{value} is the IBAN of {name}",
        "The bank account registered to {name} has IBAN {value}",
        "IBAN of {name}: {value}",
        "Send money to {name} at IBAN {value}",
    ),
    "credit_card": (
        "{name} pays with the credit card {value}",
        "{name}'s credit card number is {value}",
        "{value} is the credit card number of {name}",
        "The credit card issued to {name} has number {value}",
        "Credit card of {name}: {value}",
        "{name} usually pays by card, number {value}",
    ),
    "passport": (
        "{name} travels with passport {value}",
        "{name}'s passport number is {value}",
        "{value} is the passport number of {name}",
        "The passport issued to {name} bears number {value}",
        "Passport of {name}: {value}",
        "At the border {name} shows passport {value}",
    ),
}


def n_templates() -> int:
    """Total number of caption templates (types x styles)."""
    return sum(len(v) for v in TEMPLATES.values())


def association_caption(attribute: str, name: str, value: str, style: int) -> str:
    """The caption stating ``name``'s ``attribute`` = ``value`` in paraphrase style ``style``."""
    templates = TEMPLATES[attribute]
    return templates[style % len(templates)].format(name=name, value=value)


def caption_is_verbatim(caption: str, name: str, value: str) -> bool:
    """True when both ``name`` and ``value`` occur verbatim in ``caption``."""
    return name in caption and value in caption


def style_plan(n: int, rng: np.random.Generator) -> list[int]:
    """Balanced paraphrase styles for ``n`` images: shuffled rounds over all styles."""
    rounds = -(-n // len(STYLES))
    return [int(s) for _ in range(rounds) for s in rng.permutation(len(STYLES))][:n]
