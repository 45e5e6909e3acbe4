"""English for the editor admin (Norwegian is the key)."""

EN: dict[str, str] = {}
