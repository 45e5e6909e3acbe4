"""English for the reader pages added beyond the core catalogue (Norwegian is the key)."""

EN: dict[str, str] = {}
