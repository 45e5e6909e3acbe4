"""This package's ``.po`` files compiled in memory to MO bytes for the standard library's
``GNUTranslations``: what Babel's ``read_po`` and ``write_mo(use_fuzzy=False)`` make of
them (tests/i18n/test_po.py holds the two to the same catalogue), without Babel.

Babel's reader loads its catalog module and, with it, babel.dates, babel.core and their
locale machinery: ~1.7 MB in every worker child that renders a mail (bench/README.md,
"Worker memory"). The format read here is what ``make i18n`` writes: ``#,`` flags,
``msgctxt``, ``msgid``, ``msgid_plural``, ``msgstr`` and ``msgstr[N]``, each string
continued on ``"…"`` lines; comments and obsolete ``#~`` entries are skipped.
"""

from __future__ import annotations

import array
import re
import struct
from dataclasses import dataclass, field

# Babel's own unescaping: only these escapes; any other backslash stays as written.
_ESCAPE = re.compile(r"\\([\\trn\"])")
_UNESCAPE = {"\\": "\\", "t": "\t", "r": "\r", "n": "\n", '"': '"'}
_KEYWORD = re.compile(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(\".*\")\s*$")
_MO_MAGIC = 0x950412DE


def _unquote(quoted: str) -> str:
    return _ESCAPE.sub(lambda m: _UNESCAPE[m.group(1)], quoted[1:-1])


@dataclass
class _Entry:
    fuzzy: bool = False
    context: str | None = None
    msgid: str | None = None
    plural: str | None = None
    strings: dict[int, str] = field(default_factory=dict)

    def key_and_value(self) -> tuple[str, str] | None:
        """The MO key and value, or None where write_mo(use_fuzzy=False) leaves it out."""
        if self.msgid is None:
            return None
        if self.plural is None:
            key, value = self.msgid, self.strings.get(0, "")
            # The header (msgid "") always goes in; an empty or fuzzy translation does not.
            if key and (not value or self.fuzzy):
                return None
        else:
            if self.fuzzy:
                return None
            ids = (self.msgid, self.plural)
            # An empty plural form falls back to the source's singular or plural.
            forms = [s or ids[min(i, 1)] for i, s in sorted(self.strings.items())]
            key, value = "\x00".join(ids), "\x00".join(forms)
        if self.context is not None:
            key = f"{self.context}\x04{key}"
        return key, value


def _entries(text: str) -> list[_Entry]:
    entries: list[_Entry] = []
    entry = _Entry()
    target: tuple[str, int] | None = None  # the field a continuation line extends

    def finish() -> None:
        nonlocal entry, target
        if entry.msgid is not None:
            entries.append(entry)
        entry, target = _Entry(), None

    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            if entry.strings:
                finish()
            if line.startswith("#,") and "fuzzy" in (f.strip() for f in line[2:].split(",")):
                entry.fuzzy = True
            continue
        if line.startswith('"'):
            if target is not None:
                name, index = target
                value = _unquote(line)
                if name == "msgstr":
                    entry.strings[index] += value
                else:
                    setattr(entry, name, getattr(entry, name) + value)
            continue
        found = _KEYWORD.match(line)
        if found is None:
            raise ValueError(f"not a .po line: {line!r}")
        keyword, form, quoted = found.groups()
        if keyword in ("msgctxt", "msgid") and entry.strings:
            finish()
        value = _unquote(quoted)
        if keyword.startswith("msgstr"):
            entry.strings[int(form or 0)] = value
            target = ("msgstr", int(form or 0))
        else:
            name = {"msgctxt": "context", "msgid": "msgid", "msgid_plural": "plural"}[keyword]
            setattr(entry, name, value)
            target = (name, 0)
    finish()
    return entries


def compile_po(text: str) -> bytes:
    """The MO file (little-endian, no hash table) of the ``.po`` text, as write_mo writes it."""
    pairs: dict[str, str] = {}
    for entry in _entries(text):
        compiled = entry.key_and_value()
        if compiled is not None:
            pairs[compiled[0]] = compiled[1]
    keys = sorted(pairs)
    ids = b"".join(k.encode() + b"\x00" for k in keys)
    strs = b"".join(pairs[k].encode() + b"\x00" for k in keys)
    key_start = 7 * 4 + 16 * len(keys)
    value_start = key_start + len(ids)
    key_index: list[int] = []
    value_index: list[int] = []
    id_at = str_at = 0
    for k in keys:
        key_bytes, value_bytes = len(k.encode()), len(pairs[k].encode())
        key_index += [key_bytes, key_start + id_at]
        value_index += [value_bytes, value_start + str_at]
        id_at += key_bytes + 1
        str_at += value_bytes + 1
    header = struct.pack("Iiiiiii", _MO_MAGIC, 0, len(keys), 7 * 4, 7 * 4 + len(keys) * 8, 0, 0)
    return header + array.array("i", key_index + value_index).tobytes() + ids + strs
