"""Settings an admin edits and every process reads: base URL, sender, organisation, the
reader-facing facts, embed origins, the welcome mail and the two-factor rule."""
