"""The README's example recipes are valid definitions (a doc that drifts fails here)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from actors.recipe_model import parse_recipe

README = Path(__file__).resolve().parents[2] / "README.md"


def examples() -> list[dict[str, object]]:
    text = README.read_text()
    section = text[text.index("## Automation recipes") :]
    section = section[: section.index("\n## ", 1)]
    bodies = re.findall(r"-d '(\{.*?\})'", section, flags=re.DOTALL)
    return [json.loads(body) for body in bodies]


def test_the_readme_example_recipes_parse() -> None:
    first, second = (parse_recipe(body) for body in examples())
    assert (first.trigger.type, first.trigger.minutes) == ("no_attendee_reply", 30)
    assert [a.type for a in first.actions] == ["reply", "resolve"]
    assert first.kind == "update"
    assert second.kind == "new_item"
    assert [a.type for a in second.actions] == ["add_tags", "assign", "webhook"]
